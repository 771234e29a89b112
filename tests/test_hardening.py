"""Hardening (issue 25): lock files that follow no symlink, output paths without a name, readers that hold
what they read, numbers checked before work, networks checked when read, images read as they are, failed
starts and damaged run folders, full disks. Crash and kill tests run the command in a subprocess."""
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest

import stylegan2
from stylegan2.atomic import FolderLock
from stylegan2.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("plant", ["symlink", "dangling symlink", "folder", "fifo"])
def test_a_lock_path_that_is_not_a_regular_file_is_refused_and_never_followed(tmp_path, plant):
    """Item 3: a symlink planted at the lock path is not followed (its target keeps its bytes, a dangling
    one creates nothing); a folder or a FIFO there is refused too; each in one line naming the lock file."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    lock = tmp_path / ".out.lock"
    if plant == "symlink":
        lock.symlink_to(victim)
    elif plant == "dangling symlink":
        lock.symlink_to(tmp_path / "created-by-the-lock")
    elif plant == "folder":
        lock.mkdir()
    else:
        os.mkfifo(lock)
    with pytest.raises(InputError) as error:
        FolderLock(tmp_path / "out", "--out_dir").acquire()
    message = str(error.value)
    assert "\n" not in message and str(lock) in message and "not a regular file" in message, message
    assert victim.read_text() == "precious\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.lock", "victim.txt"]


@pytest.mark.parametrize("given", [".", "", "./", "sub/.."])
def test_the_current_folder_as_an_output_folder_is_one_line(tmp_path, given):
    """Item 2: '.', '' (and spellings of the current folder) crashed every command inside FolderLock (an empty
    name), then again in its __del__; now one line naming the flag, nothing written."""
    (tmp_path / "sub").mkdir()
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from stylegan2.atomic import FolderLock
        from stylegan2.errors import exit_on_input_error
        with exit_on_input_error("prog"):
            FolderLock({given!r}, "--out_dir").acquire()
    """)
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert f"prog: error: --out_dir '{given}' is the current folder" in run.stderr, run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub"]


def test_a_command_given_the_current_folder_is_one_line(tmp_path, tiny_generator_path):
    """Item 2 through a command: ``python -m stylegan2 generate --out_dir .`` exits 2 with one line."""
    run = subprocess.run([sys.executable, "-m", "stylegan2", "generate", "--network", str(tiny_generator_path),
                          "--seeds", "0", "--out_dir", ".", "--no_progress"],
                         cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True)
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert "--out_dir '.' is the current folder" in run.stderr and list(tmp_path.iterdir()) == [], run.stderr


def _holding(body):
    """A subprocess that runs ``body`` (Python, with ``FolderLock`` and ``fcntl`` imported), prints 'held' and
    sleeps until killed; returns once it printed."""
    code = f"import fcntl, os, sys, time\nsys.path.insert(0, {str(ROOT)!r})\n" \
           f"from stylegan2.atomic import FolderLock\n{body}\nprint('held', flush=True)\ntime.sleep(600)\n"
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def _tiny_data_dir(path):
    """A data directory of 20 random latents (w_dim 32) with one binary attribute 'b'."""
    from gradctrl.data.datadir import DataDir, write_data_dir

    rng = np.random.default_rng(0)
    scores = rng.random(20).astype(np.float32)
    write_data_dir(path, DataDir(latents=rng.standard_normal((20, 32)).astype(np.float32), scores={"b": scores},
                                 labels={"b": (scores > 0.5).astype(np.int64)},
                                 splits={"b": {"train": list(range(14)), "val": list(range(14, 20))}}, manifest={}))


def test_train_does_not_read_a_data_directory_while_it_is_written(tmp_path, capsys):
    """Item 9: train.py holds a shared lock on --data_dir while it reads it, so a writer's exclusive hold (what
    prepare_data.py takes while it replaces the folder) refuses it in one line instead of a mixed read."""
    from gradctrl.commands import train

    _tiny_data_dir(tmp_path / "data")
    writer = _holding(f"lock = FolderLock({str(tmp_path / 'data')!r}, '--out_dir').acquire()")
    try:
        with pytest.raises(SystemExit) as exit_info:
            train.main(["--data_dir", str(tmp_path / "data"), "--out_dir", str(tmp_path / "model"),
                        "--n_epochs", "1", "--quiet"])
    finally:
        writer.kill()
        writer.wait()
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1, err
    assert f"--data_dir '{tmp_path / 'data'}' is being written by another process (pid {writer.pid})" in err, err
    assert not (tmp_path / "model").exists()


