"""The exclusion tuner (gradctrl.evaluate.tuning, tune.py) on cases with known answers: a toy generator whose
attributes live in known W+ layers and channels, the picking rule's ties, and the command end to end on the
tiny generator, which must never render a test latent."""
import hashlib
import json

import numpy as np
import pytest

from gradctrl.classifier.model import LatentClassifier
from gradctrl.edit.methods import EditContext, edit_cases, method_case
from gradctrl.errors import UserError
from gradctrl.evaluate import tuning

W_DIM, NUM_WS = 16, 4


def unit(channels):
    u = np.zeros(W_DIM)
    u[list(channels)] = 1.0
    return u / np.linalg.norm(u)


# Toy generator: each attribute's exact score is sum over W+ layers l of weight[l] * (w_l . u).
TOY = {"a": ([0, 1, 1, 0], unit(range(0, 4))),       # target a: layers 1-2, channels 0-3
       "b": ([0, 0, 1, 1], unit([0, 1])),            # a's planted partner: layers 2-3, channels 0-1
       "c": ([0.2, 1, 0, 0], unit(range(4, 8))),     # target c: mostly layer 1, channels 4-7
       "d": ([1, 1, 0, 0], unit([4, 5]))}            # c's planted partner: layers 0-1, channels 4-5
PLANTED = {"a": ["b"], "b": ["a"], "c": ["d"], "d": ["c"]}


def toy_classifier():
    """Linear latent branches whose logits are w . u of each attribute (what the classifier sees of w)."""
    clf = LatentClassifier(W_DIM, list(TOY), {name: 1 for name in TOY}, hidden_size=None, seed=0)
    for name, (_, u) in TOY.items():
        clf.branch_layers[name][0].kernel.assign(u.astype(np.float32).reshape(W_DIM, 1))
        clf.branch_layers[name][0].bias.assign(np.zeros(1, np.float32))
    return clf


def toy_measure(seen):
    """The tuner's ``measure`` on the toy generator; records every latent it is given in ``seen``."""
    from gradctrl.render import wplus

    def measure(w, jobs):
        seen.append(np.array(w))
        # Unedited: w in every layer, (N, num_ws, w_dim) @ u -> (N, num_ws), @ weights -> (N,).
        originals = {name: np.repeat(w[:, None], NUM_WS, axis=1).astype(np.float64) @ u @ np.array(weights, float)
                     for name, (weights, u) in TOY.items()}
        measured = []
        for case, _, traj in jobs:
            ws = wplus(w, traj, NUM_WS, case.layers).astype(np.float64)            # (N, S, num_ws, w_dim)
            scores = {}
            for name, (weights, u) in TOY.items():
                steps = np.einsum("nslw,w,l->ns", ws, u, np.array(weights, float))
                scores[name] = np.concatenate([originals[name][:, None], steps], axis=1)
            measured.append(scores)
        return originals, measured
    return measure


def test_search_space_counts():
    assert len(tuning.layer_ranges(8)) == 36 and tuning.layer_ranges(2) == [(0, 1), (0, 2), (1, 2)]
    assert tuning.layer_ranges(8, coarse=True) == [(lo, hi) for lo in (0, 2, 4, 6, 8) for hi in (0, 2, 4, 6, 8)
                                                   if lo < hi]
    assert tuning.layer_ranges(3, coarse=True) == [(0, 2), (0, 3), (2, 3)]        # num_ws is always an end
    assert tuning.exclusion_grid(["x", "y"], (0, 8)) == [{"x": 0, "y": 0}, {"x": 0, "y": 8}, {"x": 8, "y": 0},
                                                         {"x": 8, "y": 8}]
    assert tuning.exclusion_grid([], (0, 8)) == [{}]


def test_picking_rule_ties_go_to_fewer_layers_then_smaller_k_then_lower_first_layer():
    def row(lo, hi, k, partner, reached=True):
        return {"lo": lo, "hi": hi, "k": k, "partner": partner, "reached": reached}
    rows = [row(0, 8, 0, 0.05), row(1, 3, 16, 0.05), row(2, 4, 8, 0.05 + 1e-12), row(0, 1, 0, 0.01, False)]
    assert tuning.pick(rows) == rows[2]                 # 2 layers (tie with rows[1]) and the smaller k
    rows.append(row(5, 7, 8, 0.05))
    assert tuning.pick(rows) == rows[2]                 # same layers and k: the lower first layer
    rows.append(row(0, 8, 64, 0.04))
    assert tuning.pick(rows) == rows[-1]                # a smaller partner change wins over everything
    assert tuning.pick([row(0, 1, 0, 0.0, False)]) is None


