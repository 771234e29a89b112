"""The fast synthesis path (polyphase up-sampling, fused layer steps) against the straightforward path and NVIDIA."""
import numpy as np
import pytest
import tensorflow as tf

import stylegan2
from stylegan2 import ops
from stylegan2.fast_synthesis import FastSynthesis
from stylegan2.generator import Generator

from conftest import shared_file
from test_stylegan2_roundtrip import CONFIGS, randomise

REL_TOL = 1e-5
KERNELS = [(1, 3, 3, 1), (1, 1), (1, 2, 1), (1, 4, 6, 4, 1), np.outer([1, 3, 3, 1], [1, 2, 2, 1])]


def rand(*shape, seed=0):
    return np.random.RandomState(seed).randn(*shape).astype(np.float32)


def rel_error(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: str(np.shape(k)) + str(np.ravel(k)[:3]))
@pytest.mark.parametrize("size", [3, 1])
def test_polyphase_upsample_conv_equals_transposed_conv_then_fir(kernel, size):
    x = rand(2, 5, 6, 4, seed=1)  # odd and even, non-square sizes
    w = rand(size, size, 4, 3, seed=2)
    expected = ops.upsample_conv_2d(tf.constant(x), tf.constant(w), kernel)
    for weight in (w, tf.constant(w)):  # constant (folded per phase) and tensor (gathered) weights
        assert rel_error(ops.upsample_conv_2d_polyphase(tf.constant(x), weight, kernel), expected) < REL_TOL


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: str(np.shape(k)) + str(np.ravel(k)[:3]))
def test_polyphase_upsample_equals_zero_insertion_then_fir(kernel):
    x = rand(2, 5, 7, 3, seed=3)
    expected = ops.upsample_2d(tf.constant(x), kernel)
    assert rel_error(ops.upsample_2d_polyphase(tf.constant(x), kernel), expected) < REL_TOL


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: str(np.shape(k)) + str(np.ravel(k)[:3]))
@pytest.mark.parametrize("size", [3, 1])
def test_matrix_form_upsample_conv_equals_transposed_conv_then_fir(kernel, size):
    """The training form: the FIR pass as two banded matmuls after TensorFlow's transposed convolution."""
    x = rand(2, 5, 6, 4, seed=1)
    w = rand(size, size, 4, 3, seed=2)
    expected = ops.upsample_conv_2d(tf.constant(x), tf.constant(w), kernel)
    assert rel_error(ops.upsample_conv_2d_transposed(tf.constant(x), tf.constant(w), kernel), expected) < REL_TOL


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: str(np.shape(k)) + str(np.ravel(k)[:3]))
def test_matrix_form_upsample_equals_zero_insertion_then_fir(kernel):
    x = rand(2, 5, 7, 3, seed=3)
    expected = ops.upsample_2d(tf.constant(x), kernel)
    assert rel_error(ops.upsample_2d_matmul(tf.constant(x), kernel), expected) < REL_TOL


def test_upfirdn_matrix_by_hand():
    """Up-sampling [a, b] by 2 with taps (1, 1) and no padding: zeros inserted [a, 0, b, 0], then sums of
    neighbours [a, b] (one output per pair, 3 outputs), times the gain."""
    matrix = ops.upfirdn_matrix(2, (1, 1), up=2, gain=2.0)
    np.testing.assert_allclose(matrix, [[1, 0], [0, 1], [0, 1]], atol=0)
    # A crop (negative padding) removes rows; padding adds rows that read zeros.
    np.testing.assert_allclose(ops.upfirdn_matrix(3, (1,), pad0=-1), [[0, 1, 0], [0, 0, 1]], atol=0)
    # True convolution with (1, 3) / 4 over [0, a, b]: y0 = 3/4 * 0 + 1/4 * a, y1 = 3/4 * a + 1/4 * b.
    np.testing.assert_allclose(ops.upfirdn_matrix(2, (1, 3), pad0=1, pad1=0), [[0.25, 0], [0.75, 0.25]], atol=1e-7)


def test_polyphase_grouped_weight_is_per_group_convolution():
    """A grouped weight (kh, kw, I, G*O) on x of G*I channels: each group convolved with its own weight."""
    x, w = rand(1, 6, 6, 2 * 3, seed=4), rand(3, 3, 3, 2 * 5, seed=5)
    y = np.asarray(ops.upsample_conv_2d_polyphase(tf.constant(x), tf.constant(w), (1, 3, 3, 1)))
    for g in range(2):
        expected = ops.upsample_conv_2d(tf.constant(x[..., 3 * g:3 * g + 3]), tf.constant(w[..., 5 * g:5 * g + 5]),
                                        (1, 3, 3, 1))
        assert rel_error(y[..., 5 * g:5 * g + 5], expected) < REL_TOL


