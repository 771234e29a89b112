"""NVIDIA's StyleGAN2 mapping and synthesis networks (``training/networks_stylegan2.py``) rebuilt from stored
variables, every size read from the stored kwargs and variable shapes.

Both classes take a Network's stored variables (dict name -> float32 ndarray) and static kwargs, check
that the variables are exactly those the official code creates for those kwargs, and hold the stored values
as ``tf.Variable``s (``variables_by_name``: NVIDIA's names, stored order). The equalized-learning-rate gains
(and the mapping network's learning-rate multiplier) are applied in the graph, so gradients with respect to
the stored values are those NVIDIA's training computes, and a trained network writes back exactly what it
holds (:meth:`stored_values`). Calling them runs the straightforward per-layer computation in NHWC; the
layers are public (:class:`ModulatedLayer`, :class:`SynthesisBlock`) so that other implementations of the
same network (:mod:`stylegan2.fast_synthesis`) read the same description.
"""
import collections

import numpy as np
import tensorflow as tf

from . import ops
from .errors import InputError
from .official_pickle import MAPPING_LRMUL

ARCHITECTURES = ("orig", "skip", "resnet")
DEFAULT_RESAMPLE_KERNEL = (1, 3, 3, 1)


class _Variables:
    """Checked access to one Network's stored variables; every variable must be used exactly once.

    :meth:`variable` also makes the ``tf.Variable`` holding a stored value and records it in ``created``
    (NVIDIA's name -> variable, in stored order once :meth:`check_all_used` has run).
    """

    def __init__(self, variables, what, network):
        self._variables = variables
        self._unused = set(variables)
        self._what = what
        self._network = network
        self.created = {}

    def variable(self, name, shape, trainable=True):
        """A ``tf.Variable`` holding the stored value of ``name`` (checked as :meth:`get`)."""
        value = self.get(name, shape)
        var = tf.Variable(value, trainable=trainable, name=name)
        self.created[name] = var
        return var

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
        self.created = {name: self.created[name] for name in self._variables if name in self.created}


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


class MappingNetwork(tf.Module):
    """``G_mapping``: z (N, z_dim) -> w (N, w_dim): normalise z, then ``mapping_layers`` dense layers.

    Attributes: ``z_dim``, ``w_dim``, ``num_layers``, ``num_ws`` (the stored ``dlatent_broadcast`` or None),
    ``lrmul`` (the learning-rate multiplier applied in the graph), ``variables_by_name``.
    """

    def __init__(self, variables, kwargs, what):
        super().__init__(name="G_mapping")
        if kwargs.get("label_size", 0):
            raise InputError(f"{what}: conditional networks (label_size = {kwargs['label_size']}) are not supported yet")
        store = _Variables(variables, what, "mapping")
        self.num_layers = _number_kwarg(kwargs, "mapping_layers", 8, what, integer=True)
        if self.num_layers < 1:
            raise InputError(f"{what}: mapping_layers = {self.num_layers}; at least 1 is needed")
        self.lrmul = np.float32(_number_kwarg(kwargs, "mapping_lrmul", MAPPING_LRMUL, what))
        self._act = _activation(kwargs, "mapping_nonlinearity", what)
        self._normalize = bool(kwargs.get("normalize_latents", True))
        self._layers = []
        fmaps = None
        for index in range(self.num_layers):
            weight = store.variable(f"Dense{index}/weight", (fmaps, None))
            fan_in, fmaps = weight.shape
            bias = store.variable(f"Dense{index}/bias", (fmaps,))
            self._layers.append((weight, bias, np.float32(1.0 / np.sqrt(fan_in)) * self.lrmul))
            if index == 0:
                self.z_dim = fan_in
        self.w_dim = fmaps
        store.check_all_used(f"G_mapping with {self.num_layers} layers")
        self.variables_by_name = store.created
        broadcast = kwargs.get("dlatent_broadcast")
        self.num_ws = None if broadcast is None else _number_kwarg(kwargs, "dlatent_broadcast", None, what, integer=True)

    def __call__(self, z):
        """z: (N, z_dim) float32 -> w: (N, w_dim) float32 (one w per sample, before broadcast)."""
        x = z
        if self._normalize:
            x = x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), axis=1, keepdims=True) + 1e-8)
        for weight, bias, coef in self._layers:
            x = ops.bias_act(tf.matmul(x, weight * coef), bias * self.lrmul, self._act)
        return x

    def stored_values(self):
        """The current stored values (what NVIDIA's pickle holds): {name: float32 ndarray}, stored order."""
        return {name: var.numpy() for name, var in self.variables_by_name.items()}


