"""How faithful a generator trained on the world is, read by the exact scorer: KID against the drawn faces
(with the real-vs-real baseline), the attribute marginals and planted correlations of its samples against
the drawn set's, and how confidently the scorer labels its samples (``python -m gradctrl.world quality``).

Both sides are read by the same scorer (the shipped one unless another is named), so a difference is the
generator's, not the scorer's: on the drawn faces the scorer's labels equal the exact factors (accuracy 1.0,
docs/world.md). Generated faces are not drawn faces, though, so the pose, the factor of the control
correlation, is also read from pixels (:func:`pixel_check`).
"""
import json
import re
from pathlib import Path

import numpy as np
from tqdm import tqdm

import stylegan2
from stylegan2.atomic import atomic_dir, write_bytes
from stylegan2.images import write_png
from stylegan2.metrics import keras_features, kid

from .. import world
from ..errors import UserError
from ..options import check_truncation

BINARY = ("eyeglasses", "hair_length")  # the attributes the scorer reads as a logit


def generated_images(generator, n, seed, truncation_psi=1.0):
    """``n`` samples of ``generator`` (a stylegan2 Generator) for z ~ N(0, I) from ``RandomState(seed)``,
    truncated towards w_avg by ``truncation_psi``, stored noise -> uint8 (n, R, R, C)."""
    # heavy (TensorFlow): imported on use, so commands start and refuse bad input without it
    from stylegan2.training import render

    z = np.random.RandomState(seed).randn(n, generator.z_dim).astype(np.float32)
    return render(generator, z, truncation_psi=truncation_psi)


def scored_factors(scores):
    """The scorer's reading of faces as a factor table for :func:`world.measured_correlations`: scores (dict
    output -> (N,) or (N, 4), :func:`world.predict_scores`) -> dict: eyeglasses, hair_length uint8 (logit >
    0), hair_colour uint8 (argmax), smile, age, pose float32 (regressed)."""
    factors = {name: world.score_labels(name, scores[name]).astype(np.uint8) for name in BINARY + ("hair_colour",)}
    factors.update({name: np.asarray(scores[name], np.float32) for name in ("smile", "age", "pose")})
    return factors


def marginals(factors):
    """Attribute shares of a factor table -> dict name -> fraction in [0, 1]: eyeglasses, long hair,
    smiling (smile > 0), old (age > 0.5), facing right (pose > 0) and each hair colour."""
    labels = world.label_table(factors)
    shares = {"eyeglasses": labels["eyeglasses"].mean(), "long hair": labels["hair_length"].mean(),
              "smiling": labels["smile"].mean(), "old": labels["age"].mean(),
              "facing right": float(np.mean(factors["pose"] > 0))}
    shares.update({f"hair {colour}": np.mean(labels["hair_colour"] == k) for k, colour in enumerate(world.HAIR_COLOURS)})
    return {name: float(value) for name, value in shares.items()}


def binary_events(factors):
    """Every attribute of a factor table as a yes/no event -> dict name -> bool (N,): the shares of
    :func:`marginals` (each hair colour its own event)."""
    labels = world.label_table(factors)
    events = {"eyeglasses": labels["eyeglasses"] == 1, "long hair": labels["hair_length"] == 1,
              "smiling": labels["smile"] == 1, "old": labels["age"] == 1, "facing right": factors["pose"] > 0}
    events.update({f"hair {colour}": labels["hair_colour"] == k for k, colour in enumerate(world.HAIR_COLOURS)})
    return events


# The pairs of events the world ties together (the planted pairs, either order); every other pair it leaves
# independent.
PLANTED_EVENT_PAIRS = (("old", "eyeglasses"), ("long hair", "smiling"))


def pair_links(factors):
    """How strongly each pair of events goes together -> dict "B | A" -> P(B | A) - P(B | not A) (a
    difference of fractions in [-1, 1]; 0 for independent events; nan where A or not A is empty), for every
    pair of :func:`binary_events` except two hair colours (exclusive by construction), A before B in
    :func:`binary_events`' order."""
    events = binary_events(factors)
    names = list(events)
    links = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if a.startswith("hair ") and b.startswith("hair "):
                continue
            given, outcome = events[a], events[b]
            if given.all() or not given.any():
                links[f"{b} | {a}"] = float("nan")
                continue
            links[f"{b} | {a}"] = float(outcome[given].mean() - outcome[~given].mean())
    return links


