"""The fast synthesis path: the network of :class:`~stylegan2.networks.SynthesisNetwork`, computed with less
memory traffic, to float32 rounding of the straightforward path.

What differs from the straightforward per-layer path (``SynthesisNetwork.__call__``):

- The up-sampling convolution is in polyphase form (:func:`stylegan2.ops.upsample_conv_phases`: four
  stride-1 convolutions of the low-resolution input, the transposed convolution's arithmetic), its FIR pass
  runs on the phases (2 taps per output sample and axis for [1, 3, 3, 1]) and the phases are interleaved
  at the end; the skip path's RGB up-sampling is the same without a convolution (:func:`upsample_2d_polyphase`).
- Everything between two convolutions (demodulation, noise, bias, activation and gain, the FIR pass and
  interleave, the next layer's modulation) is one function per layer, and on large layers that function
  is compiled with XLA, which fuses it into one or two passes over memory instead of one per operation
  (measured: 3-4x faster for these memory-bound steps on CPU); the skip path's up-sampling and sum is
  another. ToRGB is one batched matmul with per-sample weights instead of a modulated copy of the
  activations; on the last layer it is part of the layer's function, so those activations are never
  written out.
- Weights are read from the network's variables inside the graph (runtime weight = stored value times its
  gain, cast to the compute dtype), so gradients with respect to weights, w and noise are exact on this
  path too (tested against the straightforward path and finite differences).
- Where TensorFlow's own convolution is slower than XLA's on CPU (layers with >= 256 input channels,
  measured with ``bench/generator.py``), the convolution joins its layer's XLA function.
- ``modconv="grouped"`` (NVIDIA's ``fused_modconv``: per-sample modulated and demodulated weights, one
  grouped convolution) instead of ``"input"`` (modulate the activations): the default on a GPU.
- ``precision="bfloat16"``: the convolutions of the layers from :data:`BF16_FROM_RESOLUTION` (128 px) up take
  bfloat16 inputs and weights and give bfloat16 outputs (oneDNN accumulates in float32); everything else is
  float32: the layers under 128 px (22 % of config-f's FLOPs, 9 of its 17 layers' errors), modulation,
  demodulation, the FIR pass of the up-sampling phases, noise, bias, activation, ToRGB and the skip sum.
  Opt-in; its error against float32 and its speed are printed by ``bench/generator.py``.

Training takes gradients through this path, and there the polyphase form's slices cost more than they save
(the gradient of each slice fills a zero tensor of the input's size): ``upsampling="transposed"`` runs the
up-sampling convolution as TensorFlow's transposed convolution and every FIR pass as two matmuls with banded
matrices (:func:`stylegan2.ops.fir_2d_matmul`), which the trainer uses (1.5x faster training, bench/train.py).
Without XLA the same holds for the forward pass alone (the phases' slices and interleave are separate passes
over memory): ``upsampling="auto"``, what :class:`~stylegan2.generator.Generator` renders with, takes the
polyphase form only in layers whose steps XLA compiles and the transposed form in the others.

Inference at 256 px and more on CPU (:meth:`FastSynthesis.per_sample`, what
:class:`~stylegan2.generator.Generator` runs there, :func:`default_per_sample`) renders one sample at a time
in a graph loop: every XLA function is compiled once per process, for batch 1, instead of once per batch size
(9-30 s at 1024 px per new batch size, measured), the activations held at any moment are those of one sample
(peak memory at batch 4, 1024 px: 4.0 -> 2.2 GiB, measured), and a sample's image does not depend on what
else is in its batch. There it is about as fast per image as whole batches: the large layers' convolutions
fill the cores at batch 1. Smaller networks render whole batches, which are faster for them (their small
layers do not fill the cores; see :data:`PER_SAMPLE_MIN_RESOLUTION`).

Small layers (fewer than :data:`XLA_MIN_ELEMENTS` activation values per sample) run as plain TensorFlow
operations: compiling them would cost more than it saves (and tiny test generators stay quick).
"""
import numpy as np
import tensorflow as tf

from . import ops

