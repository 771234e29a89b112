"""StyleGAN2 training (stylegan2.training, stylegan2.discriminator, stylegan2.dataset, stylegan2.metrics,
``python -m stylegan2 train``): NVIDIA's discriminator layout and ops, the recipe's arithmetic by hand,
snapshots, exact resume after kill -9, a short run that learns, and bad input."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

import stylegan2
from stylegan2 import official_pickle, ops
from stylegan2.discriminator import (Discriminator, conv_downsample_2d, minibatch_stddev, nf,
                                     random_discriminator_variables)
from stylegan2.metrics import keras_features, kid
from stylegan2.training import (Adam, Trainer, TrainingOptions, ema_beta, lazy_regularization, render, train)

from conftest import ROOT

TINY = dict(fmap_base=64, fmap_max=16, z_dim=16, w_dim=16, mapping_layers=1, batch_size=8, snapshot_kimg=0.064,
            grid_size=2, r1_gamma=0.05)


def discs(n=64, resolution=16, seed=0):
    """A tiny training set: a centred disc of one of two colours and random radius on black. uint8 (n, R, R, 3)."""
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[:resolution, :resolution] + 0.5
    images = np.zeros((n, resolution, resolution, 3), np.uint8)
    colours = np.array([[230, 60, 40], [40, 90, 230]], np.uint8)
    for i in range(n):
        radius = rng.uniform(resolution / 5, resolution / 3)
        images[i][(yy - resolution / 2) ** 2 + (xx - resolution / 2) ** 2 < radius ** 2] = colours[rng.randint(2)]
    return images


def test_discriminator_has_nvidias_variables():
    """D_stylegan2 (resnet) at 32 px, fmap_base 1024, fmap_max 128, mbstd 4: the names and shapes NVIDIA's
    code creates, in its order (listed by hand from training/networks_stylegan2.py)."""
    variables = random_discriminator_variables(32, 3, 1024, 128, mbstd_group_size=4)
    n = [nf(s, 1024, 128) for s in range(5)]
    assert n == [128, 128, 128, 128, 64]
    expected = [("32x32/FromRGB/weight", (1, 1, 3, 64)), ("32x32/FromRGB/bias", (64,)),
                ("32x32/Conv0/weight", (3, 3, 64, 64)), ("32x32/Conv0/bias", (64,)),
                ("32x32/Conv1_down/weight", (3, 3, 64, 128)), ("32x32/Conv1_down/bias", (128,)),
                ("32x32/Skip/weight", (1, 1, 64, 128))]
    for res, c in ((16, 128), (8, 128)):
        expected += [(f"{res}x{res}/Conv0/weight", (3, 3, c, 128)), (f"{res}x{res}/Conv0/bias", (128,)),
                     (f"{res}x{res}/Conv1_down/weight", (3, 3, 128, 128)), (f"{res}x{res}/Conv1_down/bias", (128,)),
                     (f"{res}x{res}/Skip/weight", (1, 1, c, 128))]
    expected += [("4x4/Conv/weight", (3, 3, 129, 128)), ("4x4/Conv/bias", (128,)),
                 ("4x4/Dense0/weight", (2048, 128)), ("4x4/Dense0/bias", (128,)),
                 ("Output/weight", (128, 1)), ("Output/bias", (1,))]
    assert [(k, v.shape) for k, v in variables.items()] == expected
    D = Discriminator(variables, dict(num_channels=3, resolution=32, fmap_base=1024, fmap_max=128))
    assert list(D.variables_by_name) == [k for k, _ in expected]
    assert D(tf.zeros([4, 32, 32, 3])).shape == (4, 1)


def test_conv_downsample_matches_nvidias_upfirdn_form():
    """FIR (pad, filter) then a VALID stride-2 conv, against the reference upfirdn op and a strided conv."""
    rng = np.random.RandomState(0)
    x = rng.standard_normal((2, 8, 8, 3)).astype(np.float32)
    for kernel in (3, 1):
        w = rng.standard_normal((kernel, kernel, 3, 5)).astype(np.float32)
        p = 2 + kernel - 1
        blurred = ops.upfirdn_2d(tf.constant(x), ops.setup_fir_kernel((1, 3, 3, 1)), pad0=(p + 1) // 2, pad1=p // 2)
        expected = tf.nn.conv2d(blurred, w, strides=2, padding="VALID")
        np.testing.assert_allclose(conv_downsample_2d(tf.constant(x), w, (1, 3, 3, 1)), expected, atol=1e-5)
        assert expected.shape == (2, 4, 4, 5)


def test_minibatch_stddev_matches_nvidias_grouping():
    """NVIDIA's NCHW computation written out in numpy: groups are samples i, i + M, i + 2M, ... (M = N / G)."""
    rng = np.random.RandomState(1)
    x = rng.standard_normal((8, 4, 4, 6)).astype(np.float32)
    for group, features in ((4, 1), (2, 2), (8, 3)):
        nchw = x.transpose(0, 3, 1, 2).astype(np.float64)
        y = nchw.reshape(group, -1, features, 6 // features, 4, 4)
        y = np.sqrt(((y - y.mean(axis=0)) ** 2).mean(axis=0) + 1e-8).mean(axis=(2, 3, 4))  # (M, n)
        y = np.tile(y, (group, 1))  # sample i gets group i mod M
        out = minibatch_stddev(tf.constant(x), group, features).numpy()
        np.testing.assert_allclose(out[..., :6], x)
        np.testing.assert_allclose(out[..., 6:], np.broadcast_to(y[:, None, None, :], (8, 4, 4, features)), rtol=1e-5)


def test_lazy_regularization_ema_and_adam_arithmetic_by_hand():
    assert lazy_regularization(0.002, 0.0, 0.99, 16) == pytest.approx((0.002 * 16 / 17, 0.0, 0.99 ** (16 / 17)))
    assert ema_beta(32, 10.0, None, 5) == pytest.approx(0.5 ** (32 / 10000))
    assert ema_beta(32, 10.0, 0.05, 1000) == pytest.approx(0.5 ** (32 / 50))  # ramp-up caps the half-life
    assert ema_beta(32, 10.0, 0.05, 10 ** 6) == pytest.approx(0.5 ** (32 / 10000))
    var = tf.Variable([1.0, -2.0])
    adam = Adam([var], lr=0.1, beta1=0.5, beta2=0.9, eps=1e-8, name="adam")
    for g in ([0.2, -0.4], [0.1, 0.3]):
        adam.apply([tf.constant(g)])
    g1, g2 = np.array([0.2, -0.4]), np.array([0.1, 0.3])
    x = np.array([1.0, -2.0])
    m, v = 0.5 * g1, 0.1 * g1 ** 2
    x = x - 0.1 * np.sqrt(1 - 0.9) / (1 - 0.5) * m / (np.sqrt(v) + 1e-8)
    m, v = 0.5 * m + 0.5 * g2, 0.9 * v + 0.1 * g2 ** 2
    x = x - 0.1 * np.sqrt(1 - 0.81) / (1 - 0.25) * m / (np.sqrt(v) + 1e-8)
    np.testing.assert_allclose(var.numpy(), x, rtol=1e-5)


@pytest.fixture(scope="module")
def trainer():
    t = Trainer(discs(), TrainingOptions(**TINY))
    for _ in range(3):
        t.train_iteration()
    return t


def test_training_steps_give_finite_nonzero_gradients_and_the_ema_by_hand(trainer):
    reals = tf.constant(trainer.reals(0))
    it = tf.constant(3, tf.int64)
    with tf.GradientTape() as tape:
        fakes, _, _ = trainer._generate(it, 8, 100)
        g_loss = tf.reduce_mean(tf.nn.softplus(-trainer.D(fakes)))
    with tf.GradientTape() as d_tape:
        d_loss = tf.reduce_mean(tf.nn.softplus(trainer.D(tf.stop_gradient(fakes)))) + tf.reduce_mean(
            tf.nn.softplus(-trainer.D(reals)))
    for grads, variables in ((tape.gradient(g_loss, trainer.g_vars), trainer.g_vars),
                             (d_tape.gradient(d_loss, trainer.d_vars), trainer.d_vars)):
        for g, v in zip(grads, variables):
            assert g is not None and np.isfinite(g.numpy()).all() and np.abs(g.numpy()).max() > 0, v.name
    # One EMA step: Gs <- G + (Gs - G) * beta for trainables; non-trainables copied.
    before_g = {k: v.numpy() for k, v in trainer.G_vars().items()}
    before_gs = {k: v.numpy() for k, v in trainer.Gs_vars().items()}
    trainer.ema_step(tf.constant(0.75))
    for name, var in trainer.Gs_vars().items():
        trainable = trainer.G_vars()[name].trainable
        expected = before_g[name] + (before_gs[name] - before_g[name]) * 0.75 if trainable else before_g[name]
        np.testing.assert_allclose(var.numpy(), expected, rtol=1e-6, atol=1e-7, err_msg=name)


def test_snapshot_loads_and_renders_what_the_trainer_renders(trainer, tmp_path):
    path = tmp_path / "snap.pkl"
    official_pickle.write_networks(path, trainer.networks())
    loaded = stylegan2.load_generator(path)
    z = np.random.RandomState(0).randn(4, 16).astype(np.float32)
    np.testing.assert_array_equal(render(loaded, z), render(trainer.Gs, z))
    np.testing.assert_array_equal(loaded.w_avg, trainer.Gs.w_avg)
    g, d, gs = official_pickle.read_network_tuple(path)
    assert (g.name, d.name, gs.name, d.build_func_name) == ("G", "D", "Gs", "D_stylegan2")
    for name, var in trainer.D.variables_by_name.items():
        np.testing.assert_array_equal(d.variables[name], var.numpy())
    # G (the training network) differs from Gs after training, as in NVIDIA's pickles.
    assert any(not np.array_equal(g.components["synthesis"].variables[k], v)
               for k, v in gs.components["synthesis"].variables.items())


def test_kid_is_zero_for_equal_sets_and_grows_with_a_shift():
    rng = np.random.RandomState(0)
    a, b = rng.standard_normal((400, 8)), rng.standard_normal((400, 8))
    assert abs(kid(a, b, num_subsets=20)) < 0.02
    assert kid(a, b + 1.0, num_subsets=20) > 0.2
    inputs = tf.keras.Input((16, 16, 3))
    hidden = tf.keras.layers.Dense(4, name="features")(tf.keras.layers.Flatten()(inputs))
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(1)(hidden))
    features = keras_features_from(model)
    images = discs(10)
    expected = tf.keras.Model(inputs, hidden)(images.astype(np.float32)).numpy()
    np.testing.assert_allclose(features(images), expected, rtol=1e-5)