def confident_shares(scores):
    """Share of faces the scorer labels confidently -> dict: per binary attribute the share with
    p = sigmoid(logit) < 0.1 or > 0.9, and for hair colour the share with the top softmax probability > 0.9."""
    shares = {}
    for name in BINARY:
        p = 1 / (1 + np.exp(-np.asarray(scores[name], np.float64)))
        shares[name] = float(np.mean((p < 0.1) | (p > 0.9)))
    logits = np.asarray(scores["hair_colour"], np.float64)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    shares["hair_colour"] = float(np.mean((p / p.sum(axis=1, keepdims=True)).max(axis=1) > 0.9))
    return shares


def compare(generated_scores, drawn_scores):
    """Generated against drawn faces, both read by the scorer -> dict: ``marginals`` and ``correlations``
    (lists of rows with 'generated', 'drawn' and their absolute 'difference'), ``confident`` (rows of
    shares). The correlations are :data:`world.PLANTED` measured on the scorer's labels."""
    gen, drawn = scored_factors(generated_scores), scored_factors(drawn_scores)
    gen_m, drawn_m = marginals(gen), marginals(drawn)
    rows = [dict(name=name, generated=gen_m[name], drawn=drawn_m[name], difference=abs(gen_m[name] - drawn_m[name]))
            for name in gen_m]
    correlations = [dict(name=g["name"], specified=g["value"], generated=g["measured"], drawn=d["measured"],
                         difference=abs(g["measured"] - d["measured"]), n_generated=g["n_given"])
                    for g, d in zip(world.measured_correlations(gen), world.measured_correlations(drawn))]
    gen_p, drawn_p = pair_links(gen), pair_links(drawn)
    planted = {frozenset(pair) for pair in PLANTED_EVENT_PAIRS}
    pairs = [dict(name=name, planted=frozenset(name.split(" | ")) in planted, generated=gen_p[name], drawn=drawn_p[name],
                  difference=abs(gen_p[name] - drawn_p[name])) for name in gen_p]
    gen_c, drawn_c = confident_shares(generated_scores), confident_shares(drawn_scores)
    confident = [dict(name=name, generated=gen_c[name], drawn=drawn_c[name]) for name in gen_c]
    gaps = [row["difference"] for row in rows + correlations + pairs if np.isfinite(row["difference"])]
    return dict(marginals=rows, correlations=correlations, pairs=pairs, confident=confident,
                mean_gap=float(np.mean(gaps)), largest_gap=max(rows + correlations + pairs, key=lambda row: (
                    np.nan_to_num(row["difference"], nan=-1.0)))["name"])


def pixel_check(generated_images, generated_scores, drawn_images, drawn_scores):
    """The pose, and the eyeglasses/pose control, read from pixels instead of the scorer
    (:func:`world.mouth_pose`), on generated and drawn faces -> list of rows with 'generated' and 'drawn':
    the Pearson r of the scorer's pose with the pixels' pose, and P(glasses | facing right) - P(glasses |
    facing left) with the pose from pixels and glasses from the scorer. If the control differs from the
    drawn set's in both readings, the generator made the correlation, not the scorer's reading of it."""
    def readings(images, scores):
        pose, found = world.mouth_pose(images)
        glasses = world.score_labels("eyeglasses", scores["eyeglasses"]) == 1
        right = pose > 0

        def share(given):
            return float(glasses[found & given].mean()) if np.any(found & given) else float("nan")
        together = found.sum() >= 2 and np.std(pose[found]) > 0
        r = float(np.corrcoef(scores["pose"][found], pose[found])[0, 1]) if together else float("nan")
        return {"pose: scorer vs pixels (Pearson r)": r,
                "eyeglasses vs pose (control), pose from pixels": share(right) - share(~right),
                "faces whose mouth was found": float(found.mean())}
    gen, drawn = readings(generated_images, generated_scores), readings(drawn_images, drawn_scores)
    return [dict(name=name, generated=gen[name], drawn=drawn[name]) for name in gen]


