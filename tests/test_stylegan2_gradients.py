"""Gradients through the generator (both synthesis paths) and the discriminator: against each other and
against finite differences, so that training and projection get the true derivatives."""
import numpy as np
import pytest
import tensorflow as tf

import stylegan2
from stylegan2.discriminator import Discriminator, random_discriminator_variables
from stylegan2.fast_synthesis import FastSynthesis
from stylegan2.training import r1_penalty

CONFIGS = {
    "skip8": dict(resolution=8, architecture="skip", fmap_base=32, fmap_max=8, z_dim=8, w_dim=8, mapping_layers=1, seed=1),
    "resnet8": dict(resolution=8, architecture="resnet", fmap_base=32, fmap_max=8, z_dim=8, w_dim=8, mapping_layers=1,
                    seed=2),
}


def randomised(name):
    """A tiny generator with every variable (biases, noise strengths included) nonzero, so every term shows."""
    G = stylegan2.random_generator(**CONFIGS[name])
    rng = np.random.RandomState(5)
    for net in (G.mapping_network, G.synthesis_network):
        for var in net.variables_by_name.values():
            var.assign(var + rng.standard_normal(var.shape).astype(np.float32) * 0.3)
    return G


def loss_of(synthesis, ws, noise, probe):
    """A scalar that depends on every output pixel: sum(images * probe)."""
    return tf.reduce_sum(synthesis(ws, noise) * probe)


def synthesis_problem(G, rng):
    """What the synthesis-gradient tests differentiate, drawn from ``rng`` (standard normal, float32, in this
    order): ws (2, num_ws, w_dim), one noise map (2, h, w, 1) per noise input of G, the probe (2, 8, 8, 3) that
    :func:`loss_of` weighs the images with; last, the synthesis network's trainable variables."""
    ws = tf.constant(rng.standard_normal((2, G.num_ws, G.w_dim)).astype(np.float32))
    noise = [tf.constant(rng.standard_normal((2, h, w, 1)).astype(np.float32)) for h, w in G.noise_shapes]
    probe = tf.constant(rng.standard_normal((2, 8, 8, 3)).astype(np.float32))
    return ws, noise, probe, [v for v in G.synthesis_network.variables_by_name.values() if v.trainable]


def taped_loss(synthesis, ws, noise, probe):
    """:func:`loss_of` and the gradient tape that recorded it, watching ws and the noise as well, so that their
    gradients can be taken beside the weights'."""
    with tf.GradientTape() as tape:
        tape.watch([ws] + noise)
        loss = loss_of(synthesis, ws, noise, probe)
    return tape, loss


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("modconv,upsampling", [("input", "polyphase"), ("grouped", "polyphase"),
                                                ("input", "transposed"), ("input", "auto")])
