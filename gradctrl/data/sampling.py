"""The data stage: sample w, render, score, then select and split into a data directory.

Samples 0 .. N-1 are cut into parts of ``part_size`` consecutive samples. A run computes the parts of its
shard (part k belongs to shard k mod shard_count) and writes each as ``part_NNNNNN.npz`` (w and scores)
into a parts directory, under a temporary name renamed into place, so a part file is always whole and a
rerun skips every part already there. :func:`merge_parts` joins all parts, selects, splits and returns the
the data directory (:func:`gradctrl.data.datadir.build_data_dir`). Sample i's z depends only on (seed, i), its w is mapped in aligned
chunks of :data:`MAPPING_CHUNK` samples and its image is rendered in batches that start at its part's
first sample, so the data never depend on the shard count, on interruptions, or (for w) on batch size.

Only one batch of images is in memory at a time; w and scores of one part are kept until written.
Writing happens on a background thread, overlapped with rendering.

``run.json`` in the parts directory records the sampling settings; a rerun or another shard with other
settings is refused rather than mixed in.
"""
import dataclasses
import io
import json
import os
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from stylegan2.atomic import WriteError, stale_temporaries, temporary_sibling, write_bytes
from stylegan2.images import write_png

from ..errors import UserError
from ..files import BackgroundWriter, json_bytes
from ..render import render_originals
from . import latents as latents_module
from .datadir import DATA_FORMAT, build_data_dir
from .selection import per_class_count, select

MAPPING_CHUNK = 256
RUN_FILE = "run.json"
PARTS_FORMAT = "gradctrl-parts/1"
# The settings a parts directory is bound to: a rerun or shard must repeat them exactly.
SAMPLING_KEYS = ("generator_sha256", "n_samples", "seed", "truncation", "scorers", "part_size")


