"""prepare_data.py end to end on the tiny generator: sharding, SIGKILL and resume, batch sizes, the
authors' flow, and one-line errors that leave nothing half-written."""
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from gradctrl.commands import prepare_data
from gradctrl.data.datadir import read_data_dir
from gradctrl.data.selection import select
from stylegan2.official_pickle import read_network

from conftest import shared_file
from d_paper_helpers import random_d_paper, reference_logits, write_classifier

ROOT = Path(__file__).resolve().parents[1]
SCORERS = ["light=builtin:brightness", "hue=builtin:color3"]


def tree_bytes(folder):
    """{relative path: bytes} of every file under ``folder``."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def run(args):
    """prepare_data.main in-process without a progress bar."""
    prepare_data.main([str(a) for a in args] + ["--no_progress"] if args[0] != "merge" else [str(a) for a in args])


def base_args(generator, out_dir, n_samples=90, batch_size=8, part_size=16, scorers=SCORERS):
    return ["--generator", generator, "--n_samples", n_samples, "--seed", 4, "--truncation", 0.7,
            "--p_perclass", 0.1, "--batch_size", batch_size, "--part_size", part_size,
            "--out_dir", out_dir, "--scorers", *scorers]


def test_one_shard_equals_three_shards_merged(tmp_path, tiny_generator_path):
    run(base_args(tiny_generator_path, tmp_path / "one"))
    for k in range(3):
        run(base_args(tiny_generator_path, tmp_path / "three") + ["--shard", f"{k}/3"])
        assert not (tmp_path / "three").exists()  # a shard only writes parts
    assert len(list((tmp_path / "three.parts").glob("part_*.npz"))) == 6
    run(["merge", "--out_dir", tmp_path / "three"])
    one, three = tree_bytes(tmp_path / "one"), tree_bytes(tmp_path / "three")
    assert sorted(one) == ["labels/hue.npy", "labels/light.npy", "latents.npy", "manifest.json",
                           "scores/hue.npy", "scores/light.npy", "splits.json"]
    assert one == three
    data = read_data_dir(tmp_path / "one")
    assert data.n_samples == 90 and data.num_classes("light") == 1 and data.num_classes("hue") == 3
    manifest = data.manifest
    assert manifest["n_samples"] == 90 and manifest["seed"] == 4 and manifest["truncation"] == 0.7
    assert manifest["scorers"] == {"light": "builtin:brightness", "hue": "builtin:color3"}
    assert not {"batch_size", "part_size", "shard", "time"} & set(manifest)


def test_data_matches_an_independent_rendering(tmp_path, tiny_generator, tiny_generator_path):
    """w = mapping(z ~ N(0, I) of (seed, i)) with truncation; the score is that of the saved image of w."""
    import stylegan2
    from PIL import Image

    from gradctrl.data.latents import STREAM_DATA, sample_z

    run(base_args(tiny_generator_path, tmp_path / "d", n_samples=24, part_size=10) + ["--save_images"])
    data = read_data_dir(tmp_path / "d")
    G = tiny_generator
    z = sample_z(4, np.arange(24), G.z_dim, STREAM_DATA)
    w = np.asarray(G.mapping(z, truncation_psi=0.7))[:, 0]
    np.testing.assert_allclose(data.latents, w, atol=1e-5)
    images = np.asarray(stylegan2.to_uint8(G.synthesis(np.repeat(data.latents[:, None], G.num_ws, 1))))
    saved = np.stack([np.asarray(Image.open(tmp_path / "d.parts" / "images" / f"{i:08d}.png")) for i in range(24)])
    assert np.abs(saved.astype(int) - images).max() <= 1
    luma = saved.astype(np.float64) @ [0.299, 0.587, 0.114]
    np.testing.assert_allclose(data.scores["light"], luma.mean(axis=(1, 2)) / 255, atol=1e-6)


def test_batch_size_changes_no_latent_and_scores_only_within_float_tolerance(tmp_path, tiny_generator_path):
    run(base_args(tiny_generator_path, tmp_path / "b4", n_samples=40, batch_size=4))
    run(base_args(tiny_generator_path, tmp_path / "b13", n_samples=40, batch_size=13, part_size=40))
    a, b = read_data_dir(tmp_path / "b4"), read_data_dir(tmp_path / "b13")
    assert a.latents.tobytes() == b.latents.tobytes()
    for attr in ("light", "hue"):
        np.testing.assert_allclose(a.scores[attr], b.scores[attr], atol=2e-3)
    # sample i depends only on (seed, i): the first 40 of 70 samples are the same 40 samples
    run(base_args(tiny_generator_path, tmp_path / "longer", n_samples=70))
    assert read_data_dir(tmp_path / "longer").latents[:40].tobytes() == a.latents.tobytes()


SLOW_SCORER = textwrap.dedent("""
    import time

    def slow_brightness(images):
        time.sleep(0.25)
        return images.mean(axis=(1, 2, 3)) / 255.0
