"""NVIDIA's StyleGAN2 discriminator (``D_stylegan2`` of ``training/networks_stylegan2.py``, configs e/f), NHWC.

Architecture 'resnet' (NVIDIA's default) or 'orig': FromRGB (1x1 conv) at the input resolution, then per
resolution from the top down to 8x8 a block of two 3x3 convolutions, the second one down-sampling (the
[1, 3, 3, 1] FIR blur, then a stride-2 convolution), with resnet's 1x1 skip down-sampled the same way and
the sum scaled by 1/sqrt 2; at 4x4 the minibatch standard deviation layer (groups of ``mbstd_group_size``,
``mbstd_num_features`` feature maps), a 3x3 convolution, a dense layer and the output dense layer (one
score). Equalized learning rate (runtime weight = stored / sqrt(fan_in), applied in the graph), biases
before the activation, leaky ReLU 0.2 with gain sqrt 2; the flatten before ``4x4/Dense0`` is in NVIDIA's
NCHW order, so the stored variables are exactly NVIDIA's (names, shapes, meaning).
"""
import numpy as np
import tensorflow as tf

from . import ops
from .errors import InputError
from .networks import DEFAULT_RESAMPLE_KERNEL, _number_kwarg, _Variables

D_ARCHITECTURES = ("resnet", "orig")


def nf(stage, fmap_base, fmap_max, fmap_decay=1.0, fmap_min=1):
    """NVIDIA's channel count for a stage: clip(int(fmap_base / 2^(stage * fmap_decay)), fmap_min, fmap_max)."""
    return int(np.clip(int(fmap_base / (2.0 ** (stage * fmap_decay))), fmap_min, fmap_max))


def downsample_fir(x, kernel, pad0, pad1):
    """Pad each spatial axis by (pad0, pad1) and filter every channel with the separable FIR ``kernel`` (taps
    normalised to sum 1 per axis). x: (N, H, W, C) -> (N, H + pad0 + pad1 - len + 1, ..., C).

    Written as two matmuls with banded matrices (:func:`stylegan2.ops.fir_2d_matmul`), so its gradients of every
    order are exact and cheap (R1 needs the gradient of a gradient through it)."""
    _, h, w, _ = x.shape
    return ops.fir_2d_matmul(x, ops.upfirdn_matrix(h, kernel, pad0=pad0, pad1=pad1),
                             ops.upfirdn_matrix(w, kernel, pad0=pad0, pad1=pad1))


