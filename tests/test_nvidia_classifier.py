"""NVIDIA's CelebA-HQ attribute classifiers (ProGAN's D_paper): logits against NVIDIA's own outputs on the
fixture, against an independent float64 implementation on random variants (no fusing, minibatch stddev,
other sizes and channel counts, older protocols and state versions), safety and one-line errors."""
import pickle

import numpy as np
import pytest

import stylegan2
from stylegan2.classifier import fused_downscale_kernel, probabilities

from conftest import shared_file
from d_paper_helpers import (GlobalCall, Holder, dumps, network_state, random_d_paper, reference_logits,
                             write_classifier)


def rel_error(out, ref):
    """Largest |out - ref| / max(1, |ref|)."""
    ref = np.asarray(ref, np.float64)
    return float(np.max(np.abs(np.asarray(out, np.float64) - ref) / np.maximum(1.0, np.abs(ref))))


def nhwc(images):
    return np.ascontiguousarray(np.transpose(images, (0, 2, 3, 1)))


@pytest.fixture(scope="module")
def d64():
    return stylegan2.load_classifier(shared_file("fixtures/nvidia_classifiers/d64.pkl"))


@pytest.fixture(scope="module")
def d64_ref():
    return np.load(shared_file("fixtures/nvidia_classifiers/d64_ref.npz"))


def test_fixture_logits_match_nvidia(d64, d64_ref):
    assert (d64.resolution, d64.num_channels, d64.fused_scale, d64.mbstd_group_size) == (64, 3, True, 0)
    out = d64(nhwc(d64_ref["images"]))
    assert out.dtype == np.float32 and out.shape == (8,)
    assert rel_error(out, d64_ref["scores"][:, 0]) < 1e-4
    assert np.ptp(d64_ref["scores"]) > 5  # the reference logits spread: the check is not trivial


def test_fixture_2x_images_are_box_averaged_like_nvidias_metric(d64, d64_ref):
    assert rel_error(d64(nhwc(d64_ref["images_2x"])), d64_ref["scores_2x"][:, 0]) < 1e-4


def test_probabilities_are_nvidias_softmax(d64_ref):
    np.testing.assert_allclose(probabilities(d64_ref["scores"][:, 0]), d64_ref["probs"][:, 0], rtol=1e-5, atol=0)
    assert probabilities([0.0, 1000.0, -1000.0]).tolist() == [0.5, 1.0, 0.0]


def test_the_float64_reference_reproduces_nvidia_on_the_fixture(d64, d64_ref):
    """The independent implementation the variants are checked against agrees with NVIDIA's code."""
    state = d64.state
    assert rel_error(reference_logits(state.variables, state.static_kwargs, d64_ref["images"]),
                     d64_ref["scores"][:, 0]) < 1e-4
    assert rel_error(reference_logits(state.variables, state.static_kwargs, d64_ref["images_2x"]),
                     d64_ref["scores_2x"][:, 0]) < 1e-4


def test_fused_kernel_is_a_3x3_conv_then_2x2_box_filter():
    """Hand check of NVIDIA's conv2d_downscale2d formula: a 4x4 stride-2 conv with the padded, shifted-summed
    kernel equals the 3x3 'SAME' conv followed by 2x2 average pooling."""
    rng = np.random.RandomState(5)
    w = rng.standard_normal((3, 3, 2, 3)).astype(np.float32)
    fused = fused_downscale_kernel(w)
    assert fused.shape == (4, 4, 2, 3)
    np.testing.assert_allclose(fused[0, 0], w[0, 0] / 4, rtol=1e-6)
    np.testing.assert_allclose(fused[1, 2], (w[1, 2] + w[0, 2] + w[1, 1] + w[0, 1]) / 4, rtol=1e-6)
    x = rng.standard_normal((1, 8, 8, 2))
    xp = np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)])
    conv = sum(np.einsum("nhwi,io->nhwo", xp[:, dy:dy + 8, dx:dx + 8], w[dy, dx]) for dy in range(3) for dx in range(3))
    pooled = conv.reshape(1, 4, 2, 4, 2, 3).mean(axis=(2, 4))
    xp = np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)])
    strided = sum(np.einsum("nhwi,io->nhwo", xp[:, dy:dy + 8:2, dx:dx + 8:2], fused[dy, dx])
                  for dy in range(4) for dx in range(4))
    np.testing.assert_allclose(strided, pooled, rtol=1e-5, atol=1e-5)