def test_fir_factors():
    taps_h, taps_w = ops.fir_factors((1, 3, 3, 1), gain=4)
    np.testing.assert_allclose(np.outer(taps_h, taps_w), ops.setup_fir_kernel((1, 3, 3, 1)) * 4, atol=1e-7)
    taps_h, taps_w = ops.fir_factors(np.outer([1, 2, 1], [1, 3, 3, 1]))
    np.testing.assert_allclose(np.outer(taps_h, taps_w), ops.setup_fir_kernel(np.outer([1, 2, 1], [1, 3, 3, 1])), atol=1e-7)
    assert ops.fir_factors(np.array([[1, 2], [3, 1]], np.float32)) is None


def randomised(name):
    G = stylegan2.random_generator(**CONFIGS[name])
    return randomise(G, 7).state  # nonzero biases, noise strengths, ... so every term shows


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("modconv", ["input", "grouped"])
def test_fast_generator_matches_straightforward(name, modconv):
    state = randomised(name)
    reference = Generator(state, fast=False)
    fast = Generator(state, modconv=modconv)
    assert fast.fast and not reference.fast
    ws = rand(3, fast.num_ws, fast.w_dim, seed=8)
    assert rel_error(fast.synthesis(ws), reference.synthesis(ws)) < REL_TOL
    noise = dict(noise_mode="random", seed=3)  # per-sample noise buffers
    assert rel_error(fast.synthesis(ws, **noise), reference.synthesis(ws, **noise)) < REL_TOL


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_transposed_upsampling_matches_straightforward(name):
    """upsampling='transposed' (what training runs) renders what the straightforward path renders."""
    state = randomised(name)
    G = Generator(state)
    net = G.synthesis_network
    ws = rand(3, G.num_ws, G.w_dim, seed=8)
    synthesis = tf.function(FastSynthesis(net, modconv="input", xla=False, upsampling="transposed").__call__,
                            autograph=False)
    expected = Generator(state, fast=False).synthesis(ws)
    assert rel_error(synthesis(tf.constant(ws), net.const_noise), expected) < REL_TOL


@pytest.mark.parametrize("name", ["skip16", "resnet32_gray", "orig32_halving"])
def test_auto_upsampling_mixes_both_forms_and_matches_straightforward(name, monkeypatch):
    """upsampling='auto' (what Generator renders with): with the XLA threshold lowered so that the layers of
    the top resolution compile and the others do not, the compiled ones take the polyphase form and the plain
    ones the transposed form, and the image is the straightforward path's."""
    from stylegan2 import fast_synthesis

    state = randomised(name)
    G = Generator(state)
    net = G.synthesis_network
    top = net.resolution * net.resolution * min(layer.out_channels for layer in net.conv_layers[-2:])
    monkeypatch.setattr(fast_synthesis, "XLA_MIN_ELEMENTS", top)
    forms = []
    for form in ("upsample_conv_phases", "transposed_conv"):
        original = getattr(ops, form)
        monkeypatch.setattr(ops, form, lambda *args, _f=original, _name=form: forms.append(_name) or _f(*args))
    ws = rand(3, G.num_ws, G.w_dim, seed=8)
    synthesis = tf.function(FastSynthesis(net, modconv="input", upsampling="auto").__call__, autograph=False)
    images = synthesis(tf.constant(ws), net.const_noise)
    assert set(forms) == {"upsample_conv_phases", "transposed_conv"}
    assert rel_error(images, Generator(state, fast=False).synthesis(ws)) < REL_TOL


@pytest.mark.parametrize("name", ["skip16", "resnet32_gray", "orig32_halving"])
@pytest.mark.parametrize("modconv", ["input", "grouped"])
def test_xla_fused_steps_match_straightforward(name, modconv):
    """xla=True: every layer's fused steps compiled with XLA, as large layers are by default (the last
    layer's ToRGB then runs inside its function)."""
    state = randomised(name)
    G = Generator(state, xla=True, modconv=modconv)
    ws = rand(2, G.num_ws, G.w_dim, seed=9)
    assert rel_error(G.synthesis(ws), Generator(state, fast=False).synthesis(ws)) < REL_TOL


def test_whole_synthesis_jit_compile_option_matches(tiny_generator):
    ws = rand(2, tiny_generator.num_ws, tiny_generator.w_dim, seed=12)
    jit = Generator(tiny_generator.state, jit_compile=True)
    assert rel_error(jit.synthesis(ws), Generator(tiny_generator.state, fast=False).synthesis(ws)) < REL_TOL


