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


def activation(name):
    """``fused_bias_act``'s activation ``name`` -> (function of x, its default gain)."""
    return _ACTIVATIONS[name]


def bias_act(x, bias, act="linear"):
    """``fused_bias_act``: (x + bias) -> activation -> times the activation's gain (sqrt 2 for lrelu).

    x: (..., C) float32; bias: (C,) runtime bias; act: a name in :data:`ACTIVATION_NAMES`.
    """
    func, gain = activation(act)
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



# Polyphase (sub-pixel) forms of the up-sampling operations, used by the fast synthesis path.
#
# NVIDIA's up-sampling convolution is t = conv2d_transpose(x, w, stride 2), zero-padded and filtered with the
# FIR kernel f. The samples of t with even (odd) index along an axis are a stride-1 convolution of the
# low-resolution x with the even (odd) taps of the flipped weight, so t is factor^2 "phases", each a small
# stride-1 convolution of x (for a 3x3 weight: 2x2, 2x1, 1x2 and 1x1 taps, 9 in all: the transposed
# convolution's arithmetic). The FIR pass is applied to the phases themselves: each output phase is a sum of
# shifted phases times len(f) / factor taps per axis (separable), and the output phases are interleaved
# (depth-to-space) at the end. ``upsample_2d`` is the case of a 1x1 identity weight: its phases are x itself
# or zero, so it needs no convolution, and the zero phases drop out of the FIR sums.


def fir_factors(k, gain=1.0):
    """Separable factors of the FIR kernel as NVIDIA sets it up (normalised, times ``gain``), or None.

    k: 1-D taps (-> their outer product) or a 2-D kernel. -> (taps along H, taps along W), float64 1-D
    arrays whose outer product is ``setup_fir_kernel(k) * gain``; None for a non-separable 2-D kernel.
    """
    k = np.asarray(k, dtype=np.float64)
    if k.ndim == 1:
        k1 = k / np.sum(k)
        return k1 * gain, k1
    kernel = k / np.sum(k) * gain
    u, sv, vt = np.linalg.svd(kernel)
    if sv.size > 1 and sv[1] > 1e-7 * sv[0]:
        return None
    return u[:, 0] * sv[0], vt[0]