# Per-sample activation size (H * W * C of a layer's output) from which a layer's non-convolution steps run
# as one XLA function on CPU; below it XLA's compile time and call overhead outweigh the saved passes.
XLA_MIN_ELEMENTS = 1 << 18
# Input channels from which XLA's convolution beats TensorFlow's (oneDNN) convolution on CPU (bench/generator.py).
XLA_CONV_MIN_CHANNELS = 256
# Output resolution from which Generator renders one sample at a time on CPU. Per-image time, one sample at a
# time vs whole batches (config-f shapes, this loaded 2-core CPU, measured back to back): 16 px batch 64 44 vs
# 16 ms, 64 px batch 8 298 vs 247 ms, 128 px batch 8 572 vs 514 ms, 256 px batch 4 1.3 vs 1.8 s, 1024 px
# batch 4 2.4 vs 2.3 s; whole batches compile per batch size (1024 px: 9-21 s).
PER_SAMPLE_MIN_RESOLUTION = 256
MODCONV_MODES = ("input", "grouped")
# How an up-sampling layer computes: "polyphase" (four stride-1 convolutions and an FIR pass over the phases,
# the fastest forward pass where XLA fuses that pass into the layer's function), "transposed" (TensorFlow's
# transposed convolution and the FIR pass as two matmuls: the fastest when gradients are taken, since the
# polyphase form's slices have costly gradients; training, measured in bench/train.py --profile), or "auto"
# (per layer: polyphase where the layer's steps run as one XLA function, transposed where they run as plain
# operations, there the phases' slices and interleave are separate passes over memory; what Generator renders
# with. Measured back to back on this loaded 2-core CPU, ms per image: the world's 32 px generator (no layer
# compiled) batch 64 polyphase 7.5, transposed 6.0, auto 6.0-6.7; config-f shapes 64 px batch 16 650 / 670 / 629,
# 256 px batch 2 1964 / 2326 / 1799 (bench/measure_loop.py times the world's case inside the claims' loop).
UPSAMPLING_MODES = ("polyphase", "transposed", "auto")
PRECISIONS = ("float32", "bfloat16")
# Default output resolution from which a conv layer's convolution runs in bfloat16 (precision="bfloat16").
# Measured on config-f 1024 (xla=False, 2 samples, raw images of std 1.5): every layer adds about the same
# error (bfloat16 rounding of its input, weight and output, about equally), so the layers with the fewest FLOPs
# per layer stay float32. Mean abs error vs float32: every layer 0.0085 (max 0.061); from 64 px (the 7 layers
# under it hold 5 % of the FLOPs) 0.0047, 0.0051-0.0052 in bench/generator.py; from 128 px (22 % of the FLOPs
# in float32) 0.0033 (max 0.038): the bound of 0.005 with a margin.
BF16_FROM_RESOLUTION = 128