def test_fast_and_straightforward_paths_give_the_same_gradients(name, modconv, upsampling):
    G = randomised(name)
    net = G.synthesis_network
    ws, noise, probe, variables = synthesis_problem(G, np.random.RandomState(0))
    results = []
    for synthesis in (net, FastSynthesis(net, modconv=modconv, xla=False, upsampling=upsampling)):
        tape, loss = taped_loss(synthesis, ws, noise, probe)
        if modconv == "grouped" and synthesis is not net and not tf.config.list_logical_devices("GPU"):
            # TensorFlow has no CPU gradient for grouped convolutions: it refuses, loudly, rather than err.
            with pytest.raises(tf.errors.InvalidArgumentError, match="grouped convolutions"):
                tape.gradient(loss, variables)
            return
        results.append(tape.gradient(loss, variables + [ws] + noise))
    for reference, fast, name_ in zip(*results, [v.name for v in variables] + ["ws"] + ["noise"] * len(noise)):
        reference, fast = np.asarray(reference), np.asarray(fast)
        assert np.abs(reference).max() > 0, name_
        np.testing.assert_allclose(fast, reference, rtol=2e-4, atol=2e-4 * np.abs(reference).max(), err_msg=name_)


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("upsampling", ["polyphase", "transposed"])
def test_fast_path_weight_gradient_matches_finite_differences(name, upsampling):
    """d/dt loss(theta + t v) at t = 0 by central differences (float64 sums of float32 renders) against <grad, v>."""
    G = randomised(name)
    net = G.synthesis_network
    synthesis = FastSynthesis(net, modconv="input", xla=False, upsampling=upsampling)
    rng = np.random.RandomState(1)
    ws, noise, probe, variables = synthesis_problem(G, rng)
    directions = [rng.standard_normal(v.shape).astype(np.float32) for v in variables]
    with tf.GradientTape() as tape:
        loss = loss_of(synthesis, ws, noise, probe)
    grads = tape.gradient(loss, variables)
    analytic = sum(float(np.sum(np.asarray(g, np.float64) * d)) for g, d in zip(grads, directions))
    originals = [v.numpy() for v in variables]
    eps = 1e-3
    values = []
    for sign in (1, -1):
        for v, o, d in zip(variables, originals, directions):
            v.assign(o + sign * eps * d)
        values.append(float(np.sum(np.asarray(synthesis(ws, noise), np.float64) * probe.numpy())))
    for v, o in zip(variables, originals):
        v.assign(o)
    numeric = (values[0] - values[1]) / (2 * eps)
    assert abs(numeric - analytic) < 2e-2 * max(1.0, abs(analytic)), (numeric, analytic)


def tiny_discriminator(mbstd_group_size=2, seed=3):
    kwargs = dict(num_channels=3, resolution=8, fmap_base=32, fmap_max=8, mbstd_group_size=mbstd_group_size)
    variables = random_discriminator_variables(8, 3, 32, 8, mbstd_group_size=mbstd_group_size, seed=seed)
    rng = np.random.RandomState(seed)
    variables = {k: v + rng.standard_normal(v.shape).astype(np.float32) * 0.1 for k, v in variables.items()}
    return Discriminator(variables, kwargs)


def test_r1_penalty_and_its_gradient_match_finite_differences():
    D = tiny_discriminator()
    rng = np.random.RandomState(4)
    x = rng.standard_normal((4, 8, 8, 3)).astype(np.float32)
    # The input gradient inside R1, against central differences of sum(D(x)) along a random direction.
    direction = rng.standard_normal(x.shape).astype(np.float32)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        total = tf.reduce_sum(D(xt))
    analytic = float(np.sum(tape.gradient(total, xt).numpy() * direction))
    eps = 1e-2
    numeric = (float(tf.reduce_sum(D(x + eps * direction))) - float(tf.reduce_sum(D(x - eps * direction)))) / (2 * eps)
    assert abs(numeric - analytic) < 1e-2 * max(1.0, abs(analytic))
    # The gradient of the R1 penalty w.r.t. D's weights (a gradient of a gradient), likewise.
    variables = list(D.variables_by_name.values())
    with tf.GradientTape() as tape:
        penalty = tf.reduce_sum(r1_penalty(D, xt))
    grads = tape.gradient(penalty, variables, unconnected_gradients="zero")
    directions = [rng.standard_normal(v.shape).astype(np.float32) for v in variables]
    analytic = sum(float(np.sum(g.numpy() * d)) for g, d in zip(grads, directions))
    # The penalty is only piecewise smooth in the weights (a pre-activation crossing leaky ReLU's kink changes
    # the input gradient by a jump), so the step must be small enough to cross none: 1e-4 here.
    originals = [v.numpy() for v in variables]
    values = []
    eps = 1e-4
    for sign in (1, -1):
        for v, o, d in zip(variables, originals, directions):
            v.assign(o + sign * eps * d)
        values.append(float(tf.reduce_sum(r1_penalty(D, xt))))
    for v, o in zip(variables, originals):
        v.assign(o)
    numeric = (values[0] - values[1]) / (2 * eps)
    assert abs(numeric - analytic) < 5e-2 * abs(analytic) + 1e-3, (numeric, analytic)
    assert abs(analytic) > 1e-2