def test_tuner_picks_the_known_best_layer_range_and_k_on_a_toy_generator():
    """a lives in layers 1-2 and b in 2-3: editing layer 1 alone moves a and not b, with no masking (k 0).
    c and d share layers 0-1 and channels 4-5: no layer range separates them, masking d's top 2 channels
    does, and layer 1 alone (c's strong layer) is the fewest layers that still reaches 1 std (layer 0 alone,
    weight 0.2, does not)."""
    w_val = np.random.default_rng(0).standard_normal((24, W_DIM)).astype(np.float32)
    context = EditContext(toy_classifier())
    cases = [edit_cases(name, 1, exclude={PLANTED[name][0]: 2}, steps=5, step_size=0.9)[0] for name in ("a", "c")]
    seen = []
    result = tuning.tune(context, w_val, cases, ["gradctrl_exclude", "gradctrl"], toy_measure(seen), PLANTED.get,
                         tuning.layer_ranges(NUM_WS), (0, 2, 4), progress=False)
    a = result.chosen[("a", "positive", "gradctrl_exclude")]
    assert (a["lo"], a["hi"], a["exclude"]) == (1, 2, {"b": 0}) and a["partner"] == pytest.approx(0, abs=1e-9)
    c = result.chosen[("c", "positive", "gradctrl_exclude")]
    assert (c["lo"], c["hi"], c["exclude"]) == (1, 2, {"d": 2}) and c["partner"] == pytest.approx(0, abs=1e-6)
    # Layer 0 alone does not reach 1 std for c; without masking, c cannot avoid d: its best range moves d.
    assert not next(r for r in result.rows if (r["attribute"], r["lo"], r["hi"], r["k"]) == ("c", 0, 1, 2))["reached"]
    assert result.chosen[("c", "positive", "gradctrl")]["partner"] > 0.1
    assert {r["k"] for r in result.rows if r["method"] == "gradctrl_exclude"} == {0, 2, 4}
    assert len(result.rows) == 2 * (10 * 3 + 10)
    # The frontier: per edit, one curve per k of GradCtrl with exclusion and one for GradCtrl without.
    assert sorted((case.attribute, case.tag, m, k) for case, m, k, _, _ in result.frontier if case.attribute == "c"
                  and case.tag == "positive") == [("c", "positive", "gradctrl", 0)] + \
        [("c", "positive", "gradctrl_exclude", k) for k in (0, 2, 4)]
    assert all(np.array_equal(w, w_val) for w in seen)
    # The chosen settings as the config's tables, read back by evaluate.py's method_case.
    text = tuning.tuned_tables(result)
    assert "[attributes.c.tuned.positive]\ngradctrl_exclude = { layers = [1, 2], exclude = { d = 2 } }" in text
    assert tuning.plot_frontier(result, PLANTED.get)[:8] == b"\x89PNG\r\n\x1a\n"