def markdown(report):
    """The report of :func:`measure` as markdown tables (str)."""
    r = report
    lines = [f"Generator `{r['network']}`: {r['n']} samples (seed {r['seed']}, truncation psi {r['truncation_psi']}, "
             f"stored noise) against {r['n']} drawn faces of `{r['data']}`, both read by the exact scorer.", "",
             f"KID in the scorer's features: **{r['kid']:.2f}**; real-vs-real baseline "
             f"{r['kid_real_baseline']:.2f} (the features are not normalised: compare values of one scorer only).", "",
             "| share | generated | drawn | difference |", "| --- | --- | --- | --- |"]
    lines += [f"| {m['name']} | {m['generated']:.3f} | {m['drawn']:.3f} | {m['difference']:.3f} |" for m in r["marginals"]]
    lines += ["", "| planted correlation | specified | generated | drawn | difference |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {c['name']} | {c['specified']:.2f} | {c['generated']:.3f} | {c['drawn']:.3f} | {c['difference']:.3f} |"
              for c in r["correlations"]]
    lines += ["", "| pair: P(B \\| A) - P(B \\| not A) | planted | generated | drawn | difference |",
              "| --- | --- | --- | --- | --- |"]
    lines += [f"| {c['name'].replace('|', chr(92) + '|')} | {'yes' if c['planted'] else ''} | {c['generated']:.3f} | "
              f"{c['drawn']:.3f} | {c['difference']:.3f} |" for c in r["pairs"]]
    lines += ["", f"Mean absolute gap over every share, planted correlation and pair: **{r['mean_gap']:.3f}** "
              f"(largest: {r['largest_gap']})."]
    lines += ["", "| confidently labelled (p < 0.1 or > 0.9) | generated | drawn |", "| --- | --- | --- |"]
    lines += [f"| {c['name']} | {c['generated']:.3f} | {c['drawn']:.3f} |" for c in r["confident"]]
    lines += ["", "| read from pixels (the mouth's position), not the scorer | generated | drawn |", "| --- | --- | --- |"]
    lines += [f"| {c['name']} | {c['generated']:.3f} | {c['drawn']:.3f} |" for c in r["pixel_check"]]
    return "\n".join(lines) + "\n"


def measure(network, data, out, n=5000, seed=0, truncation_psi=1.0, scorer=None, columns=8, scale=4):
    """Measure a generator of the world and write ``out`` (a new folder): quality.json (the numbers, with
    :func:`compare`'s tables and :func:`pixel_check`'s), quality.md (tables) and grids.png (``columns`` x ``columns`` samples beside as many drawn faces).

    network: a generator pickle; data: a folder written by ``world draw`` (its first ``n`` faces are the
    reference; KID's baseline compares them with the next ``n``, so it must hold 2 ``n``); scorer: a .keras file (default the shipped
    exact scorer). -> the report dict."""
    # heavy (TensorFlow): imported on use, so commands start and refuse bad input without it
    import tensorflow as tf

    if n < 2:
        raise UserError(f"--n_samples must be at least 2, got {n}")
    check_truncation(truncation_psi, "--truncation")
    scorer = Path(scorer or world.SCORER_PATH)
    features = keras_features(scorer, flag="--scorer")  # read before any work
    generator = stylegan2.load_generator(network)
    world.read_world(data, 0)  # the folder's checks
    available = len(np.load(Path(data) / "images.npy", mmap_mode="r"))
    if available < 2 * n:
        raise UserError(f"--data '{data}' holds {available} faces and --n_samples {n} needs {2 * n} "
                        "(n to compare, n for the baseline): lower --n_samples or draw more faces")
    images, _ = world.read_world(data, 2 * n)
    fakes = generated_images(generator, n, seed, truncation_psi)
    model = tf.keras.models.load_model(scorer, compile=False)
    report = dict(network=str(network), data=str(data), n=n, seed=seed, truncation_psi=truncation_psi,
                  scorer=str(scorer), kid=kid(features(images[:n]), features(fakes)),
                  kid_real_baseline=kid(features(images[:n]), features(images[n:])))
    fake_scores, drawn_scores = world.predict_scores(model, fakes), world.predict_scores(model, images[:n])
    report.update(compare(fake_scores, drawn_scores))
    report["pixel_check"] = pixel_check(fakes, fake_scores, images[:n], drawn_scores)
    shown = min(columns * columns, n)
    left, right = world.tile(fakes[:shown], columns, scale), world.tile(images[:shown], columns, scale)
    grids = np.concatenate([left, np.full((len(left), 4 * scale, 3), 255, np.uint8), right], axis=1)
    with atomic_dir(out) as tmp:
        (tmp / "quality.json").write_text(json.dumps(report, indent=2) + "\n")
        (tmp / "quality.md").write_text(markdown(report))
        write_png(tmp / "grids.png", grids)
    return report