# name -> (random_d_paper arguments, pickle options, batch size, image size factor)
VARIANTS = {
    "fused_32px_rgb": (dict(resolution=32), dict(protocol=4, version=3), 3, 1),
    "unfused_16px_gray_protocol2_version2": (dict(resolution=16, num_channels=1, fused_scale=False),
                                             dict(protocol=2, version=2), 2, 1),
    "mbstd4_two_groups_protocol3": (dict(resolution=8, mbstd_group_size=4), dict(protocol=3, version=3), 8, 1),
    "mbstd4_batch_below_group": (dict(resolution=8, mbstd_group_size=4, fused_scale=False), dict(), 3, 1),
    "mbstd2_unfused_4x_images": (dict(resolution=8, mbstd_group_size=2, fused_scale=False), dict(), 6, 4),
    "fmap_decay_half_protocol5_version4": (dict(resolution=16, fmap_base=32, fmap_max=64, fmap_decay=0.5),
                                           dict(protocol=5, version=4), 2, 2),
    "resolution4_two_channels": (dict(resolution=4, num_channels=2, mbstd_group_size=4), dict(), 4, 1),
    "no_wscale_unfused": (dict(resolution=16, use_wscale=False, fused_scale=False), dict(), 2, 1),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_random_variants_match_the_float64_reference(tmp_path, name):
    arguments, options, batch, factor = VARIANTS[name]
    variables, kwargs = random_d_paper(seed=len(name), **arguments)
    path = write_classifier(tmp_path / f"{name}.pkl", variables, kwargs, **options)
    clf = stylegan2.load_classifier(path)
    size = arguments["resolution"] * factor
    channels = arguments.get("num_channels", 3)
    images = np.random.RandomState(1).uniform(-1.5, 1.5, (batch, channels, size, size)).astype(np.float32)
    ref = reference_logits(variables, kwargs, images)
    out = clf(nhwc(images))
    assert out.shape == (batch,) and rel_error(out, ref) < 1e-4
    assert np.ptp(ref) > 1e-3 * max(1.0, np.abs(ref).max())  # the images give different logits


def test_minibatch_stddev_groups_images_as_nvidia_does(tmp_path):
    """Group size 4, batch 8: groups {0, 2, 4, 6} and {1, 3, 5, 7}; without the layer images are independent."""
    variables, kwargs = random_d_paper(seed=3, resolution=8, mbstd_group_size=4)
    clf = stylegan2.load_classifier(write_classifier(tmp_path / "mbstd.pkl", variables, kwargs))
    images = np.random.RandomState(2).uniform(-1, 1, (8, 8, 8, 3)).astype(np.float32)
    whole = np.asarray(clf(images))
    np.testing.assert_allclose(np.asarray(clf(images[0::2]))[[0]], whole[[0]], rtol=1e-5)  # group {0, 2, 4, 6}
    assert not np.allclose(np.asarray(clf(images[:4]))[0], whole[0], rtol=1e-3)
    plain = stylegan2.load_classifier(write_classifier(tmp_path / "plain.pkl", *random_d_paper(seed=3, resolution=8)))
    np.testing.assert_allclose(np.asarray(plain(images[2:3])), np.asarray(plain(images))[2:3], rtol=1e-5)


def test_one_traced_function_for_every_batch_and_size_and_tensor_inputs(d64, d64_ref):
    import tensorflow as tf

    images = tf.constant(nhwc(d64_ref["images"]).astype(np.float64))
    assert rel_error(d64(images[:3]), d64_ref["scores"][:3, 0]) < 1e-4
    assert rel_error(d64(nhwc(d64_ref["images_2x"][:5])), d64_ref["scores_2x"][:5, 0]) < 1e-4
    assert d64._logits_fn.experimental_get_tracing_count() == 1


# ---- safety -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["top", "variable", "kwargs"])
def test_code_running_globals_are_refused_before_anything_runs(tmp_path, where):
    marker = tmp_path / "ran"
    call = GlobalCall("os", "system", f"touch {marker}")
    variables, kwargs = random_d_paper(seed=0, resolution=4)
    state = network_state(variables, kwargs)
    if where == "variable":
        state["variables"].append(("lod", call))
    elif where == "kwargs":
        state["static_kwargs"]["resolution"] = call
    path = tmp_path / "evil.pkl"
    path.write_bytes(dumps(call if where == "top" else Holder(state)))
    with pytest.raises(stylegan2.InputError) as info:
        stylegan2.load_classifier(path)
    message = str(info.value)
    assert "'os.system', which is not on the allow-list" in message and "\n" not in message
    assert not marker.exists()


def test_stored_source_is_never_executed(tmp_path):
    marker = tmp_path / "ran"
    source = f"import os\nos.system('touch {marker}')\nraise RuntimeError('executed')\n"
    variables, kwargs = random_d_paper(seed=0, resolution=8)
    path = write_classifier(tmp_path / "source.pkl", variables, kwargs, build_module_src=source)
    clf = stylegan2.load_classifier(path)
    assert clf.state.build_module_src == source
    clf(np.zeros((1, 8, 8, 3), np.float32))
    assert not marker.exists()


def test_fixture_source_would_raise_if_executed(d64):
    with pytest.raises(RuntimeError, match="build_module_src was executed"):
        exec(compile(d64.state.build_module_src, "build_module_src", "exec"), {})  # what NVIDIA's loader would do


# ---- bad input ----------------------------------------------------------------------------------------

def one_line_error(func, *args):
    with pytest.raises(stylegan2.InputError) as info:
        func(*args)
    message = str(info.value)
    assert message and "\n" not in message
    return message


@pytest.fixture
def good(tmp_path):
    """(variables, kwargs) of a small valid classifier: 8 px, fused, fmap 16."""
    return random_d_paper(seed=1, resolution=8)


def test_bad_files(tmp_path, good, tiny_generator_path):
    missing = tmp_path / "celebahq-classifier-00-male.pkl"
    message = one_line_error(stylegan2.load_classifier, missing)
    assert "does not exist" in message and "https://nvlabs-fi-cdn.nvidia.com/stylegan/networks/metrics/" in message
    data = write_classifier(tmp_path / "good.pkl", *good).read_bytes()
    (tmp_path / "truncated.pkl").write_bytes(data[:len(data) // 2])
    assert "truncated" in one_line_error(stylegan2.load_classifier, tmp_path / "truncated.pkl")
    (tmp_path / "text.pkl").write_text("not a pickle")
    assert "is not a readable pickle" in one_line_error(stylegan2.load_classifier, tmp_path / "text.pkl")
    (tmp_path / "dict.pkl").write_bytes(pickle.dumps({"D": 1}, protocol=4))
    assert "holds a dict, not one NVIDIA network" in one_line_error(stylegan2.load_classifier, tmp_path / "dict.pkl")
    message = one_line_error(stylegan2.load_classifier, tiny_generator_path)
    assert f"classifier pickle '{tiny_generator_path}' holds a tuple of 3 items, not one NVIDIA network" in message


@pytest.mark.parametrize("change, fragment", [
    (dict(build_func_name="G_main"), "built by 'G_main', not ProGAN's 'D_paper'"),
    (dict(version=5), "state version 5; only versions 2-4"),
    (dict(kwargs={"label_size": 40}), "conditional networks (label_size = 40) are not supported"),
    (dict(kwargs={"resolution": 12}), "resolution 12 is not a power of two"),
    (dict(kwargs={"resolution": 16}), "'FromRGB_lod0/weight' has shape (1, 1, 3, 16), expected (1, 1, 3, 8)"),
    (dict(kwargs={"fused_scale": False}), "lacks the variable '8x8/Conv1/weight'"),
    (dict(kwargs={"fused_scale": "yes"}), "the stored kwarg fused_scale = 'yes' is not True or False"),
    (dict(kwargs={"mbstd_group_size": 4}), "'4x4/Conv/weight' has shape (3, 3, 16, 16), expected (3, 3, 17, 16)"),
    (dict(kwargs={"fmap_max": 8}), "'FromRGB_lod0/weight' has shape (1, 1, 3, 16), expected (1, 1, 3, 8)"),
    (dict(kwargs={"dtype": "float16"}), "dtype = 'float16' is not supported"),
    (dict(variables={"lod": np.float32(1.0)}), "its lod is 1, not 0: it is a snapshot of progressive training"),
    (dict(variables={"8x8/Extra/weight": np.zeros(2)}), "unexpected variable '8x8/Extra/weight'"),
    (dict(drop="FromRGB_lod1/bias"), "lacks the variable 'FromRGB_lod1/bias'"),
])
def test_unsupported_or_damaged_classifiers(tmp_path, good, change, fragment):
    variables, kwargs = dict(good[0]), dict(good[1])
    variables.update(change.get("variables", {}))
    variables.pop(change.get("drop"), None)
    kwargs.update(change.get("kwargs", {}))
    options = {key: change[key] for key in ("build_func_name", "version") if key in change}
    path = write_classifier(tmp_path / "bad.pkl", variables, kwargs, **options)
    message = one_line_error(stylegan2.load_classifier, path)
    assert fragment in message and f"classifier pickle '{path}'" in message


def test_bad_images(tmp_path, good, d64):
    assert "images are 100x100; the classifier reads 64x64 images or a whole multiple" in one_line_error(
        d64, np.zeros((1, 100, 100, 3), np.float32))
    assert "images are 64x128" in one_line_error(d64, np.zeros((1, 64, 128, 3), np.float32))
    assert "images have shape (1, 64, 64, 1), expected (N, H, W, 3)" in one_line_error(
        d64, np.zeros((1, 64, 64, 1), np.float32))
    assert "images have shape (64, 64, 3)" in one_line_error(d64, np.zeros((64, 64, 3), np.float32))
    assert "images must be a numeric array" in one_line_error(d64, "faces")
    bad = np.zeros((2, 64, 64, 3), np.float32)
    bad[1, 3, 4, 0] = np.nan
    assert "images contain NaN or infinite values" in one_line_error(d64, bad)
    variables, kwargs = random_d_paper(seed=1, resolution=8, mbstd_group_size=4)
    mbstd = stylegan2.load_classifier(write_classifier(tmp_path / "mbstd.pkl", variables, kwargs))
    assert "a batch of 6 images: the classifier's minibatch-stddev layer groups 4 images" in one_line_error(
        mbstd, np.zeros((6, 8, 8, 3), np.float32))