""")


def test_sigkill_then_rerun_gives_the_uninterrupted_directory(tmp_path, tiny_generator_path, monkeypatch):
    helpers = tmp_path / "helpers"
    helpers.mkdir()
    (helpers / "slow_scorers.py").write_text(SLOW_SCORER)
    monkeypatch.syspath_prepend(str(helpers))
    scorers = ["light=python:slow_scorers:slow_brightness", "hue=builtin:color3"]
    n_parts = 8
    run(base_args(tiny_generator_path, tmp_path / "whole", n_samples=16 * n_parts, batch_size=16, scorers=scorers))

    args = [sys.executable, str(ROOT / "prepare_data.py")] + [str(a) for a in base_args(
        tiny_generator_path, tmp_path / "killed", n_samples=16 * n_parts, batch_size=16, scorers=scorers)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(helpers)]), TF_CPP_MIN_LOG_LEVEL="3")
    parts = tmp_path / "killed.parts"
    with open(tmp_path / "first.log", "wb") as log:
        process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while len(list(parts.glob("part_*.npz"))) < 2 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
    finished = sorted(p.name for p in parts.glob("part_*.npz"))
    assert 2 <= len(finished) < n_parts and not (tmp_path / "killed").exists()
    before = {name: (parts / name).stat() for name in finished}
    unfinished = next(f"part_{k:06d}.npz" for k in range(n_parts) if f"part_{k:06d}.npz" not in finished)
    (parts / f".{unfinished}.tmp-99999-deadbeef.npz").write_bytes(b"half a part")  # as a kill can leave

    rerun = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert (f"{len(finished)} already finished (skipped), {n_parts - len(finished)} to compute" in rerun.stderr)
    for name, stat in before.items():  # finished parts were not rewritten
        now = (parts / name).stat()
        assert (now.st_ino, now.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)
    redone = sorted(p.name for p in parts.glob("part_*.npz"))
    assert len(redone) == n_parts and all((parts / n).stat().st_mtime_ns > max(s.st_mtime_ns for s in before.values())
                                          for n in redone if n not in before)
    assert not [p for p in parts.iterdir() if p.name.startswith(".")]  # no temporary left behind
    assert tree_bytes(tmp_path / "killed") == tree_bytes(tmp_path / "whole")


def _write_pickle(path, value):
    """Save a value as the authors' scripts did (plain pickle.dump; we only ever read through an allow-list)."""
    with open(path, "wb") as f:
        pickle.dump(value, f)


