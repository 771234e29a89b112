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


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("modconv,upsampling", [("input", "polyphase"), ("grouped", "polyphase"),
                                                ("input", "transposed")])
def test_fast_and_straightforward_paths_give_the_same_gradients(name, modconv, upsampling):
    G = randomised(name)
    net = G.synthesis_network
    rng = np.random.RandomState(0)
    ws = tf.constant(rng.standard_normal((2, G.num_ws, G.w_dim)).astype(np.float32))
    noise = [tf.constant(rng.standard_normal((2, h, w, 1)).astype(np.float32)) for h, w in G.noise_shapes]
    probe = tf.constant(rng.standard_normal((2, 8, 8, 3)).astype(np.float32))
    variables = [v for v in net.variables_by_name.values() if v.trainable]
    results = []
    for synthesis in (net, FastSynthesis(net, modconv=modconv, xla=False, upsampling=upsampling)):
        with tf.GradientTape() as tape:
            tape.watch([ws] + noise)
            loss = loss_of(synthesis, ws, noise, probe)
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
    ws = tf.constant(rng.standard_normal((2, G.num_ws, G.w_dim)).astype(np.float32))
    noise = [tf.constant(rng.standard_normal((2, h, w, 1)).astype(np.float32)) for h, w in G.noise_shapes]
    probe = tf.constant(rng.standard_normal((2, 8, 8, 3)).astype(np.float32))
    variables = [v for v in net.variables_by_name.values() if v.trainable]
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