def keras_features_from(model):
    """keras_features of ``model`` saved to a temporary .keras file."""
    import tempfile

    path = os.path.join(tempfile.mkdtemp(), "m.keras")
    model.save(path)
    return keras_features(path)


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "stylegan2", "train", *args], cwd=ROOT, capture_output=True,
                          text=True, env=env, timeout=600)


def tiny_flags(data, outdir, total):
    return ["--data", str(data), "--out_dir", str(outdir), "--total_kimg", str(total), "--no_progress"] + [
        item for key, value in TINY.items() for item in (f"--{key.replace('_', '-')}", str(value))]


def test_kill_and_resume_reproduces_the_uninterrupted_run(tmp_path):
    data = tmp_path / "discs.npy"
    np.save(data, discs())
    env = dict(os.environ, TF_DETERMINISTIC_OPS="1", TF_CPP_MIN_LOG_LEVEL="3")
    whole = run_cli(*tiny_flags(data, tmp_path / "whole", 0.192), env=env)
    assert whole.returncode == 0, whole.stderr[-500:]
    # The same run, killed with SIGKILL after its first training snapshot, then resumed.
    outdir = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "stylegan2", "train", *tiny_flags(data, outdir, 50)], cwd=ROOT,
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = outdir / "log.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and not (log.exists() and log.read_text().count("\n") >= 2):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = json.loads(log.read_text().split("\n")[-2])["kimg"]  # the last whole line
    assert 0 < killed_at < 0.192
    resumed = run_cli("--out_dir", str(outdir), "--resume", "--total_kimg", "0.192", "--no_progress", env=env)
    assert resumed.returncode == 0, resumed.stderr[-500:]
    a = np.load(tmp_path / "whole" / "checkpoint.npz")
    b = np.load(outdir / "checkpoint.npz")
    assert sorted(a.files) == sorted(b.files) and int(a["iteration"]) == 24
    for key in a.files:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    kimgs = [json.loads(line)["kimg"] for line in log.read_text().splitlines()]
    assert kimgs == sorted(set(kimgs)) and kimgs[-1] == pytest.approx(0.192)
    whole_log = [json.loads(line) for line in (tmp_path / "whole" / "log.jsonl").read_text().splitlines()]
    resumed_log = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["loss_G"] for r in whole_log[1:]] == [r["loss_G"] for r in resumed_log[1:]]