CONFIG = """
[generator]
file = "GENERATOR"
truncation = 0.7

[claims]
planted_pairs = [["brightness", "warmth"]]

[attributes.brightness]
scorer = "builtin:brightness"
exclude = { warmth = 8 }
steps = 4
step_size = 3.0

[attributes.warmth]
scorer = "builtin:warmth"
steps = 4
step_size = 3.0
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_generator_path, tiny_generator):
    from gradctrl.classifier.model import save_classifier
    from gradctrl.data.datadir import build_data_dir, write_data_dir
    from gradctrl.data.latents import STREAM_DATA, sample_w

    root = tmp_path_factory.mktemp("tune")
    (root / "tiny.toml").write_text(CONFIG.replace("GENERATOR", str(tiny_generator_path)))
    G = tiny_generator
    w = sample_w(G, 0, np.arange(200), 0.7, STREAM_DATA)
    rng = np.random.default_rng(0)
    noise = 0.1 * rng.standard_normal((2, 200))
    write_data_dir(root / "data", build_data_dir(w, {"brightness": (w[:, 0] + noise[0]).astype(np.float32),
                                                      "warmth": (w[:, 1] + noise[1]).astype(np.float32)},
                                                 {"generator": "tiny"}, 0, 0.2, 0.3))
    save_classifier(LatentClassifier(G.w_dim, ["brightness", "warmth"], {"brightness": 1, "warmth": 1}, seed=1),
                    root / "model")
    return root


def test_tune_command_never_renders_a_test_latent_and_writes_a_config_evaluate_reads(setup, tiny_generator,
                                                                                     monkeypatch, capsys):
    """Every W+ row the tuner renders is a validation latent (STREAM_TUNE) or an edit of one: none is one of
    evaluate.py's test latents (STREAM_EVAL) for the same seed, and the written config loads with the tuned
    settings that evaluate.py's method_case applies."""
    from gradctrl import render
    from gradctrl.commands.tune import main
    from gradctrl.data.latents import STREAM_EVAL, STREAM_TUNE, sample_w
    from gradctrl.edit.methods import config_tuned
    from gradctrl.formats.config import load_config

    rendered = []
    for name in ("render_uint8", "render_originals"):
        original = getattr(render, name)

        def spy(G, ws, *rest, _original=original):
            rows = np.asarray(ws, np.float32)
            rendered.append(rows.reshape(-1, rows.shape[-1]))
            return _original(G, ws, *rest)
        monkeypatch.setattr(render, name, spy)
    out_config = setup / "tuned.toml"
    argv = ["--config", str(setup / "tiny.toml"), "--model_dir", str(setup / "model"), "--data_dir",
            str(setup / "data"), "--out_config", str(out_config), "--out_dir", str(setup / "report"), "--n_val", "4",
            "--methods", "gradctrl_exclude,gradctrl,interfacegan", "--batch_size", "4", "--no_progress"]
    main(argv)
    written = {path: path.read_bytes() for path in [out_config, *sorted((setup / "report").iterdir())]}
    G = tiny_generator
    rows = np.concatenate(rendered)
    test = sample_w(G, 0, np.arange(512), 0.7, STREAM_EVAL)
    validation = sample_w(G, 0, np.arange(4), 0.7, STREAM_TUNE)
    assert not ({r.tobytes() for r in rows} & {t.tobytes() for t in test})
    assert {v.tobytes() for v in validation} <= {r.tobytes() for r in rows}
    config = load_config(out_config)
    tuned = config_tuned(config)
    assert set(tuned) == {"brightness", "warmth"} and set(tuned["brightness"]) == {"positive", "negative"}
    setting = tuned["brightness"]["positive"]["gradctrl_exclude"]
    case = edit_cases("brightness", 1, exclude={"warmth": 8})[0]
    assert method_case(case, "gradctrl_exclude", tuned).layers == setting["layers"]
    assert method_case(case, "gradctrl_exclude", tuned).exclude == setting["exclude"]
    assert method_case(case, "ganspace", tuned) == case                                # not tuned: as it was
    report = json.loads((setup / "report" / "tuning.json").read_text())
    assert report["stream"] == STREAM_TUNE != STREAM_EVAL
    assert report["ranges"] == [list(r) for r in tuning.layer_ranges(G.num_ws, coarse=True)]
    assert (setup / "report" / "frontier.png").read_bytes()[:4] == b"\x89PNG"
    assert "Tuned by `tune.py" in out_config.read_text() and "wrote" in capsys.readouterr().out
    # The same seed writes the same files byte for byte.
    main(argv)
    assert {path: path.read_bytes() for path in written} == written
    # Tuning a tuned config is refused in one line.
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", str(out_config), "--model_dir", str(setup / "model"), "--data_dir", str(setup / "data"),
              "--out_config", str(setup / "again.toml"), "--out_dir", str(setup / "report2")])
    assert exit_info.value.code == 2 and "already has tuned settings" in capsys.readouterr().err


def test_a_tuned_table_with_a_bad_range_is_refused(tmp_path):
    from gradctrl.formats.config import load_config

    path = tmp_path / "bad.toml"
    path.write_text('[attributes.a]\n[attributes.b]\n[attributes.a.tuned.positive]\ngradctrl = { layers = [3, 1] }\n')
    with pytest.raises(UserError, match=r"attributes.a.tuned.positive.gradctrl.layers.*0 <= lo < hi"):
        load_config(path)


def test_tune_refuses_a_generator_other_than_the_trained_one_unless_allowed(setup, tiny_generator, tmp_path,
                                                                             capsys):
    """tune.py checks the generator file against the sha256 train.py recorded, like evaluate.py: a classifier
    trained on another generator is one line naming both and --allow_other_generator; with the flag, a warning."""
    from gradctrl.classifier.model import save_classifier
    from gradctrl.commands.tune import main

    recorded = hashlib.sha256(b"another generator").hexdigest()
    save_classifier(LatentClassifier(tiny_generator.w_dim, ["brightness", "warmth"], {"brightness": 1, "warmth": 1},
                                     seed=1), tmp_path / "model",
                    extra_json={"metrics.json": {"data_manifest": {"generator_sha256": recorded}}})
    argv = ["--config", str(setup / "tiny.toml"), "--model_dir", str(tmp_path / "model"), "--data_dir",
            str(setup / "data"), "--out_config", str(tmp_path / "tuned.toml"), "--out_dir", str(tmp_path / "report"),
            "--n_val", "2", "--methods", "gradctrl", "--attributes", "brightness", "--batch_size", "4",
            "--no_progress"]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1, err
    assert recorded[:12] in err and "--allow_other_generator" in err
    assert not (tmp_path / "tuned.toml").exists() and not (tmp_path / "report").exists()
    assert main(argv + ["--allow_other_generator"]) == 0
    assert capsys.readouterr().err.startswith("warning: ") and (tmp_path / "tuned.toml").exists()