SNAPSHOT_PATTERN = re.compile(r"network-snapshot-(\d+)\.pkl$")


def snapshot_rows(run, measured):
    """One row per snapshot of a training run: run (a ``python -m stylegan2 train`` folder), measured (dict kimg
    -> :func:`measure`'s report) -> rows sorted by kimg with kimg, the trainer's KID from log.jsonl (nan where
    not logged), the mean and largest gap and the eyeglasses share gap, and ``chosen`` True on the row with the
    smallest mean gap (the snapshot rule of docs/world.md; ties: the earlier snapshot)."""
    log = {}
    log_path = Path(run) / "log.jsonl"
    if log_path.exists():
        for line in log_path.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            log[int(round(record["kimg"]))] = record.get("kid", float("nan"))
    rows = []
    for kimg in sorted(measured):
        report = measured[kimg]
        shares = {row["name"]: row for row in report["marginals"]}
        rows.append(dict(kimg=kimg, kid_log=log.get(kimg, float("nan")), mean_gap=report["mean_gap"],
                         largest_gap=report["largest_gap"], eyeglasses=shares["eyeglasses"]["generated"],
                         chosen=False))
    if rows:
        min(rows, key=lambda row: (row["mean_gap"], row["kimg"]))["chosen"] = True
    return rows


def rank_snapshots(run, data, out, n=500, seed=1, kimg_offset=0, progress=True):
    """Measure every snapshot of a training run not yet measured in ``out`` (``out/<kimg>/`` per snapshot,
    :func:`measure` with ``n`` samples of ``seed``), then write ``out/snapshots.md`` (a table, the chosen
    snapshot marked) and ``out/snapshots.json``. kimg_offset: kimg of training before this run (a run
    started with ``--init``), added to each snapshot's kimg in the table. Resumable: an interrupted call
    leaves whole snapshot folders only. -> :func:`snapshot_rows`' rows."""
    snapshots = {}
    for path in Path(run).glob("network-snapshot-*.pkl"):
        match = SNAPSHOT_PATTERN.search(path.name)
        if match:
            snapshots[int(match.group(1))] = path
    if not snapshots:
        raise UserError(f"--run '{run}' holds no network-snapshot-*.pkl: give a training run folder")
    out = Path(out)
    measured = {}
    for kimg in tqdm(sorted(snapshots), desc="snapshots", unit="snapshot", disable=not progress):
        folder = out / f"{kimg + kimg_offset:06d}"
        if not (folder / "quality.json").exists():
            measure(snapshots[kimg], data, folder, n, seed)
        measured[kimg + kimg_offset] = json.loads((folder / "quality.json").read_text())
    rows = snapshot_rows(run, {k - kimg_offset: v for k, v in measured.items()})
    for row in rows:
        row["kimg"] += kimg_offset
    lines = [f"Snapshots of `{run}` (kimg counted with {kimg_offset} kimg before the run), each measured on {n} "
             f"samples of seed {seed} at psi 1; chosen: the smallest mean gap (docs/world.md).", "",
             "| kimg | KID (trainer's log) | mean gap | largest gap | eyeglasses share | chosen |",
             "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['kimg']} | {r['kid_log']:.1f} | {r['mean_gap']:.3f} | {r['largest_gap'].replace('|', chr(92) + '|')}"
              f" | {r['eyeglasses']:.3f} | {'**yes**' if r['chosen'] else ''} |" for r in rows]
    write_bytes(out / "snapshots.md", ("\n".join(lines) + "\n").encode())
    write_bytes(out / "snapshots.json", (json.dumps(rows, indent=1) + "\n").encode())
    return rows