# bfloat16 keeps 8 bits of mantissa: each rounded input or weight is off by up to 2^-9 relative, and the errors
# add up through the layers of these deliberately large random weights. Stated tolerances (measured: 2-5 % on
# the tiny generators, under 1 % on D, 11 % on R1's gradient all together, up to 19 % on R1's first-layer
# weights): all gradients together (concatenated) within 6 % of float32 in relative norm with cosine > 0.998
# (R1, a gradient of a gradient: 15 % and 0.99); each weight tensor (2 or more dimensions) within 25 % with
# cosine > 0.98. Scalars and biases are covered by the concatenation only: R1's bias gradients are near zero
# (second-order effects), so their relative error says nothing.
BF16_ALL = (0.06, 0.998)
BF16_ALL_R1 = (0.15, 0.99)
BF16_WEIGHT = (0.25, 0.98)


def relative_error_and_cosine(low, reference):
    low, reference = np.ravel(np.asarray(low, np.float64)), np.ravel(np.asarray(reference, np.float64))
    norm = np.linalg.norm(reference)
    assert norm > 0
    return np.linalg.norm(low - reference) / norm, low @ reference / (np.linalg.norm(low) * norm)


def assert_close_in_bfloat16(lows, references, names, together=BF16_ALL):
    """Lists of bfloat16 and float32 gradients (same order) against the stated tolerances (``together``: those
    of the concatenation)."""
    error, cosine = relative_error_and_cosine(np.concatenate([np.ravel(g) for g in lows]),
                                              np.concatenate([np.ravel(g) for g in references]))
    assert error < together[0] and cosine > together[1], (error, cosine)
    for low, reference, name in zip(lows, references, names):
        if np.ndim(reference) >= 2 and np.abs(np.asarray(reference)).max() > 0:
            error, cosine = relative_error_and_cosine(low, reference)
            assert error < BF16_WEIGHT[0] and cosine > BF16_WEIGHT[1], (name, error, cosine)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_bfloat16_training_synthesis_gradients_are_close_to_float32(name):
    """The synthesis training runs in bfloat16 (every layer, transposed up-sampling) against the float32
    straightforward path: the gradients of every weight, of ws and of the noise within the stated tolerance."""
    G = randomised(name)
    net = G.synthesis_network
    ws, noise, probe, variables = synthesis_problem(G, np.random.RandomState(2))
    low = FastSynthesis(net, modconv="input", precision="bfloat16", xla=False, bfloat16_from=4, upsampling="transposed")
    results = []
    for synthesis in (net, low):
        tape, loss = taped_loss(synthesis, ws, noise, probe)
        results.append(tape.gradient(loss, variables + [ws] + noise))
    names = [v.name for v in variables] + ["ws"] + [f"noise{i}" for i in range(len(noise))]
    assert_close_in_bfloat16(results[1], results[0], names)


def test_bfloat16_discriminator_and_r1_gradients_are_close_to_float32():
    """D with bfloat16 convolutions: its scores, its weight gradients and the R1 penalty's weight gradients (a
    gradient of a gradient) within the stated tolerance of float32."""
    D = tiny_discriminator()
    low = Discriminator({k: v.numpy() for k, v in D.variables_by_name.items()}, dict(
        num_channels=3, resolution=8, fmap_base=32, fmap_max=8, mbstd_group_size=2), precision="bfloat16")
    x = tf.constant(np.random.RandomState(6).standard_normal((4, 8, 8, 3)).astype(np.float32))
    assert low(x).dtype == tf.float32
    assert_close_in_bfloat16([low(x)], [D(x)], ["scores"])
    for objective, together in ((lambda net: tf.reduce_sum(net(x)), BF16_ALL),
                                (lambda net: tf.reduce_sum(r1_penalty(net, x)), BF16_ALL_R1)):
        grads = []
        for net in (D, low):
            with tf.GradientTape() as tape:
                value = objective(net)
            grads.append(tape.gradient(value, list(net.variables_by_name.values()), unconnected_gradients="zero"))
        assert_close_in_bfloat16(grads[1], grads[0], list(D.variables_by_name), together)