def test_a_writer_is_refused_while_readers_hold_the_folder(tmp_path):
    """Item 9: readers share the lock; a writer is refused while any reader holds it (also after another
    reader left), and gets it once the last reader left, whose release removes the lock file."""
    folder = tmp_path / "data"
    reader = _holding(f"lock = FolderLock({str(folder)!r}, '--data_dir', shared=True).acquire()")
    try:
        with pytest.raises(InputError, match=rf"--out_dir '{folder}' is being read by another process"):
            FolderLock(folder, "--out_dir").acquire()
    finally:
        reader.kill()
        reader.wait()
    first = FolderLock(folder, "--data_dir", shared=True).acquire()
    second = FolderLock(folder, "--data_dir", shared=True).acquire()
    first.release()
    with pytest.raises(InputError, match="is being read by another process"):
        FolderLock(folder, "--out_dir").acquire()
    second.release()
    assert not (tmp_path / ".data.lock").exists()
    with FolderLock(folder, "--out_dir"):
        with pytest.raises(InputError, match="is being written by another process"):
            FolderLock(folder, "--data_dir", shared=True).acquire()


def test_a_writer_that_has_not_written_its_pid_yet_is_a_run_that_is_starting(tmp_path):
    """Item 9: the holder took the lock but has not written its pid: say that another run is starting."""
    lock = tmp_path / ".out.lock"
    holder = _holding(f"fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT)\nfcntl.flock(fd, fcntl.LOCK_EX)")
    try:
        with pytest.raises(InputError) as error:
            FolderLock(tmp_path / "out", "--out_dir").acquire()
    finally:
        holder.kill()
        holder.wait()
    assert "another run is starting" in str(error.value) and "unknown" not in str(error.value), error.value


@pytest.fixture
def edit_setup(tmp_path, tiny_generator_path):
    """A classifier directory for the tiny generator (attributes a, b) and a config naming the generator."""
    from gradctrl.classifier.model import LatentClassifier, save_classifier

    save_classifier(LatentClassifier(32, ["a", "b"], {"a": 1, "b": 1}, hidden_size=8, seed=5), tmp_path / "model")
    config = tmp_path / "c.toml"
    config.write_text(f'[generator]\nfile = "{tiny_generator_path}"\n')
    return tmp_path


HUGE = str(10 ** 15)
NUMBER_CASES = [
    ("prepare_data", ["--n_samples", HUGE], "--n_samples 1000000000000000: must be at most"),
    ("manipulate", ["--n_samples", HUGE], "--n_samples 1000000000000000: must be at most"),
    ("manipulate", ["--step_size", "1e300"], "--step_size 1e+300: must be at most 1000"),
    ("evaluate", ["--n_samples", HUGE], "--n_samples 1000000000000000: must be at most"),
    ("evaluate", ["--step_size", "1e300"], "--step_size 1e+300: must be at most 1000"),
    ("evaluate", ["--truncation", "-1"], "--truncation -1.0: must be greater than 0"),
    ("figures", ["--n_samples", HUGE], "--n_samples 1000000000000000: must be at most"),
    ("figures", ["--width", str(10 ** 9)], "--width 1000000000: must be at most 32768"),
    ("figures", ["--truncation", "-1"], "--truncation -1.0: must be greater than 0"),
    ("world draw", ["--n_samples", HUGE], "--n_samples 1000000000000000: must be at most"),
    ("world draw", ["--n_samples", "4", "--seed", "-1"], "--seed -1: must be at least 0"),
    ("world grid", ["--n_samples", HUGE], "--n_samples 1000000000000000: must be at most"),
    ("world grid", ["--seed", "-1"], "--seed -1: must be at least 0"),
    ("stylegan2 train", ["--z_dim", str(10 ** 12)], "--z_dim 1000000000000: must be at most"),
    ("stylegan2 train", ["--grid_size", str(10 ** 7)], "--grid_size 10000000: must be at most"),
]