def test_steps_to_reach_and_the_path_length_rule_by_hand():
    # crossing between steps 3 (0.9) and 4 (1.2): 4 steps needed; exactly 1.0 at step 2: 2 steps; never: None
    assert tuning.steps_to_reach(np.array([0.0, 0.3, 0.6, 0.9, 1.2])) == 4
    assert tuning.steps_to_reach(np.array([0.0, 0.6, 1.0, 0.8])) == 2
    assert tuning.steps_to_reach(np.array([0.0, 0.5, 0.99])) is None
    # counts per candidate 9: 1, 18: 2, 27: 3, 36: 3, 45: 4 -> 90 % of 4 is 3.6: only 45 qualifies
    assert tuning.choose_steps([5, 12, 20, 40, None]) == (45, {9: 1, 18: 2, 27: 3, 36: 3, 45: 4})
    # 9: 3, ..., 36: 4, 45: 4 -> 36; 9: 9 of 10 -> 9; nothing reached -> the shortest
    assert tuning.choose_steps([3, 4, 5, 30, None])[0] == 36
    assert tuning.choose_steps([1] * 9 + [44])[0] == 9
    assert tuning.choose_steps([None, None]) == (9, {9: 0, 18: 0, 27: 0, 36: 0, 45: 0})


def test_a_longer_path_begins_with_the_shorter_one(setup, tiny_generator):
    """What path_reach relies on: every method's first s steps of a 45-step path are its s-step path, so one
    long path answers every candidate length."""
    from gradctrl.classifier.model import load_classifier
    from gradctrl.data.latents import STREAM_TUNE, sample_w
    from gradctrl.edit.methods import edit_latents

    context = EditContext(load_classifier(setup / "model"), tiny_generator, setup / "data")
    w = sample_w(tiny_generator, 0, np.arange(3), 0.7, STREAM_TUNE)
    for method in ("gradctrl_exclude", "gradctrl", "interfacegan", "ganspace"):
        short, long = (edit_latents(method, context, w, edit_cases("brightness", 1, exclude={"warmth": 8}, steps=s,
                                                                     step_size=3.0, layers=(0, 6))[0]).traj
                       for s in (9, 45))
        assert long.shape[1] == 45 and np.allclose(long[:, :9], short, atol=1e-5), method


def test_tune_choose_steps_records_the_rule_and_searches_at_that_length(setup, tmp_path, capsys):
    from gradctrl.commands.tune import main

    main(["--config", str(setup / "tiny.toml"), "--model_dir", str(setup / "model"), "--data_dir",
          str(setup / "data"), "--out_config", str(tmp_path / "tuned.toml"), "--out_dir", str(tmp_path / "report"),
          "--n_val", "4", "--methods", "gradctrl_exclude,interfacegan", "--batch_size", "8", "--no_progress",
          "--choose_steps"])
    report = json.loads((tmp_path / "report" / "tuning.json").read_text())
    reach = [row["steps_to_reach"] for row in report["path_reach"]]
    assert len(reach) == 2 * 2 + 2            # interfacegan on 2 attributes x 2 directions, exclusion on brightness
    assert (report["steps"], {int(k): v for k, v in report["steps_reach"].items()}) == tuning.choose_steps(reach)
    assert f"run evaluate.py with --steps {report['steps']}" in (tmp_path / "tuned.toml").read_text()
    assert f"path length: {report['steps']} steps" in capsys.readouterr().out


def test_tune_only_steps_writes_the_choice_alone_and_refuses_an_out_config(setup, tmp_path, capsys):
    from gradctrl.commands.tune import main

    argv = ["--config", str(setup / "tiny.toml"), "--model_dir", str(setup / "model"), "--data_dir",
            str(setup / "data"), "--out_dir", str(tmp_path / "steps"), "--n_val", "4", "--methods", "interfacegan",
            "--attributes", "brightness", "--batch_size", "8", "--no_progress", "--only_steps"]
    with pytest.raises(SystemExit) as exit_info:
        main(argv + ["--out_config", str(tmp_path / "t.toml")])
    assert exit_info.value.code == 2 and "--out_config with --only_steps" in capsys.readouterr().err
    main(argv)
    assert sorted(p.name for p in (tmp_path / "steps").iterdir()) == ["tuning.json"]
    report = json.loads((tmp_path / "steps" / "tuning.json").read_text())
    assert len(report["path_reach"]) == 2 and report["steps"] in tuning.STEP_CANDIDATES
    assert report["steps"] == tuning.choose_steps([r["steps_to_reach"] for r in report["path_reach"]])[0]
    with pytest.raises(SystemExit) as exit_info:
        main(argv[:-1])                                           # neither --out_config nor --only_steps
    assert exit_info.value.code == 2 and "--out_config is required" in capsys.readouterr().err
