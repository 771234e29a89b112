"""NVIDIA's StyleGAN2 mapping and synthesis networks (``training/networks_stylegan2.py``) rebuilt from stored
variables, every size read from the stored kwargs and variable shapes.

Both classes take a Network's stored variables (dict name -> float32 ndarray) and static kwargs, check
that the variables are exactly those the official code creates for those kwargs, and hold the runtime
weights (stored value times the equalized-learning-rate gain) as TensorFlow constants. Calling them runs
the straightforward per-layer computation in NHWC.
"""
import numpy as np
import tensorflow as tf

from . import ops
from .errors import InputError

ARCHITECTURES = ("orig", "skip", "resnet")
DEFAULT_RESAMPLE_KERNEL = (1, 3, 3, 1)


class _Variables:
    """Checked access to one Network's stored variables; every variable must be used exactly once."""

    def __init__(self, variables, what, network):
        self._variables = variables
        self._unused = set(variables)
        self._what = what
        self._network = network

    def get(self, name, shape):
        """The stored value of ``name`` (float32 ndarray); ``shape`` may hold None for "any size"."""
        if name not in self._variables:
            raise InputError(f"{self._what}: the {self._network} network lacks the variable '{name}': "
                             "the file is damaged or its kwargs do not describe its variables")
        value = self._variables[name]
        if len(value.shape) != len(shape) or any(e is not None and e != a for e, a in zip(shape, value.shape)):
            expected = tuple("?" if e is None else e for e in shape)
            raise InputError(f"{self._what}: the {self._network} variable '{name}' has shape {tuple(value.shape)}, "
                             f"expected {expected}")
        self._unused.discard(name)
        return value

    def has(self, name):
        """Whether ``name`` is stored."""
        return name in self._variables

    def check_all_used(self, description):
        """Refuse variables the official network of this description would not have."""
        if self._unused:
            name = sorted(self._unused)[0]
            raise InputError(f"{self._what}: the {self._network} network has the unexpected variable '{name}' "
                             f"(not part of a {description}): this network variant is not supported")


def _number_kwarg(kwargs, key, default, what, integer=False):
    """A stored numeric kwarg (default when absent), checked: an InputError names a malformed value."""
    value = kwargs.get(key, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = None
    if isinstance(value, bool) or number is None or not np.isfinite(number) or (integer and number != int(number)):
        raise InputError(f"{what}: the stored kwarg {key} = {value!r} is not {'an integer' if integer else 'a number'}")
    return int(number) if integer else number


def _resample_kernel(kwargs, what):
    """The stored FIR ``resample_kernel`` (default [1, 3, 3, 1]; None means [1, 1]) as a float32 array."""
    kernel = kwargs.get("resample_kernel", DEFAULT_RESAMPLE_KERNEL)
    try:
        kernel = np.asarray((1, 1) if kernel is None else kernel, dtype=np.float32)
    except (TypeError, ValueError):
        kernel = np.zeros(0, np.float32)
    if not (kernel.ndim == 1 or (kernel.ndim == 2 and kernel.shape[0] == kernel.shape[1])) or kernel.size == 0 \
            or not np.isfinite(kernel).all() or np.sum(kernel) == 0:
        raise InputError(f"{what}: the stored resample_kernel {kwargs.get('resample_kernel')!r} is not a usable FIR filter")
    return kernel


def _activation(kwargs, key, what):
    """The activation name stored under ``key`` (default lrelu), checked."""
    act = kwargs.get(key, "lrelu")
    if act not in ops.ACTIVATION_NAMES:
        raise InputError(f"{what}: unsupported {key} {act!r} (expected one of {', '.join(ops.ACTIVATION_NAMES)})")
    return act


class MappingNetwork:
    """``G_mapping``: z (N, z_dim) -> w (N, w_dim): normalise z, then ``mapping_layers`` dense layers.

    Attributes: ``z_dim``, ``w_dim``, ``num_layers``, ``num_ws`` (the stored ``dlatent_broadcast`` or None).
    """

    def __init__(self, variables, kwargs, what):
        if kwargs.get("label_size", 0):
            raise InputError(f"{what}: conditional networks (label_size = {kwargs['label_size']}) are not supported yet")
        store = _Variables(variables, what, "mapping")
        self.num_layers = _number_kwarg(kwargs, "mapping_layers", 8, what, integer=True)
        if self.num_layers < 1:
            raise InputError(f"{what}: mapping_layers = {self.num_layers}; at least 1 is needed")
        lrmul = np.float32(_number_kwarg(kwargs, "mapping_lrmul", 0.01, what))
        self._act = _activation(kwargs, "mapping_nonlinearity", what)
        self._normalize = bool(kwargs.get("normalize_latents", True))
        self._layers = []
        fmaps = None
        for index in range(self.num_layers):
            weight = store.get(f"Dense{index}/weight", (fmaps, None))
            fan_in, fmaps = weight.shape
            bias = store.get(f"Dense{index}/bias", (fmaps,))
            coef = np.float32(1.0 / np.sqrt(fan_in)) * lrmul
            self._layers.append((tf.constant(weight * coef), tf.constant(bias * lrmul)))
            if index == 0:
                self.z_dim = fan_in
        self.w_dim = fmaps
        store.check_all_used(f"G_mapping with {self.num_layers} layers")
        broadcast = kwargs.get("dlatent_broadcast")
        self.num_ws = None if broadcast is None else _number_kwarg(kwargs, "dlatent_broadcast", None, what, integer=True)

    def __call__(self, z):
        """z: (N, z_dim) float32 -> w: (N, w_dim) float32 (one w per sample, before broadcast)."""
        x = z
        if self._normalize:
            x = x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), axis=1, keepdims=True) + 1e-8)
        for weight, bias in self._layers:
            x = ops.bias_act(tf.matmul(x, weight), bias, self._act)
        return x