def test_a_short_run_learns_the_data(tmp_path):
    """A few hundred minibatches on discs: KID (in raw-pixel features) falls well below its initial value."""
    images = discs(256)
    options = TrainingOptions(**dict(TINY, total_kimg=3.2, snapshot_kimg=3.2, batch_size=16, seed=1))
    data = tmp_path / "discs.npy"
    np.save(data, images)
    options.data = str(data)
    first = Trainer(images, options)
    z = np.random.RandomState(3).randn(256, 16).astype(np.float32)

    def pixel_kid(generator):
        fakes = render(generator, z).reshape(256, -1) / 255.0
        return kid(images.reshape(256, -1) / 255.0, fakes, num_subsets=20)
    before = pixel_kid(first.Gs)
    trained = train(options, tmp_path / "run", progress=False)
    after = pixel_kid(trained.Gs)
    baseline = kid(images[:128].reshape(128, -1) / 255.0, images[128:].reshape(128, -1) / 255.0, num_subsets=20)
    assert after < 0.25 * before, (before, after, baseline)


def test_two_devices_train_as_one_device(tmp_path):
    """Data-parallel training on two logical CPU devices (tests/two_cpu_devices.py, its own process) against
    one device on the same data: 3 minibatches with every step (D, R1, G, path length, EMA), minibatch stddev
    off (its groups are per device by design). Every variable, Adam slot and counter agrees to float32
    rounding: the two runs differ only in summation order (a mean over 8 samples against the mean of two
    means over 4) and measured at most 1.2e-6 on values up to 4 (a few ulps); the tolerance, 1e-5 absolute
    plus 1e-5 relative, is 8x that and 200x below one Adam step (lr 0.002), so a wrong slice, a missing
    all-reduce or a per-device running mean would fail. Both devices' copies are bit-identical, and the
    two-device run's last snapshot loads with stylegan2.load_generator and holds its final Gs."""
    data = tmp_path / "discs.npy"
    np.save(data, discs())
    options = dict(TINY, mbstd_group_size=1, r1_interval=2, pl_weight=2.0, pl_interval=2)
    out = tmp_path / "compare.npz"
    result = subprocess.run([sys.executable, str(ROOT / "tests" / "two_cpu_devices.py"), str(data), json.dumps(options),
                             "3", str(tmp_path / "run"), str(out)], cwd=ROOT, capture_output=True, text=True,
                            env=dict(os.environ, TF_DETERMINISTIC_OPS="1", TF_CPP_MIN_LOG_LEVEL="3"), timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    arrays = np.load(out)
    assert float(arrays["replica_spread"]) == 0.0
    keys = sorted(key[4:] for key in arrays.files if key.startswith("one/"))
    assert keys == sorted(key[4:] for key in arrays.files if key.startswith("two/"))
    assert int(arrays["two/iteration"]) == int(arrays["one/iteration"]) == 3
    for key in keys:
        np.testing.assert_allclose(arrays[f"two/{key}"], arrays[f"one/{key}"], rtol=1e-5, atol=1e-5, err_msg=key)
    log = json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[-1])
    for key in ("loss_D", "r1", "loss_G", "pl"):
        assert log[key] == pytest.approx(float(arrays[f"one_{key}"]), rel=1e-5), key
    assert json.loads((tmp_path / "run" / "training_options.json").read_text())["devices"] == 2
    loaded = stylegan2.load_generator(tmp_path / "run" / "network-snapshot-000000.pkl")
    gs = {key[len("two/Gs/"):]: arrays[key] for key in arrays.files if key.startswith("two/Gs/")}
    np.testing.assert_array_equal(loaded.w_avg, gs["dlatent_avg"])
    for name, var in loaded.synthesis_network.variables_by_name.items():
        np.testing.assert_array_equal(var.numpy(), gs[f"synthesis/{name}"], err_msg=name)


