"""Our generator against outputs computed by NVIDIA's own StyleGAN2 code (../shared/fixtures/stylegan2)."""
import json

import numpy as np
import pytest
import tensorflow as tf

import stylegan2
from stylegan2 import ops
from stylegan2.generator import Generator
from stylegan2.official_pickle import NetworkState, read_networks

from conftest import shared_file

FIXTURES = ["skip32", "resnet16"]
MAPPING_TOL = 1e-4
IMAGE_TOL = 2e-3


@pytest.fixture(scope="module", autouse=True)
def no_tf32():
    """Full float32 matmuls/convolutions on GPUs (TF32 would break fidelity); restored afterwards."""
    previous = tf.config.experimental.tensor_float_32_execution_enabled()
    tf.config.experimental.enable_tensor_float_32_execution(False)
    yield
    tf.config.experimental.enable_tensor_float_32_execution(previous)


@pytest.fixture(scope="module", params=FIXTURES)
def case(request):
    """(name, Generator loaded from the official pickle, reference arrays, fixture description)."""
    name = request.param
    generator = stylegan2.load_generator(shared_file(f"fixtures/stylegan2/{name}.pkl"))
    ref = dict(np.load(shared_file(f"fixtures/stylegan2/{name}_ref.npz")))
    info = json.loads(shared_file(f"fixtures/stylegan2/{name}.json").read_text())
    return name, generator, ref, info


def nhwc(images_nchw):
    return np.transpose(images_nchw, (0, 2, 3, 1))


def test_sizes_read_from_the_pickle(case):
    name, G, ref, info = case
    n, c, h, w = info["output_shape_nchw"]
    assert (G.img_channels, G.img_resolution) == (c, h)
    assert G.num_ws == info["num_ws"] == ref["wplus"].shape[1]
    assert (G.z_dim, G.w_dim) == (ref["z"].shape[1], ref["w_psi1"].shape[2])
    assert G.architecture == info["construction"]["G_args"].get("architecture", "skip")
    np.testing.assert_array_equal(G.w_avg, ref["dlatent_avg"])


def test_mapping_matches_nvidia(case):
    _, G, ref, _ = case
    ws = np.asarray(G.mapping(ref["z"]))
    assert ws.shape == ref["w_psi1"].shape and ws.dtype == np.float32
    assert np.abs(ws - ref["w_psi1"]).max() < MAPPING_TOL
    ws05 = np.asarray(G.mapping(tf.constant(ref["z"]), truncation_psi=0.5))
    assert np.abs(ws05 - ref["w_psi05"]).max() < MAPPING_TOL


@pytest.mark.parametrize("psi_key", ["psi1", "psi05"])
def test_images_match_nvidia(case, psi_key):
    _, G, ref, _ = case
    psi = {"psi1": 1.0, "psi05": 0.5}[psi_key]
    images = np.asarray(G.synthesis(G.mapping(ref["z"], truncation_psi=psi)))
    expected = nhwc(ref[f"img_{psi_key}"])
    assert images.shape == expected.shape and images.dtype == np.float32
    assert np.abs(images - expected).max() < IMAGE_TOL


def test_wplus_images_and_uint8_match_nvidia(case):
    _, G, ref, _ = case
    images = np.asarray(G.synthesis(ref["wplus"], noise_mode="const"))
    expected = nhwc(ref["img_wplus"])
    assert np.abs(images - expected).max() < IMAGE_TOL
    u8 = stylegan2.to_uint8(images)
    assert u8.dtype == np.uint8 and u8.shape == ref["img_wplus_uint8"].shape
    diff = np.abs(u8.astype(int) - ref["img_wplus_uint8"].astype(int))
    value = expected * 127.5 + 128.0  # NVIDIA's value before truncation: near an integer it may go either way
    near_boundary = (np.abs(value - np.round(value)) < 0.01) & (value > -0.01) & (value < 255.01)
    assert diff.max() <= 1
    assert not np.any((diff > 0) & ~near_boundary)


def test_to_uint8_is_nvidias_conversion(case):
    _, _, ref, _ = case
    # Applied to NVIDIA's own float output, the conversion reproduces NVIDIA's uint8 exactly.
    np.testing.assert_array_equal(stylegan2.to_uint8(nhwc(ref["img_wplus"])), ref["img_wplus_uint8"])