@dataclasses.dataclass(frozen=True)
class SamplingPlan:
    """What determines the sampled data (plus the part layout).

    ``scorers``: {attribute: :func:`gradctrl.data.scorers.scorer_record` of its spec (the spec, with the
    content hash of the model file it reads)}, in attribute order; ``classes``: {attribute: K expected from the
    config (1 = binary)} for the attributes the config describes; ``p_perclass`` / ``p_val``: the selection
    the parts directory was started with (merge defaults).
    """

    generator_sha256: str
    n_samples: int
    seed: int
    truncation: float
    scorers: dict
    part_size: int
    p_perclass: float
    p_val: float
    classes: dict = dataclasses.field(default_factory=dict)

    @property
    def n_parts(self):
        """Number of parts: ceil(n_samples / part_size)."""
        return -(-self.n_samples // self.part_size)

    def part_range(self, k):
        """(first sample, one past the last) of part k."""
        return k * self.part_size, min((k + 1) * self.part_size, self.n_samples)

    def part_length(self, k):
        """Number of samples in part k."""
        start, stop = self.part_range(k)
        return stop - start

    def run_record(self):
        """The JSON object stored as ``run.json``."""
        record = {"format": PARTS_FORMAT}
        record.update({key: getattr(self, key) for key in SAMPLING_KEYS})
        record.update(p_perclass=self.p_perclass, p_val=self.p_val)
        return record


def parse_shard(text):
    """``"K/N"`` -> (K, N): this process's shard index K in 0..N-1 and the shard count N."""
    head, slash, tail = str(text).partition("/")
    try:
        k, n = int(head), int(tail)
    except ValueError:
        k = n = None
    if not slash or k is None or n < 1:
        raise UserError(f"--shard {text!r} is malformed: expected K/N, this process's shard index K in 0..N-1 "
                        "and the shard count N (e.g. --shard 0/4)")
    if not 0 <= k < n:
        raise UserError(f"--shard {text}: K must be in 0..{n - 1} (shards are numbered from 0)")
    return k, n


def part_name(k):
    """File name of part k."""
    return f"part_{k:06d}.npz"


def check_selection_possible(n_samples, p_perclass, p_val, attribute):
    """Refuse, before any rendering, a p_perclass or p_val out of range or leaving attributes without samples."""
    if not 0 < p_perclass <= 0.5:
        raise UserError(f"--p_perclass {p_perclass} is outside (0, 0.5]: it is the fraction of the samples "
                        "taken for each class")
    if not 0 <= p_val < 1:
        raise UserError(f"--p_val {p_val} is outside [0, 1): it is the fraction of each selection kept "
                        "for validation")
    if per_class_count(p_perclass, n_samples) == 0:
        select(np.zeros(n_samples, np.float32), p_perclass, attribute)  # raises the one-line error


def _read_run_record(parts_dir):
    """The parsed ``run.json`` of a parts directory, or None when it has none."""
    path = Path(parts_dir) / RUN_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise UserError(f"parts directory '{parts_dir}': {RUN_FILE} is not valid JSON ({e}): delete the "
                        "directory and run again") from None
    if not isinstance(record, dict) or record.get("format") != PARTS_FORMAT or not all(k in record for k in SAMPLING_KEYS):
        raise UserError(f"parts directory '{parts_dir}': {RUN_FILE} is not a gradctrl parts record: delete "
                        "the directory or choose another --parts_dir")
    return record


def check_parts_dir(parts_dir, plan):
    """Refuse a parts directory started with other sampling settings (naming the first that differs)."""
    record = _read_run_record(parts_dir)
    if record is None:
        return
    for key in SAMPLING_KEYS:
        mine = plan.run_record()[key]
        if key == "scorers" and isinstance(record[key], dict) and list(record[key]) == list(mine):
            changed = [a for a in mine if record[key][a] != mine[a]]
            if changed:
                raise UserError(f"parts directory '{parts_dir}' was started with the scorer {record[key][changed[0]]!r} "
                                f"for '{changed[0]}', not {mine[changed[0]]!r} (a changed model file counts as "
                                "another scorer): restore it, or delete the parts directory / choose another "
                                "--parts_dir")
        if record[key] != mine:
            raise UserError(f"parts directory '{parts_dir}' was started with {key} = {record[key]!r}, not "
                            f"{mine!r}: repeat the original settings, or delete it / choose another --parts_dir")


def _part_bytes(start, w, scores):
    """The .npz bytes of one part: start index, w (n, w_dim) and each attribute's scores."""
    buffer = io.BytesIO()
    np.savez(buffer, start=np.int64(start), w=w, **{f"score_{attr}": s for attr, s in scores.items()})
    return buffer.getvalue()


def mapped_latents(G, plan, start, stop):
    """w of samples [start, stop) -> (stop - start, w_dim) float32, mapped in aligned chunks of MAPPING_CHUNK.

    Each chunk [c, c + MAPPING_CHUNK) with c a multiple of MAPPING_CHUNK is mapped whole, so sample i's w
    is bit-identical however the samples are split into parts, shards or batches.
    """
    w = np.empty((stop - start, G.w_dim), np.float32)
    first = start // MAPPING_CHUNK * MAPPING_CHUNK
    for chunk in range(first, stop, MAPPING_CHUNK):
        chunk_w = latents_module.sample_w(G, plan.seed, np.arange(chunk, chunk + MAPPING_CHUNK), plan.truncation,
                                          latents_module.STREAM_DATA, batch_size=MAPPING_CHUNK)
        lo, hi = max(chunk, start), min(chunk + MAPPING_CHUNK, stop)
        w[lo - start:hi - start] = chunk_w[lo - chunk:hi - chunk]
    return w


@dataclasses.dataclass
class RunReport:
    """What a run did: parts of this shard found finished (skipped) and parts computed."""

    skipped: list
    computed: list


def run_parts(G, plan, scorers, parts_dir, batch_size, shard=(0, 1), save_images=False, progress=True, log=None):
    """Compute this shard's unfinished parts into ``parts_dir`` -> :class:`RunReport`.

    ``scorers``: {attribute: Scorer} in the plan's order; ``batch_size``: images rendered and scored at
    once; ``shard``: (K, N); ``save_images``: also write ``parts_dir/images/<index>.png``; ``log``: a
    callable receiving one-line progress notes.
    """
    log = log or (lambda message: None)
    parts_dir = Path(parts_dir)
    check_parts_dir(parts_dir, plan)
    index, count = shard
    mine = [k for k in range(plan.n_parts) if k % count == index]
    skipped = [k for k in mine if (parts_dir / part_name(k)).is_file()]
    todo = sorted(set(mine) - set(skipped))
    log(f"shard {index}/{count}: {len(mine)} of {plan.n_parts} parts, {len(skipped)} already finished "
        f"(skipped), {len(todo)} to compute")
    total = sum(plan.part_length(k) for k in mine)
    done = sum(plan.part_length(k) for k in skipped)
    columns = {}
    with BackgroundWriter(max_pending=4) as writer, \
            tqdm(total=total, initial=done, unit="sample", desc="prepare_data", dynamic_ncols=True,
                 disable=not progress, file=sys.stderr, smoothing=0.1) as bar:
        for k in todo:
            for stale in stale_temporaries(parts_dir / part_name(k)):  # left by a killed run of this shard
                stale.unlink(missing_ok=True)
            start, stop = plan.part_range(k)
            w = mapped_latents(G, plan, start, stop)
            scores = {attr: [] for attr in scorers}
            for lo in range(start, stop, batch_size):
                hi = min(lo + batch_size, stop)
                images = render_originals(G, w[lo - start:hi - start], batch_size=hi - lo)
                for attr, scorer in scorers.items():
                    batch_scores = scorer(images)
                    _check_columns(plan, attr, scorer.spec, batch_scores, columns, lo, hi)
                    scores[attr].append(batch_scores)
                if save_images:
                    writer.submit(_ensure_dir_and_save, parts_dir, plan, lo, images)
                bar.update(hi - lo)
            part = {attr: np.concatenate(s) for attr, s in scores.items()}
            writer.submit(_write_part, parts_dir, plan, k, start, w, part)
    return RunReport(skipped=skipped, computed=todo)


def _check_columns(plan, attr, spec, scores, columns, lo, hi):
    """Every batch of an attribute must give the same number of classes, and the config's if it has one."""
    k = 1 if scores.ndim == 1 else scores.shape[1]
    expected = plan.classes.get(attr)
    if expected is not None and k != expected:
        raise UserError(f"scorer '{spec}' of attribute '{attr}' returned {k} score column(s) but the config "
                        f"says classes = {expected}: fix [attributes.{attr}] or the scorer")
    if columns.setdefault(attr, k) != k:
        raise UserError(f"scorer '{spec}' of attribute '{attr}' returned {k} column(s) for samples {lo}..{hi - 1} "
                        f"but {columns[attr]} before: a scorer must return the same shape for every batch")


def _start_parts_dir(parts_dir, plan):
    """Create the parts directory and its run.json on first use (nothing exists before a part is ready).

    run.json is created only if absent (a hard link of a complete temporary file), and checked against
    ``plan`` before every part is written, so a run started at the same moment with other settings is refused
    instead of mixing its parts with this run's.
    """
    path = parts_dir / RUN_FILE
    made = not parts_dir.exists()
    try:
        parts_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WriteError(parts_dir, e) from None
    if path.is_file():
        check_parts_dir(parts_dir, plan)
        return
    tmp = temporary_sibling(path)
    try:
        tmp.write_bytes(json_bytes(plan.run_record()))
        os.link(tmp, path)
    except FileExistsError:
        check_parts_dir(parts_dir, plan)
    except OSError as e:  # a full disk: leave no parts directory that holds nothing
        tmp.unlink(missing_ok=True)
        if made:
            parts_dir.rmdir()
        raise WriteError(path, e) from None
    finally:
        tmp.unlink(missing_ok=True)


def _ensure_dir_and_save(parts_dir, plan, start, images):
    """Background job: write one batch of PNGs into ``parts_dir/images``."""
    _start_parts_dir(parts_dir, plan)
    (parts_dir / "images").mkdir(exist_ok=True)
    for offset, image in enumerate(images):
        write_png(parts_dir / "images" / f"{start + offset:08d}.png", image)


def _write_part(parts_dir, plan, k, start, w, scores):
    """Background job: write part k atomically."""
    _start_parts_dir(parts_dir, plan)
    write_bytes(parts_dir / part_name(k), _part_bytes(start, w, scores), fsync=True)


def merge_parts(parts_dir, p_perclass=None, p_val=None):
    """Join every part of ``parts_dir``, select and split -> :class:`DataDir` (not yet written).

    ``p_perclass`` / ``p_val`` default to those recorded when the parts directory was started. Missing
    parts, or parts that disagree in shape, are a UserError.
    """
    parts_dir = Path(parts_dir)
    record = _read_run_record(parts_dir) if parts_dir.is_dir() else None
    if record is None:
        raise UserError(f"parts directory '{parts_dir}' holds no run: run prepare_data.py (every --shard) first")
    n_samples, part_size = record["n_samples"], record["part_size"]
    n_parts = -(-n_samples // part_size)
    missing = [k for k in range(n_parts) if not (parts_dir / part_name(k)).is_file()]
    if missing:
        shards = ", ".join(part_name(k) for k in missing[:3]) + (", ..." if len(missing) > 3 else "")
        raise UserError(f"parts directory '{parts_dir}' lacks {len(missing)} of {n_parts} parts ({shards}): "
                        "run the unfinished shards first")
    latents, scores = None, {}
    for k in range(n_parts):
        start, stop = k * part_size, min((k + 1) * part_size, n_samples)
        w, part_scores = _read_part(parts_dir / part_name(k), start, stop, record["scorers"])
        if latents is None:
            latents = np.empty((n_samples, w.shape[1]), np.float32)
            scores = {attr: np.empty((n_samples,) + s.shape[1:], np.float32) for attr, s in part_scores.items()}
        for attr, s in part_scores.items():
            if s.shape[1:] != scores[attr].shape[1:] or w.shape[1] != latents.shape[1]:
                raise UserError(f"part file '{parts_dir / part_name(k)}' has other shapes than part 0 "
                                f"(scores of '{attr}' {s.shape[1:]} vs {scores[attr].shape[1:]}): a scorer changed "
                                "between shards; delete the parts directory and run again")
            scores[attr][start:stop] = s
        latents[start:stop] = w
    manifest = {"format": DATA_FORMAT, "source": "sampled", "generator_sha256": record["generator_sha256"],
                "seed": record["seed"], "truncation": record["truncation"], "scorers": record["scorers"]}
    return build_data_dir(latents, scores, manifest, record["seed"],
                          record["p_perclass"] if p_perclass is None else p_perclass,
                          record["p_val"] if p_val is None else p_val)


def _read_part(path, start, stop, scorers):
    """(w (n, w_dim) float32, {attr: scores}) of one part file, checked against its sample range."""
    n = stop - start
    try:
        with np.load(path, allow_pickle=False) as part:
            arrays = {key: part[key] for key in part.files}
    except (ValueError, OSError, EOFError) as e:
        raise UserError(f"part file '{path}' is unreadable ({e}): delete it and rerun its shard") from None
    w = arrays.get("w")
    problem = None
    if arrays.get("start") is None or int(arrays["start"]) != start:
        problem = f"it does not start at sample {start}"
    elif w is None or w.dtype != np.float32 or w.ndim != 2 or w.shape[0] != n:
        problem = f"its latents are not ({n}, w_dim) float32"
    else:
        for attr in scorers:
            s = arrays.get(f"score_{attr}")
            if s is None or s.dtype != np.float32 or s.ndim not in (1, 2) or s.shape[0] != n:
                problem = f"it lacks {n} float32 scores of '{attr}'"
                break
    if problem:
        raise UserError(f"part file '{path}' does not belong to this run ({problem}): delete it and rerun its shard")
    return w, {attr: arrays[f"score_{attr}"] for attr in scorers}