@pytest.mark.parametrize("case, message", [
    ("missing", "does not exist"),
    ("mixed", "all images must have the same size"),
    ("npot", "not a power of two"),
    ("few", "training needs at least 16"),
    ("float", "expected uint8"),
    ("taken", "is not empty"),
    ("resume_empty", "holds no training run"),
    ("devices", "--batch_size 8 must be a multiple of --devices 3"),
    ("devices_mbstd", "--batch_size 12 / --devices 2 = 6 images per device must be a multiple of --mbstd_group_size 4"),
    ("devices_missing", "--devices 8: TensorFlow sees 1 CPU device(s) and no GPU"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, case, message):
    from PIL import Image

    data = tmp_path / "data"
    data.mkdir()
    outdir = tmp_path / "out"
    if case == "mixed":
        for i, size in enumerate((16, 16, 8)):
            Image.fromarray(np.zeros((size, size, 3), np.uint8)).save(data / f"{i}.png")
    elif case == "npot":
        data = tmp_path / "a.npy"
        np.save(data, np.zeros((20, 12, 12, 3), np.uint8))
    elif case == "few":
        data = tmp_path / "a.npy"
        np.save(data, np.zeros((4, 16, 16, 3), np.uint8))
    elif case == "float":
        data = tmp_path / "a.npy"
        np.save(data, np.zeros((20, 16, 16, 3), np.float32))
    elif case == "missing":
        data = tmp_path / "nothing"
    elif case == "taken":
        outdir.mkdir()
        (outdir / "training_options.json").write_text("{}")
        data = tmp_path / "a.npy"
        np.save(data, discs(16))
    elif case.startswith("devices"):
        data = tmp_path / "a.npy"
        np.save(data, discs(16))
    args = tiny_flags(data, outdir, 0.1) + {"devices": ["--devices", "3"], "devices_missing": ["--devices", "8"],
                                            "devices_mbstd": ["--devices", "2", "--batch_size", "12",
                                                              "--mbstd_group_size", "4"]}.get(case, [])
    if case == "resume_empty":
        args = ["--out_dir", str(outdir), "--resume"]
    result = run_cli(*args, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(lines) == 1 and message in lines[0], result.stderr[-400:]
    assert "Traceback" not in result.stderr


def test_mapping_lrmul_speeds_the_mapping_without_changing_its_start():
    """Same seed: the same initial mapping function at lrmul 0.01 and 1.0. One Adam step (beta1 0) moves every
    stored weight by lr * sign(gradient), so the mapping's output w moves about lrmul times as far: 100x."""
    z = tf.constant(np.random.RandomState(1).standard_normal((16, TINY["z_dim"])).astype(np.float32))
    trainers = {lrmul: Trainer(discs(), TrainingOptions(**TINY, mapping_lrmul=lrmul)) for lrmul in (0.01, 1.0)}
    start = {lrmul: t.G.mapping(z).numpy() for lrmul, t in trainers.items()}
    np.testing.assert_allclose(start[0.01], start[1.0], rtol=1e-5, atol=1e-6)
    moved = {}
    for lrmul, t in trainers.items():
        t.train_iteration()
        moved[lrmul] = np.abs(t.G.mapping(z).numpy() - start[lrmul]).mean()
    assert moved[0.01] > 0
    assert moved[1.0] / moved[0.01] == pytest.approx(100, rel=0.1)


def test_resume_keeps_the_runs_own_settings(tmp_path):
    """A resumed run trains to its stored --total_kimg unless told otherwise (not to a default), may extend it,
    and refuses a flag that would change the run."""
    data = tmp_path / "discs.npy"
    np.save(data, discs())
    options = TrainingOptions(**dict(TINY, total_kimg=0.128, data=str(data)))
    run = tmp_path / "run"
    assert train(options, run, progress=False, stop_after_kimg=0.064).kimg == pytest.approx(0.064)
    assert train({}, run, resume=True, progress=False, stop_after_kimg=1.0).kimg == pytest.approx(0.128)
    assert train({"total_kimg": 0.192}, run, resume=True, progress=False).kimg == pytest.approx(0.192)
    for flags, named in ((["--lr", "0.1"], "--lr cannot change"), (["--preset", "32"], "drop --preset")):
        result = run_cli("--out_dir", str(run), "--resume", *flags, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
        lines = [line for line in result.stderr.splitlines() if "error:" in line]
        assert result.returncode == 2 and len(lines) == 1 and named in lines[0], result.stderr[-400:]


class Killed(BaseException):
    """Stands for SIGKILL at a chosen point inside a snapshot (not an Exception: a failed start's cleanup, which
    a kill never runs, does not run for it either)."""


@pytest.mark.parametrize("killed_at_checkpoint", [1, 2])
def test_a_kill_between_a_log_line_and_its_checkpoint_leaves_one_line_per_snapshot(tmp_path, monkeypatch,
                                                                                     killed_at_checkpoint):
    """A snapshot appends its log line, then writes its checkpoint; a run killed between the two (or while
    appending) resumes from the previous checkpoint (or from scratch) and logs each kimg once."""
    from stylegan2 import training

    data = tmp_path / "discs.npy"
    np.save(data, discs())
    options = TrainingOptions(**dict(TINY, total_kimg=0.128, data=str(data)))
    run = tmp_path / "run"
    calls, write = [], training.RunFolder.write_checkpoint

    def write_or_die(self, arrays):
        calls.append(1)
        if len(calls) == killed_at_checkpoint:
            raise Killed
        write(self, arrays)
    monkeypatch.setattr(training.RunFolder, "write_checkpoint", write_or_die)
    with pytest.raises(Killed):
        train(options, run, progress=False)
    monkeypatch.setattr(training.RunFolder, "write_checkpoint", write)
    with open(run / "log.jsonl", "a") as log:
        log.write('{"kimg": 0.1')  # a line the kill cut short
    assert train({}, run, resume=True, progress=False).kimg == pytest.approx(0.128)
    kimgs = [json.loads(line)["kimg"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert kimgs == pytest.approx([0.0, 0.064, 0.128])


def test_bfloat16_training_iterations_match_float32_closely():
    """Two trainers from the same seed, float32 and bfloat16 (G's and D's convolutions): the first
    iteration's losses agree to bfloat16 rounding, and the weights stay float32 (master weights) and finite."""
    images = discs(16)
    trainers = [Trainer(images, TrainingOptions(**TINY, precision=precision)) for precision in ("float32", "bfloat16")]
    losses = [trainer.train_iteration() for trainer in trainers]
    assert set(losses[0]) == set(losses[1]) == {"loss_D", "r1", "loss_G"}
    for key in losses[0]:
        assert losses[1][key] == pytest.approx(losses[0][key], rel=0.05, abs=1e-3), key
    for var in trainers[1].g_vars + trainers[1].d_vars:
        assert var.dtype == tf.float32 and np.isfinite(var.numpy()).all(), var.name
