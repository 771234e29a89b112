"""Layer operations against independent expectations (explicit per-sample weights, nearest-neighbour, numpy)."""
import numpy as np
import tensorflow as tf

from stylegan2 import ops


def rand(*shape, seed=0):
    return np.random.RandomState(seed).randn(*shape).astype(np.float32)


def grouped_reference(x, s, weight, demodulate, up):
    """NVIDIA's fused form, one sample at a time: modulate (and demodulate) the weight itself, then convolve."""
    outputs = []
    for i in range(x.shape[0]):
        ww = weight * s[i][np.newaxis, np.newaxis, :, np.newaxis]
        if demodulate:
            ww = ww / np.sqrt(np.sum(ww.astype(np.float64) ** 2, axis=(0, 1, 2)) + 1e-8).astype(np.float32)
        xi = tf.constant(x[i:i + 1])
        ww = tf.constant(ww.astype(np.float32))
        outputs.append(ops.upsample_conv_2d(xi, ww, (1, 3, 3, 1)) if up else ops.conv2d(xi, ww))
    return np.concatenate([np.asarray(o) for o in outputs])


def test_modulated_conv_equals_modulating_the_weight():
    x, weight = rand(3, 8, 8, 5, seed=1), rand(3, 3, 5, 7, seed=2) / np.float32(np.sqrt(45))
    s = np.float32(1) + np.float32(0.3) * rand(3, 5, seed=3)
    for demodulate in (True, False):
        for up in (False, True):
            ours = np.asarray(ops.modulated_conv2d(tf.constant(x), tf.constant(s), tf.constant(weight), demodulate, up))
            ref = grouped_reference(x, s, weight, demodulate, up)
            assert ours.shape == ref.shape == (3, 16 if up else 8, 16 if up else 8, 7)
            assert np.abs(ours - ref).max() < 1e-4 * max(1.0, np.abs(ref).max())


def test_upsample_with_box_kernel_is_nearest_neighbour():
    x = rand(2, 4, 5, 3)
    expected = np.repeat(np.repeat(x, 2, axis=1), 2, axis=2)
    np.testing.assert_allclose(np.asarray(ops.upsample_2d(tf.constant(x), (1, 1))), expected, atol=1e-6)


def test_upsample_keeps_constants_and_matches_separable_numpy():
    x = np.full((1, 6, 6, 2), 3.0, np.float32)
    y = np.asarray(ops.upsample_2d(tf.constant(x), (1, 3, 3, 1)))
    assert y.shape == (1, 12, 12, 2)
    np.testing.assert_allclose(y[:, 2:-2, 2:-2], 3.0, atol=1e-5)  # gain 4 restores the mean of the zero-filled image
    # 1-D reference: zeros inserted, padded (2, 1), convolved with [1, 3, 3, 1] / 8 * 2 along each axis.
    v = rand(7)
    up = np.zeros(14, np.float32)
    up[::2] = v
    ref1d = np.convolve(np.pad(up, (2, 1)), np.array([1, 3, 3, 1]) / 4.0, mode="valid")
    img = np.asarray(ops.upsample_2d(tf.constant(v[np.newaxis, :, np.newaxis, np.newaxis] * np.ones((1, 7, 7, 1), np.float32)),
                                     (1, 3, 3, 1)))
    # Along H the input varies, along W it is constant: the interior columns equal the 1-D result.
    np.testing.assert_allclose(img[0, :, 6, 0], ref1d, atol=1e-5)


def test_upsample_conv_with_identity_1x1_weight_is_upsample():
    x = rand(2, 5, 5, 4)
    eye = np.eye(4, dtype=np.float32)[np.newaxis, np.newaxis]
    a = np.asarray(ops.upsample_conv_2d(tf.constant(x), tf.constant(eye), (1, 3, 3, 1)))
    b = np.asarray(ops.upsample_2d(tf.constant(x), (1, 3, 3, 1)))
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_bias_act_gains():
    x = tf.constant([[-1.0, 2.0]])
    b = tf.constant([0.5, -0.5])
    np.testing.assert_allclose(np.asarray(ops.bias_act(x, b, "lrelu")), [[-0.1 * np.sqrt(2), 1.5 * np.sqrt(2)]], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(ops.bias_act(x, b, "linear")), [[-0.5, 1.5]], rtol=1e-6)