@pytest.mark.parametrize("command, flags, message", NUMBER_CASES, ids=[f"{c} {f[-2]}" for c, f, _ in NUMBER_CASES])
def test_every_number_is_checked_before_work(edit_setup, tiny_generator_path, capsys, command, flags, message):
    """Item 7: a size flag beyond memory, a step that overflows, a negative seed, a truncation <= 0: one line
    naming the flag and its limit, exit 2, nothing written (today: MemoryError, all of memory, or accepted)."""
    from gradctrl.commands import evaluate, figures, manipulate, prepare_data
    from gradctrl.commands import world_tools as world_command
    from stylegan2.cli import main as stylegan2_main

    out, model, config = edit_setup / "out", str(edit_setup / "model"), str(edit_setup / "c.toml")
    before = sorted(p.name for p in edit_setup.iterdir())
    runs = {
        "prepare_data": lambda f: prepare_data.main(["--generator", str(tiny_generator_path), "--attributes", "b",
                                                     "--scorers", "builtin:brightness", "--out_dir", str(out),
                                                     "--no_progress", *f]),
        "manipulate": lambda f: manipulate.main(["--model_dir", model, "--attribute", "a", "--out_dir", str(out),
                                                 "--config", config, "--no_progress", *f]),
        "evaluate": lambda f: evaluate.main(["--model_dir", model, "--config", config, "--out_dir", str(out),
                                             "--latent_only", "--methods", "gradctrl", "--n_samples", "4",
                                             "--steps", "1", "--no_progress", *f]),
        "figures": lambda f: figures.main(["--model_dir", model, "--config", config, "--out", str(out) + ".png",
                                           "--n_samples", "1", "--width", "64", "--no_progress", *f]),
        "world draw": lambda f: world_command.main(["draw", "--resolution", "16", "--out_dir", str(out), *f]),
        "world grid": lambda f: world_command.main(["grid", "--resolution", "16", "--out", str(out) + ".png", *f]),
        "stylegan2 train": lambda f: stylegan2_main(["train", "--data", str(edit_setup / "images.npy"), "--out_dir",
                                                     str(out), "--total_kimg", "0.016", "--no_progress", *f]),
    }
    if command == "stylegan2 train":
        np.save(edit_setup / "images.npy", np.zeros((16, 8, 8, 3), np.uint8))
        before = sorted(p.name for p in edit_setup.iterdir())
    with pytest.raises(SystemExit) as exit_info:
        runs[command](flags)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and message in err, err
    assert sorted(p.name for p in edit_setup.iterdir()) == before


def test_a_generator_pickle_with_nan_weights_is_refused_naming_the_file_and_the_variable(tmp_path,
                                                                                      tiny_generator_path, capsys):
    """Item 8: a NaN weight is found when the pickle is read, naming the pickle and the variable, not later as
    non-finite w blamed on the latents."""
    from stylegan2 import official_pickle
    from stylegan2.cli import main

    gs = official_pickle.read_networks(tiny_generator_path)
    synthesis = gs.components["synthesis"]
    name = sorted(synthesis.variables)[-1]
    synthesis.variables[name] = synthesis.variables[name].copy()
    synthesis.variables[name].flat[0] = float("nan")
    bad = tmp_path / "nan.pkl"
    official_pickle.write_networks(bad, (gs, gs, gs))
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", "--network", str(bad), "--seeds", "0", "--out_dir", str(tmp_path / "images"), "--no_progress"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1, err
    assert f"'{bad}'" in err and f"variable '{name}'" in err and "Gs.components.synthesis" in err and "NaN" in err, err
    assert not (tmp_path / "images").exists()


