"""The layer operations of NVIDIA's StyleGAN2 generator in TensorFlow 2, NHWC, float32.

Each function computes what NVIDIA's ``dnnlib/tflib/ops`` and ``training/networks_stylegan2.py`` compute
(the reference, non-CUDA forms), so that outputs match NVIDIA's to float32 rounding. Weights passed in
are *runtime* weights (the stored value times its equalized-learning-rate gain). The up-sampling
convolution is one function, :func:`upsample_conv_2d`, so a faster equivalent can replace it.
"""
import numpy as np
import tensorflow as tf

# fused_bias_act's activation table: name -> (function of x, default gain).
_ACTIVATIONS = {
    "linear": (lambda x: x, 1.0),
    "relu": (tf.nn.relu, float(np.sqrt(2))),
    "lrelu": (lambda x: tf.nn.leaky_relu(x, alpha=0.2), float(np.sqrt(2))),
    "tanh": (tf.nn.tanh, 1.0),
    "sigmoid": (tf.nn.sigmoid, 1.0),
    "elu": (tf.nn.elu, 1.0),
    "selu": (tf.nn.selu, 1.0),
    "softplus": (tf.nn.softplus, 1.0),
    "swish": (lambda x: tf.nn.sigmoid(x) * x, float(np.sqrt(2))),
}

ACTIVATION_NAMES = tuple(_ACTIVATIONS)


def bias_act(x, bias, act="linear"):
    """``fused_bias_act``: (x + bias) -> activation -> times the activation's gain (sqrt 2 for lrelu).

    x: (..., C) float32; bias: (C,) runtime bias; act: a name in :data:`ACTIVATION_NAMES`.
    """
    func, gain = _ACTIVATIONS[act]
    x = func(x + bias)
    return x if gain == 1.0 else x * gain


def setup_fir_kernel(k):
    """NVIDIA's ``_setup_kernel``: a 1-D kernel becomes its outer product; normalised to sum 1. -> (kh, kw) float32."""
    k = np.asarray(k, dtype=np.float32)
    if k.ndim == 1:
        k = np.outer(k, k)
    return k / np.sum(k)


def upfirdn_2d(x, k, up=1, pad0=0, pad1=0):
    """Up-sample by inserting zeros, pad (crop when negative), convolve each channel with the 2-D filter k.

    x: (N, H, W, C) float32 with static H, W, C; k: (kh, kw) numpy filter; up: integer factor;
    pad0/pad1: padding before/after on both spatial axes. -> (N, H*up + pad0 + pad1 - kh + 1, ..., C).
    The same arithmetic as NVIDIA's ``_upfirdn_2d_ref`` (true convolution: the filter is flipped).
    """
    _, h, w, c = x.shape
    if up > 1:
        x = tf.reshape(x, [-1, h, 1, w, 1, c])
        x = tf.pad(x, [[0, 0], [0, 0], [0, up - 1], [0, 0], [0, up - 1], [0, 0]])
        x = tf.reshape(x, [-1, h * up, w * up, c])
    x = tf.pad(x, [[0, 0], [max(pad0, 0), max(pad1, 0)], [max(pad0, 0), max(pad1, 0)], [0, 0]])
    size_h, size_w = x.shape[1], x.shape[2]
    x = x[:, max(-pad0, 0):size_h - max(-pad1, 0), max(-pad0, 0):size_w - max(-pad1, 0), :]
    kernel = np.tile(k[::-1, ::-1, np.newaxis, np.newaxis], [1, 1, c, 1])
    return tf.nn.depthwise_conv2d(x, tf.constant(kernel, dtype=x.dtype), strides=[1, 1, 1, 1], padding="VALID")


def upsample_2d(x, k, factor=2):
    """NVIDIA's ``upsample_2d``: zeros inserted, then the FIR filter with gain factor^2. (N,H,W,C) -> (N,2H,2W,C)."""
    kernel = setup_fir_kernel(k) * (factor ** 2)
    p = kernel.shape[0] - factor
    return upfirdn_2d(x, kernel, up=factor, pad0=(p + 1) // 2 + factor - 1, pad1=p // 2)


def conv2d(x, w):
    """Stride-1 'SAME' convolution. x: (N, H, W, I); w: (kh, kw, I, O) runtime weight. -> (N, H, W, O)."""
    return tf.nn.conv2d(x, w, strides=[1, 1, 1, 1], padding="SAME")


def upsample_conv_2d(x, w, k, factor=2):
    """NVIDIA's ``upsample_conv_2d``: stride-2 transposed convolution with the spatially flipped weight, then
    the FIR filter k (gain factor^2). x: (N, H, W, I); w: (kh, kw, I, O) runtime weight. -> (N, 2H, 2W, O).
    """
    kh, kw, _, out_channels = w.shape
    kernel = setup_fir_kernel(k) * (factor ** 2)
    p = (kernel.shape[0] - factor) - (kw - 1)
    _, h, width, _ = x.shape
    filters = tf.transpose(w[::-1, ::-1], [0, 1, 3, 2])  # (kh, kw, O, I): conv2d_transpose's layout
    output_shape = tf.stack([tf.shape(x)[0], (h - 1) * factor + kh, (width - 1) * factor + kw, out_channels])
    x = tf.nn.conv2d_transpose(x, filters, output_shape=output_shape, strides=[1, factor, factor, 1], padding="VALID")
    x = tf.ensure_shape(x, [None, (h - 1) * factor + kh, (width - 1) * factor + kw, out_channels])
    return upfirdn_2d(x, kernel, pad0=(p + 1) // 2 + factor - 1, pad1=p // 2 + 1)


def styles(w, mod_weight, mod_bias):
    """Per-sample style of a modulated layer: w @ mod_weight + mod_bias + 1.

    w: (N, w_dim); mod_weight: (w_dim, I) runtime weight (stored / sqrt(w_dim)); mod_bias: (I,). -> (N, I).
    """
    return tf.matmul(w, mod_weight) + mod_bias + 1.0


def modulated_conv2d(x, s, weight, demodulate=True, up=False, resample_kernel=(1, 3, 3, 1)):
    """Modulated convolution in the non-grouped equivalent form of NVIDIA's ``fused_modconv=False``.

    The input channels are scaled by the style, convolved with the shared weight (up-sampled by 2 first
    when ``up``), and the output channels scaled by the demodulation coefficient
    rsqrt(sum over (kh, kw, I) of (weight * s)^2 + 1e-8).
    x: (N, H, W, I); s: (N, I) styles; weight: (kh, kw, I, O) runtime weight. -> (N, H or 2H, W or 2W, O).
    """
    x = x * s[:, tf.newaxis, tf.newaxis, :]
    x = upsample_conv_2d(x, weight, resample_kernel) if up else conv2d(x, weight)
    if demodulate:
        d = tf.math.rsqrt(tf.matmul(tf.square(s), tf.reduce_sum(tf.square(weight), axis=[0, 1])) + 1e-8)  # (N, O)
        x = x * d[:, tf.newaxis, tf.newaxis, :]
    return x
