"""Reliability (issue 13): one writer per folder, edit folders whole or absent, empty classes refused early,
file-system faults as one line, progress bars, naming, quiet start-up. Concurrency and kill tests run the
second writer in a subprocess."""
import errno
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stylegan2.atomic import FolderLock, atomic_dir, atomic_write
from stylegan2.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


def _holder(path, what="--out_dir"):
    """A subprocess holding FolderLock(path) until killed; returns once the lock is held."""
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from stylegan2.atomic import FolderLock
        lock = FolderLock({str(path)!r}, {what!r}).acquire()
        print("held", flush=True)
        time.sleep(600)
    """)
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def test_folder_lock_refuses_a_second_writer_and_a_killed_holder_releases_it(tmp_path):
    folder = tmp_path / "out"
    holder = _holder(folder)
    try:
        with pytest.raises(InputError, match=rf"--out_dir '{folder}' is in use by another process \(pid {holder.pid}\)"):
            FolderLock(folder, "--out_dir").acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (tmp_path / ".out.lock").exists()  # the killed holder's file stays: the OS lock does not
    with FolderLock(folder, "--out_dir"):
        with pytest.raises(InputError, match="in use"):  # in the same process too
            FolderLock(folder, "--out_dir").acquire()
    assert not (tmp_path / ".out.lock").exists()


class _LimitedFile:
    """A binary file that fails like a full disk once the budget it shares is spent (no fileno: every byte
    goes through write)."""

    def __init__(self, path, mode, budget):
        self._file = open(path, mode)
        self._budget = budget

    def write(self, data):
        if len(data) > self._budget["left"]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._budget["left"] -= len(data)
        return self._file.write(data)

    def __getattr__(self, name):
        if name == "fileno":
            raise AttributeError(name)
        return getattr(self._file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._file.close()


@pytest.fixture
def full_disk(tmp_path, monkeypatch):
    """A folder on a nearly full disk (about 24 KiB free): a small tmpfs where this process may mount one,
    otherwise a patched atomic writer whose files fail with ENOSPC once 24 KiB are written."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mount = shutil.which("mount") if os.geteuid() == 0 else None
    mounted = mount is not None and subprocess.run([mount, "-t", "tmpfs", "-o", "size=24k", "tmpfs", str(disk)],
                                                   capture_output=True).returncode == 0
    if not mounted:
        import stylegan2.atomic

        budget = {"left": 24 * 1024}
        monkeypatch.setattr(stylegan2.atomic, "open", lambda path, mode: _LimitedFile(path, mode, budget),
                            raising=False)
    yield disk
    if mounted:
        subprocess.run(["umount", str(disk)], check=True)


def _listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_generate_on_a_full_disk_is_one_line_and_writes_no_partial_set(full_disk, tiny_generator_path, capsys):
    from stylegan2.cli import main

    out = full_disk / "images"
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", "--network", str(tiny_generator_path), "--seeds", "0-99", "--out_dir", str(out),
              "--no_progress"])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and len(err.splitlines()) == 1, err
    assert "No space left on device" in err and "free some space" in err and str(out) in err, err
    assert _listing(full_disk) == []  # no partial image set, no temporaries, no lock file


def test_generate_replaces_its_own_images_and_keeps_other_files(tmp_path, tiny_generator_path, capsys):
    from stylegan2.cli import main

    out = tmp_path / "images"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "seed0001.png").write_bytes(b"old")
    main(["generate", "--network", str(tiny_generator_path), "--seeds", "1-2", "--out_dir", str(out), "--no_progress"])
    assert _listing(out) == ["notes.txt", "seed0001.png", "seed0002.png"]
    assert (out / "seed0001.png").read_bytes()[:4] == b"\x89PNG" and (out / "notes.txt").read_text() == "mine"
    assert capsys.readouterr().err == ""  # --no_progress: no bar


def test_generate_refuses_a_folder_another_process_writes(tmp_path, tiny_generator_path, capsys):
    from stylegan2.cli import main

    out = tmp_path / "images"
    holder = _holder(out, "--out_dir")
    try:
        with pytest.raises(SystemExit) as exit_info:
            main(["generate", "--network", str(tiny_generator_path), "--seeds", "0", "--out_dir", str(out)])
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and err.count("\n") == 0 and "is in use by another process" in err
    assert not out.exists()