def test_authors_data_dir_flow(tmp_path):
    rng = np.random.default_rng(0)
    authors = tmp_path / "authors"
    (authors / "logits").mkdir(parents=True)
    latents = rng.standard_normal((200, 6)).astype(np.float32)
    smile = rng.standard_normal((200, 1)).astype(np.float32)
    color = rng.standard_normal((200, 3))
    _write_pickle(authors / "latents.pkl", latents)
    _write_pickle(authors / "logits" / "logits_smile.pkl", [smile[:120], smile[120:]])  # batches, as a list
    np.save(authors / "logits" / "logits_color.npy", color)
    run(["--data_dir", authors, "--out_dir", tmp_path / "d", "--p_perclass", 0.1, "--seed", 2])
    data = read_data_dir(tmp_path / "d")
    assert data.attributes == ["color", "smile"]
    np.testing.assert_array_equal(data.latents, latents)
    np.testing.assert_array_equal(data.scores["smile"], smile[:, 0])
    np.testing.assert_allclose(data.scores["color"], color, rtol=1e-6)
    for attr in ("smile", "color"):
        indices, labels = select(data.scores[attr], 0.1)
        split = data.splits[attr]
        assert sorted(split["train"] + split["val"]) == indices.tolist()
        np.testing.assert_array_equal(data.labels[attr][indices], labels)
    assert data.manifest["source"] == "data_dir" and data.manifest["n_samples"] == 200


def _expect_error(capsys, args, message):
    """main(args) exits with code 2 and prints exactly one line 'prog: error: ...' containing ``message``."""
    with pytest.raises(SystemExit) as info:
        prepare_data.main([str(a) for a in args])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and message in err[-1] and err[-1].startswith("prepare_data.py")
    return err[-1]


BAD_SCORERS = textwrap.dedent("""
    import numpy as np

    def matrix(images):
        return np.zeros((len(images), 2, 2))

    def nan_last(images):
        out = images.mean(axis=(1, 2, 3)).astype(float)
        out[-1] = np.nan
        return out
""")


@pytest.mark.parametrize("scorer, message", [
    ("torch:model.pt", "error: unknown scorer 'torch:model.pt' for attribute 'light': use keras:PATH, "
                       "nvidia:PATH[,prob][,neg], world:ATTRIBUTE, python:module:function or "
                       "builtin:brightness|warmth|color3"),
    ("python:bad_scorers:matrix", "scorer 'python:bad_scorers:matrix' of attribute 'light' returned shape (8, 2, 2) "
                                  "for 8 images: it must return (8,) or (8, K)"),
    ("python:bad_scorers:nan_last", "scorer 'python:bad_scorers:nan_last' of attribute 'light' returned NaN or "
                                    "infinite scores for 1 of 8 images"),
])
def test_bad_scorers_exit_2_and_write_nothing(tmp_path, tiny_generator_path, capsys, monkeypatch, scorer, message):
    (tmp_path / "bad_scorers.py").write_text(BAD_SCORERS)
    monkeypatch.syspath_prepend(str(tmp_path))
    _expect_error(capsys, base_args(tiny_generator_path, tmp_path / "d", scorers=[f"light={scorer}"]), message)
    assert not (tmp_path / "d").exists() and not (tmp_path / "d.parts").exists()


def test_nvidia_classifier_scorers_end_to_end(tmp_path, tiny_generator_path):
    """smile: the d64 fixture classifier on the 16 px renders (resized up to 64 px, bilinear, antialiased);
    age: a random 8 px classifier, negated (each 2 x 2 block averaged). The data directory's scores are those of
    an independent float64 D_paper on the saved images mapped to [-1, 1]."""
    import tensorflow as tf
    from PIL import Image

    d64 = shared_file("fixtures/nvidia_classifiers/d64.pkl")
    variables, kwargs = random_d_paper(seed=7, resolution=8)
    young8 = write_classifier(tmp_path / "young8.pkl", variables, kwargs)
    scorers = [f"smile=nvidia:{d64}", f"age=nvidia:{young8},neg"]
    run(base_args(tiny_generator_path, tmp_path / "d", n_samples=12, batch_size=5, part_size=12, scorers=scorers)
        + ["--p_perclass", "0.2", "--save_images"])
    data = read_data_dir(tmp_path / "d")
    from gradctrl.generators import file_sha256  # the classifier files' content hashes are recorded too

    assert data.manifest["scorers"] == {"smile": f"nvidia:{d64} sha256:{file_sha256(d64)}",
                                        "age": f"nvidia:{young8},neg sha256:{file_sha256(young8)}"}
    saved = np.stack([np.asarray(Image.open(tmp_path / "d.parts" / "images" / f"{i:08d}.png")) for i in range(12)])
    x = saved.astype(np.float32) / 127.5 - 1
    age = -reference_logits(variables, kwargs, np.transpose(x, (0, 3, 1, 2)))
    state = read_network(d64, "d64", "", "classifier")
    resized = np.asarray(tf.image.resize(x, (64, 64), antialias=True))
    smile = reference_logits(state.variables, state.static_kwargs, np.transpose(resized, (0, 3, 1, 2)))
    for name, expected in (("smile", smile), ("age", age)):
        assert np.max(np.abs(data.scores[name] - expected) / np.maximum(1, np.abs(expected))) < 1e-4
        assert len(data.splits[name]["train"]) + len(data.splits[name]["val"]) == 4  # 20 % of 12 per class