@pytest.mark.parametrize("modconv", ["input", "grouped"])
def test_bfloat16_mode_is_close_and_float32_out(modconv):
    state = randomised("skip16")
    ws = rand(2, 6, 32, seed=10)
    reference = np.asarray(Generator(state, fast=False).synthesis(ws))
    net = Generator(state).synthesis_network
    low = FastSynthesis(net, modconv=modconv, precision="bfloat16", bfloat16_from=4)  # every layer in bfloat16
    images = tf.function(low.__call__, autograph=False)(tf.constant(ws), net.const_noise)
    assert images.dtype == tf.float32
    error = rel_error(images, reference)
    assert 1e-5 < error < 0.02  # bfloat16 rounding (8-bit mantissa): visible but small


def test_bfloat16_leaves_small_layers_in_float32():
    """Generator(precision='bfloat16') converts only layers from 128 px: a 16 px network renders as in float32."""
    state = randomised("skip16")
    ws = rand(2, 6, 32, seed=11)
    np.testing.assert_array_equal(Generator(state, precision="bfloat16").synthesis(ws), Generator(state).synthesis(ws))


def test_options_are_checked():
    state = randomised("skip4")
    with pytest.raises(stylegan2.InputError, match="precision"):
        Generator(state, precision="float16")
    with pytest.raises(stylegan2.InputError, match="modconv"):
        Generator(state, modconv="fused")
    with pytest.raises(stylegan2.InputError, match="fast path"):
        Generator(state, fast=False, precision="bfloat16")
    with pytest.raises(ValueError, match="upsampling"):
        FastSynthesis(Generator(state).synthesis_network, modconv="grouped", upsampling="transposed")


def test_non_separable_fir_uses_the_straightforward_path():
    state = randomised("skip8_rgba")
    kernel = [[1, 2, 1], [2, 4, 3], [1, 2, 1]]  # rank 2
    for node in (state.components["synthesis"], state):
        node.static_kwargs["resample_kernel"] = kernel
    G = Generator(state)
    assert not G.fast
    assert np.asarray(G.synthesis(rand(1, G.num_ws, G.w_dim))).shape == (1, 8, 8, 4)


def test_no_retracing_across_batch_sizes_and_noise_modes(tiny_generator):
    G = Generator(tiny_generator.state)
    for n in (1, 3, 2, 5):
        ws = rand(n, G.num_ws, G.w_dim, seed=n)
        G.synthesis(ws)
        G.synthesis(ws, noise_mode="random", seed=1)
    assert G._synthesis_fn.experimental_get_tracing_count() == 1


@pytest.mark.parametrize("modconv", ["input", "grouped"])
def test_fast_paths_match_nvidia_fixture(modconv):
    """The default (fast) path is what the fixture tests check; the other modconv form matches NVIDIA too."""
    G = stylegan2.load_generator(shared_file("fixtures/stylegan2/skip32.pkl"))
    assert G.fast
    ref = np.load(shared_file("fixtures/stylegan2/skip32_ref.npz"))
    images = np.asarray(Generator(G.state, modconv=modconv).synthesis(ref["wplus"]))
    assert np.abs(images - np.transpose(ref["img_wplus"], (0, 2, 3, 1))).max() < 2e-3


@pytest.mark.parametrize("modconv", ["input", "grouped"])
def test_each_image_is_that_of_its_sample_alone(modconv):
    """Rendering one sample at a time (the default on CPU): an image is bit-for-bit the same alone, in any batch
    and at any place in it, with per-sample noise; and equals the batched fast path to float32 rounding."""
    state = randomised("skip16")
    G = Generator(state, xla=True, modconv=modconv, per_sample=True)  # XLA functions too, compiled for batch 1
    ws = rand(3, G.num_ws, G.w_dim, seed=13)
    noise = [rand(3, h, w, seed=14 + i) for i, (h, w) in enumerate(G.noise_shapes)]
    batch = np.asarray(G.synthesis(ws, noise=noise))
    for i in range(3):
        alone = G.synthesis(ws[i:i + 1], noise=[n[i:i + 1] for n in noise])
        np.testing.assert_array_equal(alone[0], batch[i])
    order = [2, 0, 1]
    np.testing.assert_array_equal(G.synthesis(ws[order], noise=[n[order] for n in noise]), batch[order])
    together = Generator(state, xla=True, modconv=modconv, per_sample=False).synthesis(ws, noise=noise)
    assert rel_error(batch, together) < REL_TOL