def _axis_plan(size, kernel_size, factor, fir_len):
    """The polyphase layout along one axis of ``upsample_conv_2d`` (input ``size``, weight ``kernel_size`` taps).

    -> (pad_before, pad_after, phases, out): x is padded by (pad_before, pad_after); phase a of the padded
    transposed-convolution output is None (all zero) or (offset, weight tap indices, rows): rows samples of a
    VALID correlation of padded x, from ``offset``, with the weight taps at those indices; out: output length.
    """
    p = (fir_len - factor) - (kernel_size - 1)
    pad0, pad1 = (p + 1) // 2 + factor - 1, p // 2 + 1
    padded = (size - 1) * factor + kernel_size + pad0 + pad1
    phases = []
    for a in range(factor):
        q = a - pad0  # phase a, row i holds t[factor * i + q]: weight taps factor * r + q of the flipped weight
        r_lo, r_hi = -(q // factor), (kernel_size - 1 - q) // factor
        rows = (padded - 1 - a) // factor + 1 if padded > a else 0
        taps = [kernel_size - 1 - (factor * (r_hi - j) + q) for j in range(r_hi - r_lo + 1)]
        phases.append((r_hi, taps, rows) if taps and rows > 0 else None)
    before = max([0] + [ph[0] for ph in phases if ph])
    after = max([0] + [ph[2] + len(ph[1]) - 1 - ph[0] - size for ph in phases if ph])
    phases = [None if ph is None else (before - ph[0], ph[1], ph[2]) for ph in phases]
    return before, after, phases, padded - fir_len + 1


def _fir_phases(phases, taps, axis, factor, out):
    """Filter the phases of a signal along ``axis`` (1 = H, 2 = W) with the 1-D FIR ``taps`` (true convolution).

    phases: list (one per input phase) of tensors or None (zero), each of any length along ``axis``; -> list of
    ``factor`` output phases, each ceil(out / factor) long along ``axis`` (None where all zero).
    """
    coefficients = np.asarray(taps, np.float64)[::-1]
    rows = -(-out // factor)
    results = []
    for b in range(factor):
        terms = []
        for j, c in enumerate(coefficients):
            source = phases[(b + j) % factor]
            if source is None or c == 0:
                continue
            shift = (b + j) // factor
            have = source.shape[axis]
            if have < shift + rows:
                pad = [[0, 0]] * 4
                pad[axis] = [0, shift + rows - have]
                source = tf.pad(source, pad)
            sliced = source[:, shift:shift + rows] if axis == 1 else source[:, :, shift:shift + rows]
            terms.append(sliced * np.float32(c))
        results.append(tf.add_n(terms) if len(terms) > 1 else (terms[0] if terms else None))
    return results


def interleave_phases(phases, factor, out_h, out_w):
    """Depth-to-space of output phases: phases[a][b] (N, M, M', C) -> (N, out_h, out_w, C) with
    y[:, factor * i + a, factor * j + b] = phases[a][b][:, i, j] (cropped to out_h x out_w)."""
    reference = next(p for row in phases for p in row if p is not None)
    filled = [[tf.zeros_like(reference) if p is None else p for p in row] for row in phases]
    _, m_h, m_w, c = reference.shape
    c = tf.shape(reference)[3] if c is None else c
    rows = [tf.reshape(tf.stack(row, axis=3), [-1, m_h, m_w * factor, c]) for row in filled]
    y = tf.reshape(tf.stack(rows, axis=2), [-1, m_h * factor, m_w * factor, c])
    return y if (m_h * factor, m_w * factor) == (out_h, out_w) else y[:, :out_h, :out_w]


def upsample_conv_2d_polyphase(x, w, k, factor=2):
    """:func:`upsample_conv_2d` computed as stride-1 convolutions of the low-resolution x (see above).

    x: (N, H, W, I) with static H, W; w: (kh, kw, I, O) runtime weight (numpy array or tensor; a grouped
    weight (kh, kw, I, G*O) with x of G*I channels works too), or None for the identity (the result is then
    :func:`upsample_2d`); k: FIR taps with a separable setup (see :func:`fir_factors`). -> (N, 2H, 2W, O).
    The two halves, :func:`upsample_conv_phases` and :func:`fir_interleave`, may run in separate places.
    """
    return fir_interleave(upsample_conv_phases(x, w, k, factor), k, factor)


def upsample_conv_phases(x, w, k, factor=2):
    """The transposed convolution of :func:`upsample_conv_2d_polyphase` as ``factor``^2 stride-1 convolutions.

    -> {"phases": [[(N, M, M', O) tensor or None (zero)] * factor] * factor, "out": (2H, 2W)}, the phases of
    the zero-padded transposed-convolution output, ready for :func:`fir_interleave`.
    """
    factors = _separable_factors(k, factor)
    kernel = 1 if w is None else w.shape[0]
    _, h, width, _ = x.shape
    plan_h = _axis_plan(h, kernel, factor, len(factors[0]))
    plan_w = _axis_plan(width, kernel, factor, len(factors[1]))
    phases = []
    for phase_h in plan_h[2]:
        row = []
        for phase_w in plan_w[2]:
            if phase_h is None or phase_w is None:
                row.append(None)
                continue
            (off_h, taps_h, rows_h), (off_w, taps_w, rows_w) = phase_h, phase_w
            # The phase reads rows [start, start + rows + taps - 1) of x (zero outside): crop, then pad.
            start_h, start_w = off_h - plan_h[0], off_w - plan_w[0]
            end_h, end_w = start_h + rows_h + len(taps_h) - 1, start_w + rows_w + len(taps_w) - 1
            window = x[:, max(start_h, 0):min(end_h, h), max(start_w, 0):min(end_w, width)]
            padding = [[0, 0], [max(-start_h, 0), max(end_h - h, 0)], [max(-start_w, 0), max(end_w - width, 0)], [0, 0]]
            if w is None:
                row.append(tf.pad(window, padding))
                continue
            if isinstance(w, np.ndarray):
                weight = tf.constant(w[taps_h][:, taps_w])
            else:
                weight = tf.gather(tf.gather(w, taps_h, axis=0), taps_w, axis=1)
            # Explicit padding inside the convolution: no padded copy of x.
            row.append(tf.nn.conv2d(window, tf.cast(weight, window.dtype), strides=1, padding=padding))
        phases.append(row)
    return {"phases": phases, "out": (plan_h[3], plan_w[3])}


def fir_interleave(phased, k, factor=2):
    """The FIR pass of :func:`upsample_conv_2d_polyphase` on the phases from :func:`upsample_conv_phases`,
    separable (along H, then W), then depth-to-space. -> (N, 2H, 2W, O) float32 (the phases' dtype)."""
    factors = _separable_factors(k, factor)
    phases, (out_h, out_w) = phased["phases"], phased["out"]
    by_w = [_fir_phases([phases[a][b] for a in range(factor)], factors[0], 1, factor, out_h) for b in range(factor)]
    result = [_fir_phases([by_w[b][a] for b in range(factor)], factors[1], 2, factor, out_w) for a in range(factor)]
    return interleave_phases(result, factor, out_h, out_w)


def _separable_factors(k, factor):
    """:func:`fir_factors` with the up-sampling gain factor^2; ValueError for a non-separable kernel."""
    factors = fir_factors(k, gain=factor ** 2)
    if factors is None:
        raise ValueError("the polyphase up-sampling needs a separable FIR kernel (use upsample_conv_2d)")
    return factors


def upsample_2d_polyphase(x, k, factor=2):
    """:func:`upsample_2d` in polyphase form: no zeros inserted, len(k) / factor taps per output sample and axis.
    x: (N, H, W, C) with static H, W; k: separable FIR taps. -> (N, 2H, 2W, C)."""
    return upsample_conv_2d_polyphase(x, None, k, factor)


# Matrix forms of the FIR passes, used where gradients are taken (training): along one axis, up-sampling by
# inserting zeros, padding and filtering is a linear map, a banded (out x in) matrix, so a separable pass over
# (N, H, W, C) is two batched matmuls with constant matrices. Their gradients of every order are matmuls too
# (no slice gradients, which scatter into zero tensors), and oneDNN runs them near its matmul rate.


def upfirdn_matrix(size, taps, up=1, pad0=0, pad1=0, gain=1.0):
    """The linear map of :func:`upfirdn_2d` along one axis, as a matrix.

    size: input length; taps: 1-D FIR taps (normalised to sum 1, then times ``gain``); up: zeros-insertion
    factor; pad0/pad1: padding (crop when negative) before/after, on the up-sampled signal. -> float32
    (size * up + pad0 + pad1 - len(taps) + 1, size): output sample o = sum over j of taps[::-1][j] *
    upsampled_padded[o + j] (true convolution, as NVIDIA's ``_upfirdn_2d_ref``).
    """
    taps = np.asarray(taps, np.float64)
    taps = taps / np.sum(taps) * gain
    flipped = taps[::-1]
    out = size * up + pad0 + pad1 - len(taps) + 1
    matrix = np.zeros((out, size), np.float64)
    for o in range(out):
        for j, c in enumerate(flipped):
            source = o + j - pad0  # index into the up-sampled signal
            if 0 <= source < size * up and source % up == 0:
                matrix[o, source // up] += c
    return matrix.astype(np.float32)


def fir_2d_matmul(x, matrix_h, matrix_w):
    """A separable FIR pass as two batched matmuls: x (N, H, W, C), matrix_h (H', H), matrix_w (W', W)
    (:func:`upfirdn_matrix`; numpy arrays) -> (N, H', W', C) in x's dtype, no transposes."""
    _, h, w, c = x.shape
    out_h, out_w = matrix_h.shape[0], matrix_w.shape[0]
    y = tf.matmul(tf.constant(matrix_h, x.dtype), tf.reshape(x, [-1, h, w * c]))  # (N, H', W * C)
    y = tf.matmul(tf.constant(matrix_w, x.dtype), tf.reshape(y, [-1, w, c]))  # (N * H', W', C)
    return tf.reshape(y, [-1, out_h, out_w, c])


def upsample_2d_matmul(x, k, factor=2):
    """:func:`upsample_2d` in matrix form (:func:`fir_2d_matmul`). x: (N, H, W, C) with static H, W; k: FIR
    taps with a separable setup (see :func:`fir_factors`). -> (N, 2H, 2W, C)."""
    _, h, w, _ = x.shape
    taps_h, taps_w = _separable_factors(k, factor)
    p = len(taps_h) - factor
    pads = dict(up=factor, pad0=(p + 1) // 2 + factor - 1, pad1=p // 2, gain=factor)
    return fir_2d_matmul(x, upfirdn_matrix(h, taps_h, **pads), upfirdn_matrix(w, taps_w, **pads))


def upsample_conv_2d_transposed(x, w, k, factor=2):
    """:func:`upsample_conv_2d` with its FIR pass in matrix form: TensorFlow's transposed convolution (whose
    gradients are native convolutions), then :func:`fir_2d_matmul`. x: (N, H, W, I) with static H, W; w: (kh,
    kw, I, O) runtime weight; k: FIR taps with a separable setup. -> (N, 2H, 2W, O)."""
    return fir_transposed(transposed_conv(x, w, factor), k, w.shape[0], factor)


def transposed_conv(x, w, factor=2):
    """The first half of :func:`upsample_conv_2d_transposed`: the stride-``factor`` transposed convolution with
    the spatially flipped weight, VALID. x: (N, H, W, I); w: (kh, kw, I, O). -> (N, (H - 1) f + kh, (W - 1) f + kw, O)."""
    kh, kw, _, out_channels = w.shape
    _, h, width, _ = x.shape
    filters = tf.transpose(w[::-1, ::-1], [0, 1, 3, 2])  # (kh, kw, O, I): conv2d_transpose's layout
    shape = [(h - 1) * factor + kh, (width - 1) * factor + kw]
    y = tf.nn.conv2d_transpose(x, filters, output_shape=tf.stack([tf.shape(x)[0], shape[0], shape[1], out_channels]),
                               strides=[1, factor, factor, 1], padding="VALID")
    return tf.ensure_shape(y, [None, shape[0], shape[1], out_channels])


def fir_transposed(t, k, kernel_size, factor=2):
    """The second half of :func:`upsample_conv_2d_transposed`: the FIR pass (gain factor^2) over the transposed
    convolution's output t (N, T, T', O) of a ``kernel_size`` weight. -> (N, 2H, 2W, O)."""
    taps_h, taps_w = _separable_factors(k, factor)
    p = (len(taps_h) - factor) - (kernel_size - 1)
    pads = dict(pad0=(p + 1) // 2 + factor - 1, pad1=p // 2 + 1, gain=factor)
    return fir_2d_matmul(t, upfirdn_matrix(t.shape[1], taps_h, **pads), upfirdn_matrix(t.shape[2], taps_w, **pads))