@pytest.mark.parametrize("spec, message", [
    ("nvidia:{tmp}/celebahq-classifier-01-smiling.pkl", "scorer 'nvidia:{tmp}/celebahq-classifier-01-smiling.pkl': "
     "classifier pickle '{tmp}/celebahq-classifier-01-smiling.pkl' does not exist"),
    ("nvidia:{generator}", "classifier pickle '{generator}' holds a tuple of 3 items, not one NVIDIA network"),
    ("nvidia:{tmp}/d.pkl", "classifier pickle '{tmp}/d.pkl': its lod is 2, not 0"),
])
def test_bad_nvidia_scorers_exit_2_and_write_nothing(tmp_path, tiny_generator_path, capsys, spec, message):
    write_classifier(tmp_path / "d.pkl", *random_d_paper(seed=0, resolution=8, lod=2.0))
    names = dict(tmp=tmp_path, generator=tiny_generator_path)
    args = base_args(tiny_generator_path, tmp_path / "out", scorers=[f"smile={spec.format(**names)}"])
    _expect_error(capsys, args, message.format(**names))
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.parts").exists()


@pytest.mark.parametrize("extra, message", [
    (["--p_perclass", "0.005"], "--p_perclass 0.005 selects no samples for attribute 'light' "
                                "(floor(0.005 x 90) = 0): raise it to at least 0.0111111"),
    (["--shard", "3"], "--shard '3' is malformed: expected K/N"),
    (["--shard", "a/b"], "--shard 'a/b' is malformed"),
    (["--shard", "3/3"], "--shard 3/3: K must be in 0..2 (shards are numbered from 0)"),
    (["--n_samples", "0"], "--n_samples 0: must be at least 1"),
    (["--truncation", "1.5"], "--truncation 1.5: must be at most 1"),
])
def test_bad_flags_exit_2_and_write_nothing(tmp_path, tiny_generator_path, capsys, extra, message):
    _expect_error(capsys, base_args(tiny_generator_path, tmp_path / "d") + extra, message)
    assert sorted(tmp_path.iterdir()) == []


def test_rerun_with_other_settings_is_refused(tmp_path, tiny_generator_path, capsys):
    run(base_args(tiny_generator_path, tmp_path / "d", n_samples=32) + ["--shard", "0/2"])
    line = _expect_error(capsys, base_args(tiny_generator_path, tmp_path / "d", n_samples=32)
                         + ["--shard", "1/2", "--seed", "5"], "was started with seed = 4, not 5")
    assert "delete it / choose another --parts_dir" in line
    _expect_error(capsys, ["merge", "--out_dir", tmp_path / "d"], "lacks 1 of 2 parts (part_000001.npz)")
    assert not (tmp_path / "d").exists()


def _authors_dir(tmp_path, n_latents=50, n_logits=50, logits_name="logits_smile.pkl"):
    folder = tmp_path / "authors"
    (folder / "logits").mkdir(parents=True)
    _write_pickle(folder / "latents.pkl", np.zeros((n_latents, 4), np.float32))
    _write_pickle(folder / "logits" / logits_name, np.zeros((n_logits, 1), np.float32))
    return folder