class _ModulatedLayer:
    """One modulated convolution: runtime weight (kh, kw, I, O), style dense layer, optional noise and bias."""

    def __init__(self, store, scope, w_dim, in_channels, kernel, out_channels=None, noise=True):
        weight = store.get(f"{scope}/weight", (kernel, kernel, in_channels, out_channels))
        fan_in = kernel * kernel * in_channels
        self.weight = tf.constant(weight * np.float32(1.0 / np.sqrt(fan_in)))
        self.out_channels = weight.shape[3]
        self.mod_weight = tf.constant(store.get(f"{scope}/mod_weight", (w_dim, in_channels))
                                      * np.float32(1.0 / np.sqrt(w_dim)))
        self.mod_bias = tf.constant(store.get(f"{scope}/mod_bias", (in_channels,)))
        self.noise_strength = tf.constant(store.get(f"{scope}/noise_strength", ())) if noise else None
        self.bias = tf.constant(store.get(f"{scope}/bias", (self.out_channels,)))


class SynthesisNetwork:
    """``G_synthesis_stylegan2``: ws (N, num_ws, w_dim) and noise -> images (N, R, R, C) float32, NHWC.

    Attributes: ``resolution``, ``num_ws``, ``w_dim``, ``img_channels``, ``architecture``, ``noise_shapes``
    (list of (H, W), one per noise input), ``const_noise`` (the stored buffers, each (1, H, W, 1)),
    ``resample_kernel`` (the FIR taps, float32 1-D or 2-D).
    """

    def __init__(self, variables, kwargs, what):
        store = _Variables(variables, what, "synthesis")
        self.architecture = kwargs.get("architecture", "skip")
        if self.architecture not in ARCHITECTURES:
            raise InputError(f"{what}: architecture {self.architecture!r} is not supported (expected orig, skip or resnet)")
        self.resolution = _number_kwarg(kwargs, "resolution", 1024, what, integer=True)
        log2 = int(np.round(np.log2(max(self.resolution, 1))))
        if self.resolution < 4 or 2 ** log2 != self.resolution:
            raise InputError(f"{what}: resolution {self.resolution} is not a power of two >= 4")
        self._act = _activation(kwargs, "nonlinearity", what)
        self.resample_kernel = _resample_kernel(kwargs, what)
        if self.architecture != "skip" and self.resolution == 4:
            raise InputError(f"{what}: architecture {self.architecture!r} needs resolution >= 8 (NVIDIA's code has no 4x4 output for it)")
        self.num_ws = 2 * log2 - 2
        self.noise_shapes = [(2 ** ((i + 5) // 2),) * 2 for i in range(self.num_ws - 1)]
        self.const_noise = [tf.constant(np.reshape(store.get(f"noise{i}", (1, 1, h, w)), (1, h, w, 1)))
                            for i, (h, w) in enumerate(self.noise_shapes)]
        const = store.get("4x4/Const/const", (1, None, 4, 4))
        self._const = tf.constant(np.transpose(const, (0, 2, 3, 1)))
        channels = const.shape[1]
        self.w_dim = store.get("4x4/Conv/mod_weight", (None, channels)).shape[0]
        skip = self.architecture == "skip"
        self.img_channels = None
        self._conv4 = _ModulatedLayer(store, "4x4/Conv", self.w_dim, channels, 3)
        channels = self._conv4.out_channels
        self._torgb4 = self._torgb(store, "4x4/ToRGB", channels) if skip else None
        self._blocks = []
        for res in range(3, log2 + 1):
            scope = f"{2 ** res}x{2 ** res}"
            conv0 = _ModulatedLayer(store, f"{scope}/Conv0_up", self.w_dim, channels, 3)
            conv1 = _ModulatedLayer(store, f"{scope}/Conv1", self.w_dim, conv0.out_channels, 3)
            skip_weight = None
            if self.architecture == "resnet":
                weight = store.get(f"{scope}/Skip/weight", (1, 1, channels, conv1.out_channels))
                skip_weight = tf.constant(weight * np.float32(1.0 / np.sqrt(channels)))
            torgb = self._torgb(store, f"{scope}/ToRGB", conv1.out_channels) if skip or res == log2 else None
            self._blocks.append((res, conv0, conv1, skip_weight, torgb))
            channels = conv1.out_channels
        store.check_all_used(f"G_synthesis_stylegan2 of architecture '{self.architecture}' at resolution {self.resolution}")

    def _torgb(self, store, scope, channels):
        """A ToRGB layer: 1x1 modulated conv, no demodulation, no noise, plus bias; the first one fixes img_channels."""
        layer = _ModulatedLayer(store, scope, self.w_dim, channels, 1, self.img_channels, noise=False)
        self.img_channels = layer.out_channels
        return layer

    def _layer(self, layer, x, ws, index, noise, up=False):
        """Modulated conv reading ws[:, index], plus noise[index] * strength, bias and activation."""
        s = ops.styles(ws[:, index], layer.mod_weight, layer.mod_bias)
        x = ops.modulated_conv2d(x, s, layer.weight, demodulate=True, up=up, resample_kernel=self.resample_kernel)
        x = x + noise[index] * layer.noise_strength
        return ops.bias_act(x, layer.bias, self._act)

    @staticmethod
    def _apply_torgb(layer, x, ws, index):
        """ToRGB reading ws[:, index]: (N, H, W, I) -> (N, H, W, img_channels)."""
        s = ops.styles(ws[:, index], layer.mod_weight, layer.mod_bias)
        return ops.bias_act(ops.modulated_conv2d(x, s, layer.weight, demodulate=False), layer.bias)

    def __call__(self, ws, noise):
        """ws: (N, num_ws, w_dim) float32; noise: list of (N or 1, H, W, 1) per ``noise_shapes``.
        -> raw images (N, R, R, img_channels) float32, NHWC (NVIDIA's raw NCHW output, transposed)."""
        x = tf.tile(self._const, [tf.shape(ws)[0], 1, 1, 1])
        x = self._layer(self._conv4, x, ws, 0, noise)
        y = self._apply_torgb(self._torgb4, x, ws, 1) if self._torgb4 is not None else None
        for res, conv0, conv1, skip_weight, torgb in self._blocks:
            t = x
            x = self._layer(conv0, x, ws, 2 * res - 5, noise, up=True)
            x = self._layer(conv1, x, ws, 2 * res - 4, noise)
            if skip_weight is not None:
                t = ops.upsample_conv_2d(t, skip_weight, self.resample_kernel)
                x = (x + t) * np.float32(1 / np.sqrt(2))
            if self.architecture == "skip":
                y = ops.upsample_2d(y, self.resample_kernel)
            if torgb is not None:
                rgb = self._apply_torgb(torgb, x, ws, 2 * res - 3)
                y = rgb if y is None else y + rgb
        return y