def test_commands_start_quiet(tmp_path, tiny_generator_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    generate = subprocess.run([sys.executable, "-m", "stylegan2", "generate", "--network", str(tiny_generator_path),
                               "--seeds", "0", "--out_dir", str(tmp_path / "images"), "--no_progress"],
                              cwd=ROOT, env=env, capture_output=True, text=True)
    assert generate.returncode == 0 and generate.stderr == "", generate.stderr
    manipulate = subprocess.run([sys.executable, "manipulate.py", "--model_dir", str(tmp_path / "none"),
                                 "--attribute", "a", "--out_dir", str(tmp_path / "edits")],
                                cwd=ROOT, env=env, capture_output=True, text=True)
    assert manipulate.returncode == 2 and len(manipulate.stderr.splitlines()) == 1, manipulate.stderr


def test_an_empty_class_is_refused_at_selection_naming_the_attribute_and_the_fix():
    import numpy as np

    from gradctrl.data.selection import select
    from gradctrl.errors import UserError

    scores = np.random.default_rng(0).random((100, 3)).astype(np.float32)
    scores[:, 1] = -1.0  # the scorer never picks class 1 ("all samples green")
    with pytest.raises(UserError, match=r"attribute 'hair': its scorer picks class 1 for none of the 100 samples.*"
                                        r"sample more \(--n_samples\), use another scorer, or give the attribute "
                                        "fewer classes"):
        select(scores, 0.1, "hair")


def test_prepare_data_refuses_a_second_writer_and_cleans_what_a_killed_one_left(tmp_path, tiny_generator_path,
                                                                                capsys):
    from gradctrl.commands import prepare_data

    out = tmp_path / "data"
    flags = ["--generator", str(tiny_generator_path), "--n_samples", "40", "--attributes", "brightness",
             "--scorers", "builtin:brightness", "--out_dir", str(out), "--seed", "0", "--no_progress"]
    holder = _holder(out)
    try:
        with pytest.raises(SystemExit) as e:
            prepare_data.main(flags)
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert e.value.code == 2 and f"--out_dir '{out}' is in use by another process (pid {holder.pid})" in err, err
    assert not out.exists()
    (tmp_path / ".data.tmp-1-deadbeef").mkdir()  # what a killed writer's atomic_dir left
    prepare_data.main(flags)
    assert "brightness (binary): 2 train, 2 val (class 0: 2, class 1: 2)" in capsys.readouterr().out
    assert (out / "manifest.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "data.parts"]


@pytest.fixture
def read_only(tmp_path):
    """A folder nobody may write into: a read-only tmpfs where this process may mount one (root ignores
    permissions), else a folder without write permission."""
    folder = tmp_path / "ro"
    folder.mkdir()
    mount = shutil.which("mount") if os.geteuid() == 0 else None
    if mount is not None and subprocess.run([mount, "-t", "tmpfs", "-o", "ro,size=16k", "tmpfs", str(folder)],
                                             capture_output=True).returncode == 0:
        yield folder
        subprocess.run(["umount", str(folder)], check=True)
    elif os.geteuid() != 0:
        folder.chmod(0o500)
        yield folder
        folder.chmod(0o700)
    else:
        pytest.skip("root without mount: no folder is unwritable")


def test_unwritable_output_folders_are_one_line(read_only, tmp_path, tiny_generator_path, capsys):
    import numpy as np

    from gradctrl.classifier.model import LatentClassifier, save_classifier
    from gradctrl.commands import manipulate, prepare_data
    from stylegan2.cli import main as stylegan2_main

    save_classifier(LatentClassifier(32, ["a"], {"a": 1}, hidden_size=8, seed=5), tmp_path / "model")
    np.save(tmp_path / "images.npy", np.zeros((16, 8, 8, 3), np.uint8))  # train reads its data before --out_dir
    runs = [lambda: manipulate.main(["--model_dir", str(tmp_path / "model"), "--attribute", "a", "--out_dir",
                                     str(read_only / "edits"), "--generator", str(tiny_generator_path),
                                     "--n_samples", "1", "--steps", "1", "--no_progress"]),
            lambda: prepare_data.main(["--generator", str(tiny_generator_path), "--n_samples", "40",
                                       "--attributes", "b", "--scorers", "builtin:brightness", "--out_dir",
                                       str(read_only / "data"), "--no_progress"]),
            lambda: stylegan2_main(["train", "--data", str(tmp_path / "images.npy"), "--out_dir",
                                    str(read_only / "run")])]
    for run in runs:
        with pytest.raises(SystemExit) as e:
            run()
        err = capsys.readouterr().err
        assert e.value.code == 2 and err.count("\n") == 1 and f"'{read_only}/" in err, err
        assert "choose a writable location" in err or "choose a writable path" in err, err


def _one_line_error(run, capsys):
    """Run a command's ``main``; assert it exits with code 2 and one line on stderr -> that line."""
    with pytest.raises(SystemExit) as e:
        run()
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


@pytest.fixture
def tiny_model(tmp_path):
    """A classifier directory for the tiny generator's w (32 channels): attributes a (binary) and b (binary)."""
    from gradctrl.classifier.model import LatentClassifier, save_classifier

    path = tmp_path / "model"
    save_classifier(LatentClassifier(32, ["a", "b"], {"a": 1, "b": 1}, hidden_size=8, seed=5), path)
    return path


@pytest.mark.parametrize("keep", [0.3, 0.97])
def test_a_truncated_generator_pickle_says_where_to_download_it_again(tmp_path, tiny_generator_path, capsys, keep):
    """Item 7: cut anywhere, the pickle is named truncated with a fix, not "not a readable pickle"."""
    from stylegan2.cli import main

    data = tiny_generator_path.read_bytes()
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(data[:int(len(data) * keep)])
    err = _one_line_error(lambda: main(["generate", "--network", str(cut), "--seeds", "0", "--out_dir",
                                        str(tmp_path / "images"), "--no_progress"]), capsys)
    assert f"network pickle '{cut}' is truncated" in err, err
    assert "download it again (NVIDIA's networks are at https://nvlabs-fi-cdn.nvidia.com/stylegan2/networks/)" in err
    assert not (tmp_path / "images").exists()


def test_truncated_classifier_weights_are_reported_as_truncated_not_as_a_mismatch(tmp_path, tiny_model, capsys):
    """Item 7: a cut-off classifier.weights.h5 is "truncated or corrupt", with a fix."""
    from gradctrl.commands import manipulate

    weights = tiny_model / "classifier.weights.h5"
    data = weights.read_bytes()
    weights.write_bytes(data[:len(data) // 2])
    err = _one_line_error(lambda: manipulate.main(["--model_dir", str(tiny_model), "--attribute", "a",
                                                   "--out_dir", str(tmp_path / "edits")]), capsys)
    assert "classifier.weights.h5 is truncated or corrupt" in err and "does not match" not in err, err
    assert err.endswith("copy the model directory again or train the model again"), err


@pytest.mark.parametrize("shape", [(0, 32), (3, 0)])
def test_a_latent_file_without_rows_is_refused(tmp_path, tiny_model, tiny_generator_path, capsys, shape):
    """Item 4: an empty latent file is one line naming it, not exit 0 with empty output."""
    import numpy as np

    from gradctrl.commands import manipulate

    latents = tmp_path / "latents.npy"
    np.save(latents, np.zeros(shape, np.float32))
    err = _one_line_error(lambda: manipulate.main([
        "--model_dir", str(tiny_model), "--attribute", "a", "--out_dir", str(tmp_path / "edits"), "--generator",
        str(tiny_generator_path), "--input_dir", str(latents), "--no_progress"]), capsys)
    assert f"--input_dir '{latents}': latent file '{latents}'" in err and f"shape {shape}" in err, err
    assert not (tmp_path / "edits").exists()


def _tiny_keras_scorer(path, weight):
    """A Keras model on (16, 16, 3) images: ``weight`` x the mean pixel value (one logit)."""
    import keras
    import numpy as np

    inputs = keras.Input((16, 16, 3))
    outputs = keras.layers.Dense(1)(keras.layers.GlobalAveragePooling2D()(inputs))
    model = keras.Model(inputs, outputs)
    model.layers[-1].set_weights([np.full((3, 1), weight, np.float32), np.zeros(1, np.float32)])
    model.save(path)


def test_a_changed_keras_scorer_file_is_a_changed_setting(tmp_path, tiny_generator_path, capsys):
    """Item 4: the Keras scorer is recorded with its content hash; a shard run after the file changed is refused
    instead of mixing scores of two models."""
    import json

    from gradctrl.commands import prepare_data
    from gradctrl.generators import file_sha256

    model = tmp_path / "scorer.keras"
    _tiny_keras_scorer(model, 1.0)
    flags = ["--generator", str(tiny_generator_path), "--n_samples", "40", "--part_size", "20", "--attributes",
             "a", "--scorers", f"keras:{model},range=0:1", "--out_dir", str(tmp_path / "data"), "--no_progress"]
    prepare_data.main(flags + ["--shard", "0/2"])
    capsys.readouterr()
    run = json.loads((tmp_path / "data.parts" / "run.json").read_text())
    assert run["scorers"] == {"a": f"keras:{model},range=0:1 sha256:{file_sha256(model)}"}
    _tiny_keras_scorer(model, -1.0)  # same path, another model
    err = _one_line_error(lambda: prepare_data.main(flags + ["--shard", "1/2"]), capsys)
    assert f"was started with the scorer 'keras:{model},range=0:1 sha256:{run['scorers']['a'][-64:]}' for 'a'" in err
    assert "a changed model file counts as another scorer" in err, err
    assert sorted(p.name for p in (tmp_path / "data.parts").iterdir()) == ["part_000000.npz", "run.json"]


@pytest.mark.parametrize("table, message", [
    ("layers = [0, 99]", "key 'attributes.a.layers': [0, 99] reaches past the 6 W+ layers of the generator"),
    ("exclude = { b = 999 }", "key 'attributes.a.exclude.b': top-k 999 exceeds the latent width 32"),
])
def test_prepare_data_checks_the_config_against_the_generator(tmp_path, tiny_generator_path, capsys, table,
                                                              message):
    """Item 4: a config that does not fit the generator is refused by the first command that loads both,
    before any sample is drawn."""
    from gradctrl.commands import prepare_data

    config = tmp_path / "c.toml"
    config.write_text(f'[generator]\nfile = "{tiny_generator_path}"\n'
                      f'[attributes.a]\nscorer = "builtin:brightness"\n{table}\n'
                      '[attributes.b]\nscorer = "builtin:warmth"\n')
    err = _one_line_error(lambda: prepare_data.main(["--config", str(config), "--n_samples", "40", "--out_dir",
                                                     str(tmp_path / "data"), "--no_progress"]), capsys)
    assert f"config {config}: {message}" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"]


def test_train_refuses_a_data_directory_with_an_empty_class(tmp_path, capsys):
    """Item 3: a data directory whose K-class attribute has no sample of some class (one written before
    selection refused it, or by hand) is refused by train.py, naming the attribute, the class and the fixes."""
    import numpy as np

    from gradctrl.commands import train
    from gradctrl.data.datadir import DataDir, write_data_dir

    rng = np.random.default_rng(0)
    scores = rng.random((20, 3)).astype(np.float32)
    scores[:, 1] = -1.0  # "all samples green": class 1 is nobody's argmax
    labels = scores.argmax(axis=1).astype(np.int64)
    binary = rng.random(20).astype(np.float32)
    binary_labels = np.where(binary > 0.5, 1, 0).astype(np.int64)
    data = DataDir(latents=rng.standard_normal((20, 32)).astype(np.float32),
                   scores={"b": binary, "colour": scores}, labels={"b": binary_labels, "colour": labels},
                   splits={"b": {"train": list(range(14)), "val": list(range(14, 20))},
                           "colour": {"train": list(range(14)), "val": list(range(14, 20))}}, manifest={})
    write_data_dir(tmp_path / "data", data)
    err = _one_line_error(lambda: train.main(["--data_dir", str(tmp_path / "data"), "--out_dir",
                                              str(tmp_path / "model"), "--n_epochs", "1", "--quiet"]), capsys)
    assert "attribute 'colour' has no training sample of class 1" in err, err
    assert "sample more (--n_samples), use another scorer, or give the attribute fewer classes" in err, err
    assert "or leave 'colour' out with --attributes" in err, err
    assert not (tmp_path / "model").exists()
    train.main(["--data_dir", str(tmp_path / "data"), "--out_dir", str(tmp_path / "model"), "--attributes", "b",
                "--n_epochs", "1", "--quiet"])
    assert (tmp_path / "model" / "classifier.json").is_file()


def test_scripts_start_quiet(tmp_path):
    """scripts/demo_summary.py and python -m gradctrl.world start as quietly as the commands (issue 24, item 6):
    with TF_CPP_MIN_LOG_LEVEL unset, a run that loads TensorFlow (the world's Keras scorer) and then refuses
    its input writes only its one-line error; TensorFlow's start-up log (cuInit, oneDNN) is hidden."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    (tmp_path / "edits").mkdir()
    summary = subprocess.run([sys.executable, "scripts/demo_summary.py", "--config", "configs/world.toml",
                              "--edits", str(tmp_path / "edits")], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=300)
    assert summary.returncode == 2 and summary.stderr.startswith("demo_summary.py: error: --edits"), summary.stderr
    assert len(summary.stderr.splitlines()) == 1, summary.stderr
    quality = subprocess.run([sys.executable, "-m", "gradctrl.world", "quality", "--generator", str(tmp_path / "no.pkl"),
                              "--data", str(tmp_path), "--out_dir", str(tmp_path / "q")], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=300)
    assert quality.returncode == 2 and len(quality.stderr.splitlines()) == 1, quality.stderr