@pytest.mark.parametrize("setup, message", [
    (lambda t: _authors_dir(t, n_logits=49), "logits/logits_smile.pkl has shape (49, 1) but latents.pkl holds 50 "
                                             "latents: expected (50, K), both from the same samples"),
    (lambda t: _authors_dir(t, logits_name="logits_age.pkl"), "missing logits/logits_smile.pkl (or "
                                                              "logits/logits_smile.npy) for attribute 'smile'"),
    (lambda t: (_authors_dir(t), (t / "authors" / "latents.pkl").unlink()),
     "missing latents.pkl (or latents.npy) for the latents"),
    (lambda t: (_authors_dir(t), (t / "authors" / "latents.npy").write_bytes(b"x")),
     "both latents.pkl and latents.npy exist: keep one"),
    (lambda t: t / "nowhere", "--data_dir"),
])
def test_bad_authors_dirs_exit_2_and_write_nothing(tmp_path, capsys, setup, message):
    setup(tmp_path)
    _expect_error(capsys, ["--data_dir", tmp_path / "authors", "--attributes", "smile", "--out_dir", tmp_path / "d",
                           "--p_perclass", "0.1"], message)
    assert not (tmp_path / "d").exists()


def test_pickled_code_in_an_authors_file_is_refused(tmp_path, capsys):
    folder = _authors_dir(tmp_path)
    _write_pickle(folder / "latents.pkl", {"evil": os.system})
    _expect_error(capsys, ["--data_dir", folder, "--out_dir", tmp_path / "d"], "not on the allow-list")


def test_help_does_not_import_tensorflow():
    code = "import sys, prepare_data\ntry:\n    prepare_data.main(['--help'])\nexcept SystemExit:\n    pass\n" \
           "assert 'tensorflow' not in sys.modules, 'imported tensorflow'\n"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--shard K/N" in result.stdout and "merge" in result.stdout


def test_config_supplies_scorers_and_classes_are_checked(tmp_path, tiny_generator_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text(textwrap.dedent(f"""
        [generator]
        file = "{tiny_generator_path}"
        truncation = 0.7
        [data]
        n_samples = 40
        seed = 4
        p_perclass = 0.1
        batch_size = 8
        [attributes.light]
        scorer = "builtin:brightness"
        [attributes.hue]
        classes = 3
        scorer = "builtin:color3"
    """))
    run(["--config", config, "--out_dir", tmp_path / "from_config", "--part_size", 16])
    run(base_args(tiny_generator_path, tmp_path / "from_flags", n_samples=40))
    assert tree_bytes(tmp_path / "from_config") == tree_bytes(tmp_path / "from_flags")
    # bare specs in --attributes order
    run(base_args(tiny_generator_path, tmp_path / "bare", n_samples=40, scorers=["builtin:brightness", "builtin:color3"])
        + ["--attributes", "light,hue"])
    assert tree_bytes(tmp_path / "bare") == tree_bytes(tmp_path / "from_flags")
    config.write_text(config.read_text().replace("classes = 3", "classes = 4"))
    _expect_error(capsys, ["--config", config, "--out_dir", tmp_path / "bad"],
                  "scorer 'builtin:color3' of attribute 'hue' returned 3 score column(s) but the config says classes = 4")
    assert not (tmp_path / "bad").exists() and not (tmp_path / "bad.parts").exists()


def test_merge_can_reselect_without_resampling(tmp_path, tiny_generator_path):
    run(base_args(tiny_generator_path, tmp_path / "d", n_samples=40))
    run(["merge", "--out_dir", tmp_path / "wide", "--parts_dir", tmp_path / "d.parts", "--p_perclass", "0.25"])
    narrow, wide = read_data_dir(tmp_path / "d"), read_data_dir(tmp_path / "wide")
    assert narrow.latents.tobytes() == wide.latents.tobytes()
    assert wide.manifest["p_perclass"] == 0.25 and narrow.manifest["p_perclass"] == 0.1
    split = wide.splits["light"]
    assert len(split["train"]) + len(split["val"]) == 2 * 10