def conv_downsample_2d(x, w, kernel, dtype=tf.float32):
    """NVIDIA's ``conv_downsample_2d``: FIR blur (padding (p + 1) // 2, p // 2 with p = len(kernel) - 2 +
    kh - 1), then a VALID stride-2 convolution. x: (N, H, W, I); w: (kh, kw, I, O) runtime weight; dtype:
    the convolution's (the blur stays float32). -> (N, H / 2, W / 2, O) float32."""
    p = (len(kernel) - 2) + (w.shape[0] - 1)
    x = downsample_fir(x, kernel, (p + 1) // 2, p // 2)
    return conv2d_in(x, w, dtype, strides=2, padding="VALID")


def conv2d_in(x, w, dtype, strides=1, padding="SAME"):
    """tf.nn.conv2d with inputs and weight in ``dtype`` (float32 or bfloat16; oneDNN accumulates bfloat16 in
    float32) -> float32 output."""
    if dtype == tf.float32:
        return tf.nn.conv2d(x, w, strides=strides, padding=padding)
    return tf.cast(tf.nn.conv2d(tf.cast(x, dtype), tf.cast(w, dtype), strides=strides, padding=padding), tf.float32)


def minibatch_stddev(x, group_size, num_features):
    """NVIDIA's minibatch standard deviation layer, NHWC: sample i is in group i mod (N / G) (G = min(group_size,
    N), N divisible by G); per group and channel group, the standard deviation over the group's samples
    (biased variance + 1e-8), averaged over the channels of the group and the pixels, is appended as
    ``num_features`` feature maps. x: (N, H, W, C) -> (N, H, W, C + num_features)."""
    n = tf.shape(x)[0]
    _, h, w, c = x.shape
    g = tf.minimum(group_size, n)
    y = tf.reshape(x, [g, -1, h, w, num_features, c // num_features])
    y = y - tf.reduce_mean(y, axis=0, keepdims=True)
    y = tf.sqrt(tf.reduce_mean(tf.square(y), axis=0) + 1e-8)  # (M, H, W, n, c)
    y = tf.reduce_mean(y, axis=[1, 2, 4])  # (M, n)
    y = tf.tile(y[:, tf.newaxis, tf.newaxis, :], [g, h, w, 1])
    return tf.concat([x, y], axis=3)


class Discriminator(tf.Module):
    """``D_stylegan2`` from stored variables: images (N, R, R, C) float32 NHWC, raw range -> scores (N, 1).

    variables: {NVIDIA's name: ndarray}; kwargs: the Network's static kwargs (``num_channels``,
    ``resolution``, ``fmap_base``, ``fmap_max``, ``fmap_decay``, ``architecture``, ``mbstd_group_size``,
    ``mbstd_num_features``, ``resample_kernel``); precision: 'float32' or 'bfloat16' (the convolutions' inputs
    and weights; everything else, and every output, float32). Attributes: ``resolution``, ``num_channels``,
    ``variables_by_name`` (tf.Variables of the stored values, stored order).
    """

    def __init__(self, variables, kwargs, what="discriminator", precision="float32"):
        super().__init__(name="D")
        if precision not in ("float32", "bfloat16"):
            raise ValueError(f"precision must be float32 or bfloat16, got {precision!r}")
        self._dtype = tf.as_dtype(precision)
        if kwargs.get("label_size", 0):
            raise InputError(f"{what}: conditional discriminators (label_size > 0) are not supported")
        self.architecture = kwargs.get("architecture", "resnet")
        if self.architecture not in D_ARCHITECTURES:
            raise InputError(f"{what}: discriminator architecture {self.architecture!r} is not supported "
                             f"(expected {' or '.join(D_ARCHITECTURES)})")
        self.resolution = _number_kwarg(kwargs, "resolution", 1024, what, integer=True)
        log2 = int(np.round(np.log2(max(self.resolution, 1))))
        if self.resolution < 8 or 2 ** log2 != self.resolution:
            raise InputError(f"{what}: resolution {self.resolution} is not a power of two >= 8")
        self.num_channels = _number_kwarg(kwargs, "num_channels", 3, what, integer=True)
        self.mbstd_group_size = _number_kwarg(kwargs, "mbstd_group_size", 4, what, integer=True)
        self.mbstd_num_features = _number_kwarg(kwargs, "mbstd_num_features", 1, what, integer=True)
        kernel = kwargs.get("resample_kernel", DEFAULT_RESAMPLE_KERNEL)
        self.resample_kernel = tuple(float(k) for k in ((1, 1) if kernel is None else kernel))
        store = _Variables(variables, what, "discriminator")
        top = f"{self.resolution}x{self.resolution}"
        self._fromrgb = self._layer(store, f"{top}/FromRGB", 1, self.num_channels, None)
        channels = self._fromrgb[0].shape[3]
        self._blocks = []
        for res in range(log2, 2, -1):
            scope = f"{2 ** res}x{2 ** res}"
            conv0 = self._layer(store, f"{scope}/Conv0", 3, channels, None)
            conv1 = self._layer(store, f"{scope}/Conv1_down", 3, conv0[0].shape[3], None)
            skip = None
            if self.architecture == "resnet":
                skip = self._layer(store, f"{scope}/Skip", 1, channels, conv1[0].shape[3], bias=False)
            self._blocks.append((conv0, conv1, skip))
            channels = conv1[0].shape[3]
        self.mbstd_channels = self.mbstd_num_features if self.mbstd_group_size > 1 else 0
        if self.mbstd_channels and channels % self.mbstd_num_features:
            raise InputError(f"{what}: {channels} channels at 4x4 cannot be split into mbstd_num_features = "
                             f"{self.mbstd_num_features} groups")
        self._conv = self._layer(store, "4x4/Conv", 3, channels + self.mbstd_channels, None)
        channels = self._conv[0].shape[3]
        weight = store.variable("4x4/Dense0/weight", (channels * 16, None))
        self._dense0 = (weight, store.variable("4x4/Dense0/bias", (weight.shape[1],)), weight.shape[0])
        weight = store.variable("Output/weight", (self._dense0[0].shape[1], 1))
        self._output = (weight, store.variable("Output/bias", (1,)), weight.shape[0])
        store.check_all_used(f"D_stylegan2 of architecture '{self.architecture}' at resolution {self.resolution}")
        self.variables_by_name = store.created

    @staticmethod
    def _layer(store, scope, kernel, in_channels, out_channels, bias=True):
        """(weight variable (k, k, I, O), bias variable (O,) or None, fan_in) of a convolution layer."""
        weight = store.variable(f"{scope}/weight", (kernel, kernel, in_channels, out_channels))
        bias_var = store.variable(f"{scope}/bias", (weight.shape[3],)) if bias else None
        return weight, bias_var, kernel * kernel * in_channels

    @staticmethod
    def _runtime(layer):
        weight, _, fan_in = layer
        return weight * np.float32(1.0 / np.sqrt(fan_in))

    def __call__(self, images):
        """images (N, R, R, num_channels) float32 -> scores (N, 1) float32 (logits of 'real')."""
        dtype = self._dtype
        x = ops.bias_act(conv2d_in(images, self._runtime(self._fromrgb), dtype), self._fromrgb[1], "lrelu")
        for conv0, conv1, skip in self._blocks:
            t = x
            x = ops.bias_act(conv2d_in(x, self._runtime(conv0), dtype), conv0[1], "lrelu")
            x = ops.bias_act(conv_downsample_2d(x, self._runtime(conv1), self.resample_kernel, dtype), conv1[1],
                             "lrelu")
            if skip is not None:
                t = conv_downsample_2d(t, self._runtime(skip), self.resample_kernel, dtype)
                x = (x + t) * np.float32(1 / np.sqrt(2))
        if self.mbstd_channels:
            x = minibatch_stddev(x, self.mbstd_group_size, self.mbstd_num_features)
        x = ops.bias_act(conv2d_in(x, self._runtime(self._conv), dtype), self._conv[1], "lrelu")
        x = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [-1, x.shape[3] * 16])  # NVIDIA's NCHW flatten
        x = ops.bias_act(tf.matmul(x, self._runtime(self._dense0)), self._dense0[1], "lrelu")
        return ops.bias_act(tf.matmul(x, self._runtime(self._output)), self._output[1])

    def stored_values(self):
        """The current stored values (what NVIDIA's pickle holds): {name: float32 ndarray}, stored order."""
        return {name: var.numpy() for name, var in self.variables_by_name.items()}


def random_discriminator_variables(resolution, num_channels=3, fmap_base=16384, fmap_max=512, architecture="resnet",
                                   mbstd_group_size=4, mbstd_num_features=1, seed=0):
    """NVIDIA's initialisation of ``D_stylegan2``'s variables in creation order: weights N(0, 1) (stored,
    equalized lr), biases 0. -> {name: float32 ndarray}."""
    rng = np.random.RandomState(seed)
    log2 = int(np.log2(resolution))
    variables = {}

    def conv(scope, kernel, fan_in, fmaps, bias=True):
        variables[f"{scope}/weight"] = rng.standard_normal((kernel, kernel, fan_in, fmaps)).astype(np.float32)
        if bias:
            variables[f"{scope}/bias"] = np.zeros(fmaps, np.float32)

    def n(stage):
        return nf(stage, fmap_base, fmap_max)

    for res in range(log2, 2, -1):
        scope = f"{2 ** res}x{2 ** res}"
        if res == log2:
            conv(f"{scope}/FromRGB", 1, num_channels, n(res - 1))
        conv(f"{scope}/Conv0", 3, n(res - 1), n(res - 1))
        conv(f"{scope}/Conv1_down", 3, n(res - 1), n(res - 2))
        if architecture == "resnet":
            conv(f"{scope}/Skip", 1, n(res - 1), n(res - 2), bias=False)
    extra = mbstd_num_features if mbstd_group_size > 1 else 0
    conv("4x4/Conv", 3, n(1) + extra, n(1))
    variables["4x4/Dense0/weight"] = rng.standard_normal((n(1) * 16, n(0))).astype(np.float32)
    variables["4x4/Dense0/bias"] = np.zeros(n(0), np.float32)
    variables["Output/weight"] = rng.standard_normal((n(0), 1)).astype(np.float32)
    variables["Output/bias"] = np.zeros(1, np.float32)
    return variables