def _layer_resolution(position):
    """Output resolution of conv layer ``position`` (net.conv_layers order: 4x4 conv, then two per block)."""
    return 4 if position == 0 else 2 ** (3 + (position - 1) // 2)


def default_per_sample(resolution):
    """Whether to render one sample at a time (:meth:`FastSynthesis.per_sample`) at ``resolution`` (px): on CPU
    from :data:`PER_SAMPLE_MIN_RESOLUTION` up, where it is as fast per image as whole batches and saves the
    compile per batch size and most of the memory; not on a GPU, which needs whole batches to be busy."""
    return resolution >= PER_SAMPLE_MIN_RESOLUTION and not tf.config.list_logical_devices("GPU")


def default_modconv():
    """'grouped' when TensorFlow sees a GPU (NVIDIA's fused modulated convolution is faster there), else 'input'."""
    return "grouped" if tf.config.list_logical_devices("GPU") else "input"


class FastSynthesis:
    """Callable like ``SynthesisNetwork``: ``(ws (N, num_ws, w_dim), noise list) -> (N, R, R, C) float32``.

    net: the :class:`SynthesisNetwork` whose weights are used; modconv: 'input' | 'grouped' (None: by device,
    :func:`default_modconv`); precision: 'float32' | 'bfloat16' (then the convolutions of layers with outputs of
    ``bfloat16_from`` px and more run in bfloat16, the rest in float32); xla: True / False forces XLA for every layer's
    fused steps / for none, None chooses by size on CPU (see the module docstring); upsampling: one of
    :data:`UPSAMPLING_MODES` ("transposed" needs modconv "input"). Call it inside a ``tf.function``.
    """

    def __init__(self, net, modconv=None, precision="float32", xla=None, bfloat16_from=BF16_FROM_RESOLUTION,
                 upsampling="polyphase"):
        modconv = modconv or default_modconv()
        if modconv not in MODCONV_MODES:
            raise ValueError(f"modconv must be one of {MODCONV_MODES}, got {modconv!r}")
        if upsampling not in UPSAMPLING_MODES or (upsampling != "polyphase" and modconv != "input"):
            raise ValueError(f"upsampling must be one of {UPSAMPLING_MODES} (not polyphase only with modconv 'input'), "
                             f"got {upsampling!r} with modconv {modconv!r}")
        self.upsampling = upsampling
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if ops.fir_factors(net.resample_kernel) is None:
            raise ValueError("the fast path needs a separable resample_kernel")
        self.modconv, self.precision = modconv, precision
        self._net = net
        # The compute dtype of each conv layer's convolution (positions as in net.conv_layers).
        self._dtypes = [tf.bfloat16 if precision == "bfloat16" and _layer_resolution(position) >= bfloat16_from
                        else tf.float32 for position in range(len(net.conv_layers))]
        self._kernel = net.resample_kernel
        self._act, self._gain = ops.activation(net.activation)
        self._functions = {}
        self._xla = xla

    # ----- building blocks (graph code, run while tracing) -----

    def _uses_xla(self, large):
        """Whether a step of a layer that is ``large`` (or not) runs as one XLA function."""
        return self._xla if self._xla is not None else large

    def _transposed(self, compiled):
        """Whether an up-sampling step uses the transposed form, given whether it runs in an XLA function."""
        return self.upsampling == "transposed" or (self.upsampling == "auto" and not compiled)

    def _compiled(self, key, function, large):
        """``function`` as is, or wrapped once in an XLA-compiled tf.function for a large layer."""
        if not self._uses_xla(large):
            return function
        if key not in self._functions:
            self._functions[key] = tf.function(function, jit_compile=True, autograph=False)
        return self._functions[key]

    @staticmethod
    def _cast(x, dtype):
        return x if x.dtype == dtype else tf.cast(x, dtype)

    def _fir_up(self, y, kernel_size):
        """The FIR pass of an up-sampling convolution's output (the phases, a dict, or the transposed
        convolution's output, a tensor) in float32 -> (N, 2H, 2W, O)."""
        if not isinstance(y, dict):
            return ops.fir_transposed(tf.cast(y, tf.float32), self._kernel, kernel_size)
        phases = [[None if p is None else tf.cast(p, tf.float32) for p in row] for row in y["phases"]]
        return ops.fir_interleave(dict(y, phases=phases), self._kernel)

    @staticmethod
    def _demodulation(s, weight):
        """rsqrt(sum over (kh, kw, I) of (weight * s)^2 + 1e-8): (N, O)."""
        return tf.math.rsqrt(tf.matmul(tf.square(s), tf.reduce_sum(tf.square(weight), axis=[0, 1])) + 1e-8)

    def _epilogue(self, y, d, noise, layer, s_next, rgb_weight, next_dtype):
        """Demodulate (d may be None: already in the weight), add noise and bias, activate, in float32.

        -> (z, z * s_next in ``next_dtype`` or None); with ``rgb_weight`` (N, C, C_img) instead (the network's last
        layer, whose output only feeds ToRGB): (ToRGB of z without bias, None), so z itself is never written out.
        """
        y = tf.cast(y, tf.float32)
        if d is not None:
            y = y * d[:, tf.newaxis, tf.newaxis, :]
        y = y + noise * layer.noise_strength
        z = self._act(y + layer.bias)
        z = z if self._gain == 1.0 else z * self._gain
        if rgb_weight is not None:
            return self._rgb(z, rgb_weight), None
        zm = None if s_next is None else self._cast(z * s_next[:, tf.newaxis, tf.newaxis, :], next_dtype)
        return z, zm

    @staticmethod
    def _rgb(z, weight):
        """1x1 convolution with per-sample weights: z (N, H, W, C), weight (N, C, O) -> (N, H, W, O)."""
        _, h, w, c = z.shape
        return tf.reshape(tf.matmul(tf.reshape(z, [-1, h * w, c]), weight), [-1, h, w, weight.shape[2]])

    def _grouped_weight(self, layer, s, demodulate):
        """NVIDIA's fused form: per-sample weights, (kh, kw, I, N * O), modulated (and demodulated)."""
        w = layer.weight[tf.newaxis] * s[:, tf.newaxis, tf.newaxis, :, tf.newaxis]  # (N, kh, kw, I, O)
        if demodulate:
            w = w * tf.math.rsqrt(tf.reduce_sum(tf.square(w), axis=[1, 2, 3], keepdims=True) + 1e-8)
        kh, kw, i, o = layer.weight.shape
        return tf.reshape(tf.transpose(w, [1, 2, 3, 0, 4]), [kh, kw, i, -1])

    @staticmethod
    def _to_groups(x):
        """(N, H, W, C) -> (1, H, W, N * C), sample-major channels."""
        _, h, w, c = x.shape
        return tf.reshape(tf.transpose(x, [1, 2, 0, 3]), [1, h, w, -1])

    @staticmethod
    def _from_groups(y, channels):
        """(1, H, W, N * C) -> (N, H, W, C)."""
        _, h, w, _ = y.shape
        return tf.transpose(tf.reshape(y, [h, w, -1, channels]), [2, 0, 1, 3])

    def _conv(self, xm, layer, up, dtype, weight=None, transposed=False):
        """The layer's convolution of modulated xm in ``dtype``: a tensor, or the phases of an up-sampling
        convolution (a dict) unless ``transposed``.

        weight: None for the layer's own runtime weight, read from its variables in the graph (so gradients
        with respect to the stored weights are exact), else a grouped weight."""
        w = self._cast(layer.weight if weight is None else weight, dtype)
        if up and transposed:
            return ops.transposed_conv(self._cast(xm, dtype), w)
        if up:
            return ops.upsample_conv_phases(self._cast(xm, dtype), w, self._kernel)
        return tf.nn.conv2d(self._cast(xm, dtype), w, strides=1, padding="SAME")

    # ----- layers -----

    def _modulated_layer(self, key, layer, x, xm, s, noise, up, s_next, dtypes, rgb_weight=None):
        """One modulated 3x3 layer -> :meth:`_epilogue`'s pair. x: unmodulated input (grouped mode); xm = x * s
        (input mode); dtypes: (this layer's convolution dtype, the next one's); rgb_weight: see :meth:`_epilogue`.
        The FIR pass of an up-sampling layer runs in float32 (it adds 4 rounded phases otherwise)."""
        dtype, next_dtype = dtypes
        _, h, w, _ = (x if xm is None else xm).shape
        out_h, out_w = (2 * h, 2 * w) if up else (h, w)
        large = out_h * out_w * layer.out_channels >= XLA_MIN_ELEMENTS
        if self.modconv == "grouped":
            weight = self._grouped_weight(layer, s, demodulate=True)

            def body(x, weight, noise, s_next, rgb_weight):
                y = self._conv(self._to_groups(x), layer, up, dtype, weight)  # grouped: always polyphase
                y = self._fir_up(y, layer.weight.shape[0]) if up else y
                return self._epilogue(self._from_groups(y, layer.out_channels), None, noise, layer, s_next, rgb_weight,
                                      next_dtype)
            return self._compiled(key, body, large)(x, weight, noise, s_next, rgb_weight)

        d = self._demodulation(s, layer.weight)

        def rest(y, d, noise, s_next, rgb_weight):
            y = self._fir_up(y, layer.weight.shape[0]) if up else y
            return self._epilogue(y, d, noise, layer, s_next, rgb_weight, next_dtype)

        if layer.weight.shape[2] >= XLA_CONV_MIN_CHANNELS and dtype == tf.float32 and self._xla is not False:
            def whole(xm, d, noise, s_next, rgb_weight):
                y = self._conv(xm, layer, up, dtype, transposed=self._transposed(self._uses_xla(True)))
                return rest(y, d, noise, s_next, rgb_weight)
            return self._compiled(key, whole, True)(xm, d, noise, s_next, rgb_weight)
        y = self._conv(xm, layer, up, dtype, transposed=self._transposed(self._uses_xla(large)))
        return self._compiled(key, rest, large)(y, d, noise, s_next, rgb_weight)

    def _compiles(self, layer, size):
        """Whether a layer with ``size`` x ``size`` outputs runs its steps as one XLA function (see _compiled)."""
        return self._uses_xla(size * size * layer.out_channels >= XLA_MIN_ELEMENTS)

    @staticmethod
    def _torgb_weight(layer, s):
        """ToRGB as per-sample weights (N, C, C_img): the style times the 1x1 weight (no demodulation)."""
        return s[:, :, tf.newaxis] * layer.weight[0, 0][tf.newaxis]

    def _torgb(self, layer, x, s):
        """ToRGB: 1x1 modulated convolution without demodulation = one batched matmul with per-sample weights."""
        return self._rgb(x, self._torgb_weight(layer, s))

    def _skip_sum(self, key, y, rgb, bias):
        """y <- upsample(y) + rgb + bias (y None: rgb + bias)."""
        _, h, w, c = rgb.shape
        large = h * w * c * 8 >= XLA_MIN_ELEMENTS  # RGB has few channels and light steps: 8x fewer values
        upsample = ops.upsample_2d_matmul if self._transposed(self._uses_xla(large)) else ops.upsample_2d_polyphase

        def body(y, rgb):
            rgb = rgb + bias
            return rgb if y is None else upsample(y, self._kernel) + rgb
        return self._compiled(key, body, large)(y, rgb)

    def _resnet_tail(self, key, z, t, skip_weight, s_next, next_dtype):
        """Resnet block end: (z + upsample_conv(t, skip 1x1)) / sqrt 2 -> (x, x * s_next in ``next_dtype``)."""
        _, h, w, c = z.shape
        large = h * w * c >= XLA_MIN_ELEMENTS
        upsample = (ops.upsample_conv_2d_transposed if self._transposed(self._uses_xla(large))
                    else ops.upsample_conv_2d_polyphase)

        def body(z, t, s_next):
            skip = upsample(t, skip_weight(), self._kernel)
            x = (z + skip) * np.float32(1 / np.sqrt(2))
            return x, None if s_next is None else self._cast(x * s_next[:, tf.newaxis, tf.newaxis, :], next_dtype)
        return self._compiled(key, body, large)(z, t, s_next)

    def __call__(self, ws, noise):
        """ws: (N, num_ws, w_dim) float32; noise: list of (N or 1, H, W, 1). -> (N, R, R, C) float32, NHWC."""
        net, grouped = self._net, self.modconv == "grouped"
        layers = net.conv_layers
        styles = [layer.styles(ws) for layer in layers]

        def modulate(x, position):
            return None if grouped else self._cast(x * styles[position][:, tf.newaxis, tf.newaxis, :],
                                                   self._dtypes[position])

        def run(position, x, xm, rgb_weight=None):
            """Layer ``position`` -> (z, z modulated for the next layer, or None where that is not done here)."""
            layer = layers[position]
            ends_block = net.architecture == "resnet" and position % 2 == 0 and position > 0
            s_next = None if grouped or ends_block or position + 1 == len(layers) else styles[position + 1]
            dtypes = self._dtypes[position], self._dtypes[min(position + 1, len(layers) - 1)]
            return self._modulated_layer(f"layer{position}", layer, x, xm, styles[position], noise[layer.ws_index],
                                         layer.up, s_next, dtypes, rgb_weight)

        x = tf.tile(net.const, [tf.shape(ws)[0], 1, 1, 1])
        z, zm = run(0, x, modulate(x, 0))
        y = None
        if net.torgb4 is not None:
            y = self._skip_sum("rgb4", None, self._torgb(net.torgb4, z, net.torgb4.styles(ws)), net.torgb4.bias)
        for index, block in enumerate(net.blocks):
            position = 2 * index + 1
            t = z
            z, zm = run(position, z, zm)
            if position + 2 == len(layers) and block.skip_weight is None and self._compiles(layers[-1], 2 ** block.res):
                # The last layer's output only feeds ToRGB: computed in the same function, never written out.
                rgb, _ = run(position + 1, z, zm, self._torgb_weight(block.torgb, block.torgb.styles(ws)))
                return self._skip_sum(f"rgb{index}", y, rgb, block.torgb.bias)
            z, zm = run(position + 1, z, zm)
            if block.skip_weight is not None:
                s_next = None if grouped or position + 2 == len(layers) else styles[position + 2]
                z, zm = self._resnet_tail(f"tail{index}", z, t, block.skip_weight, s_next,
                                          self._dtypes[min(position + 2, len(layers) - 1)])
            if block.torgb is not None:
                y = self._skip_sum(f"rgb{index}", y, self._torgb(block.torgb, z, block.torgb.styles(ws)),
                                   block.torgb.bias)
        return y

    def per_sample(self, ws, noise):
        """:meth:`__call__` on one sample at a time, in turn (a graph loop; see the module docstring).

        ws: (N, num_ws, w_dim) float32; noise: list of (N or 1, H, W, 1), one per noise input. -> (N, R, R, C)
        float32, NHWC, each image that of its sample rendered alone.
        """
        net = self._net
        _, num_ws, w_dim = ws.shape

        def one(index):
            sample_noise = [tf.reshape(buffer[tf.minimum(index, tf.shape(buffer)[0] - 1)], [1, h, w, 1])
                            for buffer, (h, w) in zip(noise, net.noise_shapes)]
            return self(tf.reshape(ws[index], [1, num_ws, w_dim]), sample_noise)[0]

        # parallel_iterations=1: one sample in flight, so only its activations are held.
        return tf.map_fn(one, tf.range(tf.shape(ws)[0]), parallel_iterations=1, fn_output_signature=tf.TensorSpec(
            [net.resolution, net.resolution, net.img_channels], tf.float32))