class ModulatedLayer:
    """One modulated convolution of the synthesis network, its stored values held as variables.

    ``weight`` (kh, kw, I, O), ``mod_weight`` (w_dim, I), ``mod_bias`` (I,), ``noise_strength`` () or None,
    ``bias`` (O,) are the *runtime* tensors (stored value times its equalized-lr gain, computed when read;
    read them inside the graph that uses them). ``ws_index``: the W+ entry whose style it reads; ``up``:
    whether it up-samples by 2 first; ``demodulate``: False for ToRGB; ``out_channels``.
    """

    def __init__(self, store, scope, w_dim, in_channels, kernel, ws_index, out_channels=None, noise=True,
                 up=False, demodulate=True):
        self._weight = store.variable(f"{scope}/weight", (kernel, kernel, in_channels, out_channels))
        self._weight_gain = np.float32(1.0 / np.sqrt(kernel * kernel * in_channels))
        self.out_channels = self._weight.shape[3]
        self._mod_weight = store.variable(f"{scope}/mod_weight", (w_dim, in_channels))
        self._mod_gain = np.float32(1.0 / np.sqrt(w_dim))
        self.mod_bias = store.variable(f"{scope}/mod_bias", (in_channels,))
        self.noise_strength = store.variable(f"{scope}/noise_strength", ()) if noise else None
        self.bias = store.variable(f"{scope}/bias", (self.out_channels,))
        self.ws_index, self.up, self.demodulate = ws_index, up, demodulate

    @property
    def weight(self):
        """Runtime convolution weight (kh, kw, I, O): stored / sqrt(fan_in)."""
        return self._weight * self._weight_gain

    @property
    def mod_weight(self):
        """Runtime style weight (w_dim, I): stored / sqrt(w_dim)."""
        return self._mod_weight * self._mod_gain

    def styles(self, ws):
        """ws (N, num_ws, w_dim) -> this layer's styles (N, I)."""
        return ops.styles(ws[:, self.ws_index], self.mod_weight, self.mod_bias)


# One synthesis block at resolution 2^res: conv0 (up-sampling), conv1, the resnet skip's runtime 1x1 weight
# (a callable, None unless resnet) and the ToRGB layer (None where the architecture has none).
SynthesisBlock = collections.namedtuple("SynthesisBlock", "res conv0 conv1 skip_weight torgb")