@pytest.mark.parametrize("cutoff", [0, 1, 3, 100])
def test_truncation_cutoff(case, cutoff):
    _, G, ref, _ = case
    w, avg = ref["w_psi1"], ref["dlatent_avg"]
    layer = np.arange(G.num_ws)[np.newaxis, :, np.newaxis]
    expected = np.where(layer < cutoff, avg + (w - avg) * 0.5, w)
    ws = np.asarray(G.mapping(ref["z"], truncation_psi=0.5, truncation_cutoff=cutoff))
    assert np.abs(ws - expected).max() < MAPPING_TOL
    if cutoff >= G.num_ws:
        assert np.abs(ws - ref["w_psi05"]).max() < MAPPING_TOL


def test_random_noise_is_seeded_and_used(case):
    _, G, ref, _ = case
    ws = ref["wplus"][:2]
    a = np.asarray(G.synthesis(ws, noise_mode="random", seed=5))
    b = np.asarray(G.synthesis(ws, noise_mode="random", seed=5))
    c = np.asarray(G.synthesis(ws, noise_mode="random", seed=6))
    const = np.asarray(G.synthesis(ws))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-2 and np.abs(a - const).max() > 1e-2
    # Giving the stored buffers explicitly is the same as noise_mode="const".
    stored = [G.state.components["synthesis"].variables[f"noise{i}"][0, 0] for i in range(len(G.noise_shapes))]
    np.testing.assert_array_equal(np.asarray(G.synthesis(ws, noise=stored)), const)


def test_batch_size_does_not_change_outputs(case):
    _, G, ref, _ = case
    full = np.asarray(G.synthesis(ref["wplus"]))
    one = np.concatenate([np.asarray(G.synthesis(ref["wplus"][i:i + 1])) for i in range(len(ref["wplus"]))])
    assert np.abs(full - one).max() < 1e-4


def test_gs_is_read_not_g(case):
    name, G, _, _ = case
    gs = read_networks(shared_file(f"fixtures/stylegan2/{name}.pkl"))
    assert gs.name == "Gs" and set(gs.components) == {"mapping", "synthesis"}
    # The fixture's build_module_src raises if executed: reading it leaves it as inert text.
    assert "raise RuntimeError" in gs.build_module_src


def _truncated_skip(state, resolution):
    """The skip network's variables restricted to resolutions <= ``resolution`` (a smaller skip network)."""
    synthesis = state.components["synthesis"]
    num_ws = 2 * int(np.log2(resolution)) - 2
    keep = {k: v for k, v in synthesis.variables.items()
            if (k.startswith("noise") and int(k[5:]) < num_ws - 1)
            or (not k.startswith("noise") and int(k.split("x")[0]) <= resolution)}
    kwargs = dict(synthesis.static_kwargs, resolution=resolution)
    mapping = state.components["mapping"]
    components = {"synthesis": NetworkState("G_synthesis", kwargs, "G_synthesis_stylegan2", keep),
                  "mapping": NetworkState("G_mapping", dict(mapping.static_kwargs, dlatent_broadcast=num_ws),
                                          "G_mapping", mapping.variables)}
    return NetworkState("Gs", dict(state.static_kwargs, resolution=resolution), "G_main", state.variables, components)


def test_orig_architecture_from_the_verified_skip_network():
    """orig = the skip network's last ToRGB alone: skip_R(ws) - upsample(skip_R/2(ws[:, :-2])) (no fixture of its own)."""
    G = stylegan2.load_generator(shared_file("fixtures/stylegan2/skip32.pkl"))
    ref = np.load(shared_file("fixtures/stylegan2/skip32_ref.npz"))
    ws = ref["wplus"]
    half = Generator(_truncated_skip(G.state, 16))
    synthesis = G.state.components["synthesis"]
    orig_vars = {k: v for k, v in synthesis.variables.items() if "ToRGB" not in k or k.startswith("32x32/")}
    orig = G.state.clone("Gs")
    orig.components["synthesis"] = NetworkState("G_synthesis", dict(synthesis.static_kwargs, architecture="orig"),
                                                "G_synthesis_stylegan2", orig_vars)
    G_orig = Generator(orig)
    assert G_orig.architecture == "orig"
    expected = nhwc(ref["img_wplus"]) - np.asarray(ops.upsample_2d(half.synthesis(ws[:, :half.num_ws]), (1, 3, 3, 1)))
    assert np.abs(np.asarray(G_orig.synthesis(ws)) - expected).max() < IMAGE_TOL