def test_a_classifier_with_nan_weights_is_refused_naming_the_file_and_the_tensor(tmp_path, capsys):
    """Item 8: our model directory with a NaN weight (a diverged training run) is refused when read."""
    from gradctrl.classifier.model import WEIGHTS_FILE, LatentClassifier, save_classifier
    from gradctrl.commands import manipulate

    clf = LatentClassifier(32, ["a"], {"a": 1}, hidden_size=8, seed=5)
    layer = clf.branch_layers["a"][0]
    kernel, bias = layer.get_weights()
    kernel[3, 2] = np.inf
    layer.set_weights([kernel, bias])
    save_classifier(clf, tmp_path / "model")
    generator = tmp_path / "g.pkl"  # a generator of the classifier's w_dim: the classifier is what is wrong
    stylegan2.save_generator(stylegan2.random_generator(resolution=8, fmap_base=32, fmap_max=8, z_dim=32, w_dim=32,
                                                        mapping_layers=1), generator)
    with pytest.raises(SystemExit) as exit_info:
        manipulate.main(["--model_dir", str(tmp_path / "model"), "--generator", str(generator), "--attribute", "a",
                         "--out_dir", str(tmp_path / "edits")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1, err
    assert f"{WEIGHTS_FILE} tensor '{layer.kernel.path}' holds NaN or infinite values" in err, err
    assert not (tmp_path / "edits").exists()


def _png_folder(folder, images, mode=None, palette=None):
    """Write each (R, R[, C]) array of ``images`` as folder/NNN.png (in ``mode``, with ``palette`` for 'P')."""
    from PIL import Image

    folder.mkdir()
    for i, array in enumerate(images):
        image = Image.fromarray(array) if mode is None else Image.fromarray(array, mode)
        if palette is not None:
            image.putpalette(palette)
        image.save(folder / f"{i:03d}.png")
    return folder


def test_sixteen_bit_pngs_are_scaled_to_eight_bits(tmp_path):
    """Item 6: a 16-bit grayscale PNG (mode I;16) is read as v * 255 / 65535, rounded (was: its low byte)."""
    from stylegan2.dataset import load_images

    rng = np.random.default_rng(0)
    wide = rng.integers(22, 65503, size=(16, 8, 8)).astype(np.uint16)
    folder = _png_folder(tmp_path / "pngs", wide)
    images = load_images(folder)
    expected = np.floor(wide.astype(np.float64) * 255 / 65535 + 0.5).astype(np.uint8)[..., None]
    assert images.shape == (16, 8, 8, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, expected)


def test_palette_pngs_are_read_as_their_colours(tmp_path):
    """Item 6: a palette PNG (mode P) is read as the RGB colours its indices name (was: the indices)."""
    from stylegan2.dataset import load_images

    rng = np.random.default_rng(1)
    colours = rng.integers(0, 256, size=(4, 3)).astype(np.uint8)
    indices = rng.integers(0, 4, size=(16, 8, 8)).astype(np.uint8)
    folder = _png_folder(tmp_path / "pngs", indices, "P", colours.reshape(-1).tolist())
    images = load_images(folder)
    assert images.shape == (16, 8, 8, 3)
    np.testing.assert_array_equal(images, colours[indices])


def test_pngs_of_a_mode_without_an_eight_bit_reading_are_refused(tmp_path):
    """Item 6: floating-point PNG data (mode F, e.g. from a TIFF renamed .png) is refused with the reason."""
    from stylegan2.dataset import load_images

    from PIL import Image

    folder = tmp_path / "pngs"
    folder.mkdir()
    for i in range(16):  # PNG cannot hold floats: TIFFs under .png names
        Image.fromarray(np.full((8, 8), 0.5, np.float32)).save(folder / f"{i:03d}.png", format="TIFF")
    with pytest.raises(InputError, match=r"'000.png' has pixels of mode F \(32-bit floating point\)"):
        load_images(folder)


@pytest.fixture
def small_disk():
    """A folder on a 64 KiB tmpfs (a full disk for anything bigger); the test skips where it cannot be mounted.
    Mounted outside pytest's numbered folders, which a concurrent pytest session may clean up."""
    disk = Path(tempfile.mkdtemp(prefix="gradctrl-small-disk-"))
    mount = shutil.which("mount") if os.geteuid() == 0 else None
    if mount is None or subprocess.run([mount, "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)],
                                       capture_output=True).returncode != 0:
        disk.rmdir()
        pytest.skip("cannot mount a small tmpfs here (needs root and mount)")
    yield disk
    subprocess.run(["umount", "--lazy", str(disk)], check=True)  # lazy: a file a killed writer left open
    disk.rmdir()


TINY_RUN = ["--fmap_base", "64", "--fmap_max", "16", "--z_dim", "16", "--w_dim", "16", "--mapping_layers", "1",
            "--batch_size", "8", "--grid_size", "2", "--total_kimg", "0.008", "--snapshot_kimg", "0.008",
            "--no_progress"]


def _train(capsys, data, outdir, *flags):
    """``python -m stylegan2 train`` of a tiny run in-process -> (exit code, stderr)."""
    from stylegan2.cli import main

    try:
        code = main(["train", "--data", str(data), "--out_dir", str(outdir), *TINY_RUN, *flags])
    except SystemExit as e:
        code = e.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("fault", ["bad --kid_model", "full disk"])
def test_a_failed_start_leaves_nothing_that_blocks_a_rerun(tmp_path, request, capsys, fault):
    """Item 4: a start that fails (a --kid_model that is no model, a disk that fills at the first snapshot)
    leaves no training_options.json and no folder, so the same command is not refused as 'holds a training run'
    (a full disk fails again the same way; the fixed command trains)."""
    data = tmp_path / "images.npy"
    np.save(data, np.random.default_rng(0).integers(0, 256, (16, 8, 8, 3)).astype(np.uint8))
    where = request.getfixturevalue("small_disk") if fault == "full disk" else tmp_path / "runs"
    where.mkdir(exist_ok=True)
    outdir = where / "run"
    bad = ["--kid_samples", "4", "--kid_model", str(tmp_path / "none.keras")] if fault == "bad --kid_model" else []
    for attempt in range(2):
        code, err = _train(capsys, data, outdir, *bad)
        assert code == 2 and err.count("\n") == 1, err
        assert ("cannot be loaded as a Keras model" if bad else "No space left on device") in err, err
        assert list(where.iterdir()) == [], (attempt, list(where.iterdir()))
    if bad:
        code, err = _train(capsys, data, outdir)
        assert code == 0 and (outdir / "training_options.json").is_file() and (outdir / "checkpoint.npz").is_file()


def _run_folder(tmp_path, **damage):
    """A run folder as a start leaves it (training_options.json of a tiny run on 16 random 8-px images), with
    ``damage``: file name -> bytes to write there."""
    import dataclasses
    import json

    from stylegan2.training import TrainingOptions

    data = tmp_path / "images.npy"
    np.save(data, np.random.default_rng(0).integers(0, 256, (16, 8, 8, 3)).astype(np.uint8))
    run = tmp_path / "run"
    run.mkdir()
    options = TrainingOptions(data=str(data), fmap_base=64, fmap_max=16, z_dim=16, w_dim=16, mapping_layers=1,
                              batch_size=8, grid_size=2, total_kimg=0.008, snapshot_kimg=0.008)
    (run / "training_options.json").write_text(json.dumps(dataclasses.asdict(options)))
    for name, content in damage.items():
        (run / name).write_bytes(content)
    return run


def _npz_bytes(**arrays):
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


RUN_DAMAGE = {
    "truncated checkpoint": ({"checkpoint.npz": _npz_bytes(iteration=[1, 2, 3], pl_mean=[0.0] * 99)[:-40]},
                             "checkpoint.npz' is damaged"),
    "garbage log line": ({"log.jsonl": b'{"kimg": 0.0}\nnot json at all\n{"kimg": 0.008}\n'},
                         "log.jsonl' line 2 is not a log record"),
    "corrupt options": ({"training_options.json": b'{"data": "x", "z_dim": '}, "training_options.json' is damaged"),
    "unknown option": ({"training_options.json": b'{"data": "x", "z_dimension": 16}'},
                       "training_options.json' holds an unknown option 'z_dimension'"),
}


@pytest.mark.parametrize("damage", RUN_DAMAGE)
def test_a_damaged_run_folder_is_one_line_on_resume(tmp_path, capsys, damage):
    """Item 5: --resume of a run folder with a truncated checkpoint, a garbage line inside log.jsonl, or
    unreadable options: one line naming the file, exit 2 (was: a traceback)."""
    from stylegan2.cli import main

    files, message = RUN_DAMAGE[damage]
    run = _run_folder(tmp_path, **files)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--out_dir", str(run), "--resume", "--no_progress"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and message in err, err
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before  # nothing rewritten


def _world_folder(tmp_path):
    """A folder as ``python -m gradctrl.world draw --n_samples 16 --resolution 16`` writes it."""
    from gradctrl import world

    return world.write_world(tmp_path / "world", 16, 0, 16, progress=False)


WORLD_DAMAGE = {
    "missing factor": ("factors.npz", lambda f: _npz_bytes(**{k: v for k, v in f.items() if k != "age"}),
                       "factors.npz lacks the factor 'age'"),
    "pickled factor": ("factors.npz", lambda f: _npz_bytes(**dict(f, age=np.array([{"a": 1}] * 16, dtype=object))),
                       "factors.npz is not readable"),
    "images of rank 3": ("images.npy", None, "images.npy holds uint8 (16, 16, 48), not uint8 RGB faces"),
}


@pytest.mark.parametrize("damage", WORLD_DAMAGE)
def test_damaged_world_data_is_one_line(tmp_path, capsys, damage):
    """Item 5: world data whose factors.npz lacks a factor or holds a pickled array, or whose images.npy has
    the wrong rank: one line naming the file and the fix (was: a traceback)."""
    from gradctrl.commands import world_tools as world_command

    folder = _world_folder(tmp_path)
    name, rewrite, message = WORLD_DAMAGE[damage]
    if name == "images.npy":
        np.save(folder / name, np.load(folder / name).reshape(16, 16, 48))
    else:
        with np.load(folder / name) as stored:
            factors = {key: stored[key] for key in stored.files}
        (folder / name).write_bytes(rewrite(factors))
    with pytest.raises(SystemExit) as exit_info:
        world_command.main(["train-scorer", "--data", str(folder), "--out", str(tmp_path / "scorer.keras"),
                            "--n_samples", "8", "--n_epochs", "1", "--test_n_samples", "4"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "scorer.keras").exists()


@pytest.mark.parametrize("other", ["another configuration", "no dlatent_avg"])
def test_an_init_pickle_of_other_shapes_is_one_line_and_makes_no_folder(tmp_path, capsys, other):
    """Item 5: --init of networks with other shapes (or without a variable) is refused in one line before
    --out_dir is made (was: an empty --out_dir left behind, or a traceback)."""
    from stylegan2 import official_pickle
    from stylegan2.training import Trainer, TrainingOptions

    data = tmp_path / "images.npy"
    np.save(data, np.random.default_rng(0).integers(0, 256, (16, 8, 8, 3)).astype(np.uint8))
    z_dim = 8 if other == "another configuration" else 16
    trainer = Trainer(np.load(data), TrainingOptions(fmap_base=64, fmap_max=16, z_dim=z_dim, w_dim=16,
                                                     mapping_layers=1, batch_size=8))
    networks = trainer.networks()
    if other == "no dlatent_avg":
        for network in networks[::2]:
            del network.variables["dlatent_avg"]
    official_pickle.write_networks(tmp_path / "other.pkl", networks)
    code, err = _train(capsys, data, tmp_path / "run", "--init", str(tmp_path / "other.pkl"))
    assert code == 2 and err.count("\n") == 1, err
    assert f"--init '{tmp_path / 'other.pkl'}': its generator does not have this run's shapes" in err, err
    assert not (tmp_path / "run").exists()


@pytest.fixture
def full_disk(small_disk):
    """The 64 KiB tmpfs of :func:`small_disk`, filled up by a file 'filler' (a full disk for any write)."""
    fd = os.open(small_disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    return small_disk


def _after_failure(disk):
    """What is left on the disk beside the filler (temporaries, lock files, half folders)."""
    return sorted(p.name for p in disk.iterdir() if p.name != "filler")


def _command(*argv, tf_log_level="3"):
    """Run ``python ARGV...`` from the repository root -> CompletedProcess (a crash is an exit code here);
    ``tf_log_level``: TF_CPP_MIN_LOG_LEVEL, or None for none set (what a user has)."""
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    if tf_log_level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = tf_log_level
    return subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, env=env)


@pytest.mark.parametrize("free_pages", [0, 2])
def test_train_on_a_full_disk_is_one_line_and_leaves_nothing(full_disk, tmp_path, free_pages):
    """Item 1: train.py writing its model directory on a full disk (a filled 64 KiB tmpfs, or one with 8 KiB
    left: room for the lock's pid but not for the 10 KiB of weights) exits 2 with one line, twice, leaving no
    temporaries and no lock file (was: a traceback at the pid, or a segfault inside h5py, exit 139)."""
    filler = full_disk / "filler"
    os.truncate(filler, filler.stat().st_size - free_pages * 4096)
    _tiny_data_dir(tmp_path / "data")
    for attempt in range(2):
        run = _command("train.py", "--data_dir", str(tmp_path / "data"), "--out_dir", str(full_disk / "model"),
                       "--n_epochs", "1", "--quiet")
        assert run.returncode == 2 and run.stderr.count("\n") == 1, (run.returncode, run.stderr[-2000:])
        assert "No space left on device" in run.stderr and "free some space" in run.stderr, run.stderr
        assert _after_failure(full_disk) == [], _after_failure(full_disk)


def test_world_draw_on_a_full_disk_is_one_line_and_leaves_nothing(small_disk):
    """Item 1: ``python -m gradctrl.world draw`` whose images do not fit (200 faces of 16 px, 150 KiB, on a
    64 KiB tmpfs) exits 2 with one line, its space reserved before the memory map is written (was: SIGBUS)."""
    run = _command("-m", "gradctrl.world", "draw", "--n_samples", "200", "--resolution", "16",
                   "--out_dir", str(small_disk / "w"))
    assert run.returncode == 2 and run.stderr.count("\n") == 1, (run.returncode, run.stderr[-2000:])
    assert "No space left on device" in run.stderr and f"'{small_disk / 'w'}" in run.stderr, run.stderr
    assert _after_failure(small_disk) == [], _after_failure(small_disk)


def test_prepare_data_on_a_full_disk_is_one_line_and_leaves_no_parts_directory(full_disk, tiny_generator_path,
                                                                                capsys):
    """Item 1: prepare_data.py whose parts directory cannot take run.json exits 2 with one line and leaves no
    empty parts directory (was: an ENOSPC traceback and data.parts/ left behind)."""
    from gradctrl.commands import prepare_data

    with pytest.raises(SystemExit) as exit_info:
        prepare_data.main(["--generator", str(tiny_generator_path), "--n_samples", "40", "--attributes", "b",
                           "--scorers", "builtin:brightness", "--out_dir", str(full_disk / "data"), "--no_progress"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and "No space left on device" in err, err
    assert _after_failure(full_disk) == [], _after_failure(full_disk)


def test_world_commands_start_quiet_and_a_scorer_error_names_scorer(tmp_path, tiny_generator_path):
    """Item 10: ``python -m gradctrl.world quality`` hides TensorFlow's start-up log like the other commands,
    and a --scorer that is no Keras model is named as --scorer (was: --kid_model, after TensorFlow's log)."""
    _world_folder(tmp_path)
    (tmp_path / "bad.keras").write_bytes(b"not a model")
    run = _command("-m", "gradctrl.world", "quality", "--generator", str(tiny_generator_path), "--data",
                   str(tmp_path / "world"), "--out_dir", str(tmp_path / "quality"), "--n_samples", "2", "--scorer",
                   str(tmp_path / "bad.keras"), tf_log_level=None)
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr[-3000:]
    assert f"--scorer '{tmp_path / 'bad.keras'}' cannot be loaded as a Keras model" in run.stderr, run.stderr
    assert not (tmp_path / "quality").exists()