class SynthesisNetwork(tf.Module):
    """``G_synthesis_stylegan2``: ws (N, num_ws, w_dim) and noise -> images (N, R, R, C) float32, NHWC.

    Attributes: ``resolution``, ``num_ws``, ``w_dim``, ``img_channels``, ``architecture``, ``noise_shapes``
    (list of (H, W), one per noise input), ``const_noise`` (the stored buffers, each a (1, H, W, 1)
    non-trainable variable), ``resample_kernel`` (the FIR taps, float32 1-D or 2-D), ``activation`` (the
    name), ``variables_by_name``. The layers: ``const`` (1, 4, 4, C), ``conv4`` and ``torgb4`` (the 4x4
    layers; ``torgb4`` None unless skip), ``blocks`` (list of :class:`SynthesisBlock`, 8x8 upward),
    ``conv_layers`` (every 3x3 :class:`ModulatedLayer` in order).
    """

    def __init__(self, variables, kwargs, what):
        super().__init__(name="G_synthesis")
        store = _Variables(variables, what, "synthesis")
        self.architecture = kwargs.get("architecture", "skip")
        if self.architecture not in ARCHITECTURES:
            raise InputError(f"{what}: architecture {self.architecture!r} is not supported (expected orig, skip or resnet)")
        self.resolution = _number_kwarg(kwargs, "resolution", 1024, what, integer=True)
        log2 = int(np.round(np.log2(max(self.resolution, 1))))
        if self.resolution < 4 or 2 ** log2 != self.resolution:
            raise InputError(f"{what}: resolution {self.resolution} is not a power of two >= 4")
        self.activation = _activation(kwargs, "nonlinearity", what)
        self.resample_kernel = _resample_kernel(kwargs, what)
        if self.architecture != "skip" and self.resolution == 4:
            raise InputError(f"{what}: architecture {self.architecture!r} needs resolution >= 8 (NVIDIA's code has no 4x4 output for it)")
        self.num_ws = 2 * log2 - 2
        self.noise_shapes = [(2 ** ((i + 5) // 2),) * 2 for i in range(self.num_ws - 1)]
        self.const_noise = []
        for i, (h, w) in enumerate(self.noise_shapes):  # held NHWC, (1, H, W, 1); stored (1, 1, H, W)
            buffer = tf.Variable(np.reshape(store.get(f"noise{i}", (1, 1, h, w)), (1, h, w, 1)), trainable=False,
                                 name=f"noise{i}")
            store.created[f"noise{i}"] = buffer
            self.const_noise.append(buffer)
        self._const = store.variable("4x4/Const/const", (1, None, 4, 4))
        channels = self._const.shape[1]
        self.w_dim = store.get("4x4/Conv/mod_weight", (None, channels)).shape[0]
        skip = self.architecture == "skip"
        self.img_channels = None
        self.conv4 = ModulatedLayer(store, "4x4/Conv", self.w_dim, channels, 3, ws_index=0)
        channels = self.conv4.out_channels
        self.torgb4 = self._torgb(store, "4x4/ToRGB", channels, 1) if skip else None
        self.blocks = []
        for res in range(3, log2 + 1):
            scope = f"{2 ** res}x{2 ** res}"
            conv0 = ModulatedLayer(store, f"{scope}/Conv0_up", self.w_dim, channels, 3, 2 * res - 5, up=True)
            conv1 = ModulatedLayer(store, f"{scope}/Conv1", self.w_dim, conv0.out_channels, 3, 2 * res - 4)
            skip_weight = None
            if self.architecture == "resnet":
                stored = store.variable(f"{scope}/Skip/weight", (1, 1, channels, conv1.out_channels))
                skip_weight = _scaled(stored, np.float32(1.0 / np.sqrt(channels)))
            torgb = self._torgb(store, f"{scope}/ToRGB", conv1.out_channels, 2 * res - 3) if skip or res == log2 else None
            self.blocks.append(SynthesisBlock(res, conv0, conv1, skip_weight, torgb))
            channels = conv1.out_channels
        self.conv_layers = [self.conv4] + [conv for block in self.blocks for conv in (block.conv0, block.conv1)]
        store.check_all_used(f"G_synthesis_stylegan2 of architecture '{self.architecture}' at resolution {self.resolution}")
        self.variables_by_name = store.created

    @property
    def const(self):
        """The learned 4x4 input (1, 4, 4, C), NHWC."""
        return tf.transpose(self._const, (0, 2, 3, 1))

    def _torgb(self, store, scope, channels, ws_index):
        """A ToRGB layer: 1x1 modulated conv, no demodulation, no noise, plus bias; the first one fixes img_channels."""
        layer = ModulatedLayer(store, scope, self.w_dim, channels, 1, ws_index, self.img_channels, noise=False,
                               demodulate=False)
        self.img_channels = layer.out_channels
        return layer

    def stored_values(self):
        """The current stored values (what NVIDIA's pickle holds): {name: float32 ndarray}, stored order."""
        values = {name: var.numpy() for name, var in self.variables_by_name.items()}
        for i, (h, w) in enumerate(self.noise_shapes):
            values[f"noise{i}"] = np.reshape(values[f"noise{i}"], (1, 1, h, w))
        return values

    def _layer(self, layer, x, ws, noise):
        """Modulated conv reading its W+ entry, plus noise * strength, bias and activation."""
        x = ops.modulated_conv2d(x, layer.styles(ws), layer.weight, demodulate=True, up=layer.up,
                                 resample_kernel=self.resample_kernel)
        x = x + noise[layer.ws_index] * layer.noise_strength
        return ops.bias_act(x, layer.bias, self.activation)

    @staticmethod
    def _apply_torgb(layer, x, ws):
        """ToRGB reading its W+ entry: (N, H, W, I) -> (N, H, W, img_channels)."""
        return ops.bias_act(ops.modulated_conv2d(x, layer.styles(ws), layer.weight, demodulate=False), layer.bias)

    def __call__(self, ws, noise):
        """ws: (N, num_ws, w_dim) float32; noise: list of (N or 1, H, W, 1) per ``noise_shapes``.
        -> raw images (N, R, R, img_channels) float32, NHWC (NVIDIA's raw NCHW output, transposed)."""
        x = tf.tile(self.const, [tf.shape(ws)[0], 1, 1, 1])
        x = self._layer(self.conv4, x, ws, noise)
        y = self._apply_torgb(self.torgb4, x, ws) if self.torgb4 is not None else None
        for block in self.blocks:
            t = x
            x = self._layer(block.conv0, x, ws, noise)
            x = self._layer(block.conv1, x, ws, noise)
            if block.skip_weight is not None:
                t = ops.upsample_conv_2d(t, block.skip_weight(), self.resample_kernel)
                x = (x + t) * np.float32(1 / np.sqrt(2))
            if self.architecture == "skip":
                y = ops.upsample_2d(y, self.resample_kernel)
            if block.torgb is not None:
                rgb = self._apply_torgb(block.torgb, x, ws)
                y = rgb if y is None else y + rgb
        return y


def _scaled(variable, gain):
    """A callable giving ``variable * gain`` when called (a runtime weight read inside the graph)."""
    return lambda: variable * gain
