"""The generator layer's image classifiers (used as scorers; GradCtrl's own classifier on w is
:mod:`gradctrl.classifier.model`). NVIDIA's CelebA-HQ attribute classifiers: ProGAN's discriminator ``D_paper`` rebuilt
from a stored Network.

NVIDIA released 40 binary attribute classifiers with StyleGAN (``celebahq-classifier-00-male.pkl`` ...
``celebahq-classifier-39-wearing-necktie.pkl``, listed in ``metrics/linear_separability.py`` of NVlabs/stylegan
and stylegan2). Each file is one bare pickled ``dnnlib.tflib.network.Network`` built by ``D_paper`` of
``training/networks_progan.py``; it is read through :func:`official_pickle.read_network` (no stored code
runs) and every size comes from its stored kwargs (``D_paper``'s defaults where absent) and variable shapes.

The network, with nf(stage) = min(int(fmap_base / 2^(stage * fmap_decay)), fmap_max) channels and
R = 2^r the resolution: ``FromRGB_lod0`` (1x1 conv to nf(r-1)); for each resolution 2^k from R down to 8,
``Conv0`` (3x3, nf(k-1)) then ``Conv1_down`` (a 3x3 conv to nf(k-2) fused with 2x2 box down-scaling: one
4x4 stride-2 conv whose kernel is the four shifted copies of the 3x3 one, summed, times 1/4) or, without
``fused_scale``, ``Conv1`` then 2x2 average pooling; at 4x4 an optional minibatch-stddev feature
(``mbstd_group_size`` > 1), ``Conv`` (3x3, nf(1)), ``Dense0`` (nf(0)) on the NCHW-ordered flattening and
``Dense1`` (1 logit). Every layer adds its bias, then leaky ReLU 0.2 (not after ``Dense1``). Equalized
learning rate: runtime weight = stored weight * gain / sqrt(fan_in), gain sqrt(2) (1 for ``Dense1``). The
``FromRGB_lod1`` ... layers serve progressive training only: a finished classifier (``lod`` = 0) never uses
them. Computed here in NHWC, float32.
"""
import numpy as np
import tensorflow as tf

from . import official_pickle
from .errors import InputError
from .networks import _number_kwarg, _Variables
from .official_pickle import NetworkState

DOWNLOAD_URL = "https://nvlabs-fi-cdn.nvidia.com/stylegan/networks/metrics/"
BUILD_FUNC = "D_paper"
LRELU_SLOPE = 0.2
MBSTD_EPSILON = 1e-8

# D_paper's keyword defaults: a Network's static_kwargs hold only the arguments given when it was built.
_DEFAULTS = dict(num_channels=1, resolution=32, label_size=0, fmap_base=8192, fmap_decay=1.0, fmap_max=512,
                 use_wscale=True, mbstd_group_size=4, fused_scale=True, dtype="float32")


def _flag_kwarg(kwargs, key, what):
    """A stored boolean kwarg (D_paper's default when absent), checked."""
    value = kwargs.get(key, _DEFAULTS[key])
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"{what}: the stored kwarg {key} = {value!r} is not True or False")
    return bool(value)


def fused_downscale_kernel(weight):
    """NVIDIA's ``conv2d_downscale2d`` kernel: a 3x3 conv followed by 2x2 box down-scaling as one 4x4 kernel.

    weight: (3, 3, I, O) runtime weight -> (4, 4, I, O) float32: zero-padded by one on each side, the four
    copies shifted by (0|1, 0|1) summed, times 0.25. Applied with stride 2 and 'SAME' padding.
    """
    w = np.pad(np.asarray(weight, np.float32), [(1, 1), (1, 1), (0, 0), (0, 0)])
    return (w[1:, 1:] + w[:-1, 1:] + w[1:, :-1] + w[:-1, :-1]) * np.float32(0.25)


def probabilities(logits):
    """NVIDIA's linear-separability reading of logits: softmax([logit, -logit])[0] = 1 / (1 + exp(-2 logit)).

    logits: array-like (N,) -> np.float32 (N,) in [0, 1], computed without overflow.
    """
    logits = np.asarray(logits, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -2.0 * logits)).astype(np.float32)


class Classifier:
    """One of NVIDIA's attribute classifiers (``D_paper``) built from its stored state, batched in a ``tf.function``.

    Attributes: ``resolution`` (R, the input size it was trained at), ``num_channels``, ``fused_scale``,
    ``mbstd_group_size`` (> 1: a minibatch-stddev layer; 0 or 1: none) and ``state`` (the NetworkState).
    """

    def __init__(self, state, what="classifier"):
        if not isinstance(state, NetworkState):
            raise InputError(f"{what}: expected a Network state, got {type(state).__name__}")
        if state.build_func_name != BUILD_FUNC:
            raise InputError(f"{what}: the network is built by '{state.build_func_name}', not ProGAN's '{BUILD_FUNC}': "
                             "only NVIDIA's attribute classifiers (training.networks_progan.D_paper) are supported")
        if state.components:
            raise InputError(f"{what}: the network has components ({', '.join(state.components)}), which "
                             f"{BUILD_FUNC} never has: the file is damaged")
        kwargs = state.static_kwargs
        label_size = _number_kwarg(kwargs, "label_size", _DEFAULTS["label_size"], what, integer=True)
        if label_size:
            raise InputError(f"{what}: conditional networks (label_size = {label_size}) are not supported")
        if kwargs.get("dtype", _DEFAULTS["dtype"]) != "float32":
            raise InputError(f"{what}: the stored kwarg dtype = {kwargs['dtype']!r} is not supported (float32 only)")
        self.state = state
        self.num_channels = _number_kwarg(kwargs, "num_channels", _DEFAULTS["num_channels"], what, integer=True)
        self.resolution = _number_kwarg(kwargs, "resolution", _DEFAULTS["resolution"], what, integer=True)
        log2 = int(np.round(np.log2(max(self.resolution, 1))))
        if self.resolution < 4 or 2 ** log2 != self.resolution:
            raise InputError(f"{what}: resolution {self.resolution} is not a power of two >= 4")
        if self.num_channels < 1:
            raise InputError(f"{what}: num_channels = {self.num_channels}; at least 1 is needed")
        fmap_base = _number_kwarg(kwargs, "fmap_base", _DEFAULTS["fmap_base"], what)
        fmap_decay = _number_kwarg(kwargs, "fmap_decay", _DEFAULTS["fmap_decay"], what)
        fmap_max = _number_kwarg(kwargs, "fmap_max", _DEFAULTS["fmap_max"], what, integer=True)
        self.fused_scale = _flag_kwarg(kwargs, "fused_scale", what)
        self._use_wscale = _flag_kwarg(kwargs, "use_wscale", what)
        self.mbstd_group_size = _number_kwarg(kwargs, "mbstd_group_size", _DEFAULTS["mbstd_group_size"], what,
                                              integer=True)

        def nf(stage):
            return min(int(fmap_base / (2.0 ** (stage * fmap_decay))), fmap_max)

        store = _Variables(state.variables, what, "classifier")
        lod = float(store.get("lod", ()))
        if lod != 0:
            raise InputError(f"{what}: its lod is {lod:g}, not 0: it is a snapshot of progressive training that "
                             "reads lower-resolution images; only finished classifiers (lod = 0) are supported")
        self._fromrgb = _constants(self._layer(store, "FromRGB_lod0", (1, 1, self.num_channels, nf(log2 - 1))))
        for lod_index in range(1, log2 - 1):  # shapes checked; these layers only serve lod > 0
            self._layer(store, f"FromRGB_lod{lod_index}", (1, 1, self.num_channels, nf(log2 - 1 - lod_index)))
        self._blocks = []
        for res in range(log2, 2, -1):
            scope = f"{2 ** res}x{2 ** res}"
            conv0 = self._layer(store, f"{scope}/Conv0", (3, 3, nf(res - 1), nf(res - 1)))
            weight, bias = self._layer(store, f"{scope}/{'Conv1_down' if self.fused_scale else 'Conv1'}",
                                       (3, 3, nf(res - 1), nf(res - 2)))
            conv1 = (fused_downscale_kernel(weight) if self.fused_scale else weight), bias
            self._blocks.append((_constants(conv0), _constants(conv1)))
        channels = nf(1)
        mbstd_channels = 1 if self.mbstd_group_size > 1 else 0
        self._conv4 = _constants(self._layer(store, "4x4/Conv", (3, 3, channels + mbstd_channels, channels)))
        weight, bias = self._layer(store, "4x4/Dense0", (channels * 16, nf(0)))
        # NVIDIA flattens NCHW (row c*16 + y*4 + x); reorder the rows for the NHWC flattening (y*4C + x*C + c).
        weight = np.transpose(np.reshape(weight, (channels, 4, 4, -1)), (1, 2, 0, 3)).reshape(channels * 16, -1)
        self._dense0 = _constants((weight, bias))
        self._dense1 = _constants(self._layer(store, "4x4/Dense1", (nf(0), 1), gain=1.0))
        store.check_all_used(f"{BUILD_FUNC} at resolution {self.resolution} with fused_scale={self.fused_scale} "
                             f"and mbstd_group_size={self.mbstd_group_size}")
        self._logits_fn = tf.function(self._logits, input_signature=[
            tf.TensorSpec([None, None, None, self.num_channels], tf.float32)])

    def __repr__(self):
        return (f"Classifier({self.resolution}x{self.resolution}x{self.num_channels}, fused_scale={self.fused_scale}, "
                f"mbstd_group_size={self.mbstd_group_size})")

    def _layer(self, store, scope, shape, gain=np.sqrt(2)):
        """(runtime weight, bias) float32 ndarrays of a conv (kh, kw, I, O) or dense (I, O) layer; the weight is
        the stored one times gain / sqrt(fan_in) with the equalized learning rate (``use_wscale``)."""
        weight = store.get(f"{scope}/weight", shape)
        bias = store.get(f"{scope}/bias", (shape[-1],))
        coef = np.float32(gain / np.sqrt(np.prod(shape[:-1]))) if self._use_wscale else np.float32(1)
        return weight * coef, bias

    def _minibatch_stddev(self, x):
        """ProGAN's minibatch stddev: G = min(group, N) images i, i + N/G, ... form a group; the mean over
        channels and pixels of the per-feature stddev over the group becomes one more feature map."""
        group = tf.minimum(self.mbstd_group_size, tf.shape(x)[0])
        _, h, w, c = x.shape
        y = tf.reshape(x, [group, -1, h, w, c])
        y = y - tf.reduce_mean(y, axis=0, keepdims=True)
        y = tf.sqrt(tf.reduce_mean(tf.square(y), axis=0) + MBSTD_EPSILON)
        y = tf.tile(tf.reduce_mean(y, axis=[1, 2, 3]), [group])
        y = tf.tile(tf.reshape(y, [-1, 1, 1, 1]), [1, h, w, 1])
        return tf.concat([x, y], axis=3)

    def _logits(self, images):
        """Graph body: images (N, kR, kR, C) -> logits (N,): box-average k x k blocks, then ``D_paper``."""
        r = self.resolution
        factor = tf.shape(images)[1] // r
        x = tf.reduce_mean(tf.reshape(images, [-1, r, factor, r, factor, self.num_channels]), axis=[2, 4])
        x = _lrelu(tf.nn.conv2d(x, self._fromrgb[0], 1, "SAME") + self._fromrgb[1])
        for (w0, b0), (w1, b1) in self._blocks:
            x = _lrelu(tf.nn.conv2d(x, w0, 1, "SAME") + b0)
            if self.fused_scale:
                x = _lrelu(tf.nn.conv2d(x, w1, 2, "SAME") + b1)
            else:
                x = tf.nn.avg_pool2d(_lrelu(tf.nn.conv2d(x, w1, 1, "SAME") + b1), 2, 2, "VALID")
        if self.mbstd_group_size > 1:
            x = self._minibatch_stddev(x)
        x = _lrelu(tf.nn.conv2d(x, self._conv4[0], 1, "SAME") + self._conv4[1])
        x = tf.reshape(x, [-1, 16 * x.shape[3]])
        x = _lrelu(tf.matmul(x, self._dense0[0]) + self._dense0[1])
        return (tf.matmul(x, self._dense1[0]) + self._dense1[1])[:, 0]

    def __call__(self, images):
        """images (N, H, W, C) float32 in NVIDIA's raw range [-1, 1], NHWC, H = W = k * resolution (k >= 1)
        -> logits (N,) float32 tf.Tensor (> 0: the attribute is present).

        For k > 1 each k x k block is averaged first, as NVIDIA's linear-separability metric feeds 1024 px
        images to the 256 px classifiers. Inputs: numpy arrays or eager tensors, finite. With a
        minibatch-stddev layer, N must be at most ``mbstd_group_size`` or a multiple of it (NVIDIA's rule),
        and each logit depends on the other images of its group.
        """
        try:
            x = tf.cast(tf.convert_to_tensor(images), tf.float32)
        except (TypeError, ValueError, tf.errors.InvalidArgumentError, tf.errors.UnimplementedError):
            raise InputError(f"images must be a numeric array (N, H, W, {self.num_channels}), "
                             f"got {type(images).__name__}") from None
        r, c = self.resolution, self.num_channels
        if x.shape.rank != 4 or x.shape[0] == 0 or x.shape[3] != c:
            raise InputError(f"images have shape {tuple(x.shape)}, expected (N, H, W, {c}) with N >= 1: "
                             f"NHWC images with the classifier's {c} channels")
        n, h, w = x.shape[:3]
        if h != w or h % r or h == 0:
            raise InputError(f"images are {h}x{w}; the classifier reads {r}x{r} images or a whole multiple "
                             f"({2 * r}x{2 * r}, ...), box-averaged down: resize them first")
        group = self.mbstd_group_size
        if group > 1 and n > group and n % group:
            raise InputError(f"a batch of {n} images: the classifier's minibatch-stddev layer groups "
                             f"{group} images, so N must be at most {group} or a multiple of it")
        if not bool(tf.reduce_all(tf.math.is_finite(x))):
            raise InputError("images contain NaN or infinite values")
        return self._logits_fn(x)


def _constants(layer):
    """(weight, bias) ndarrays -> tf constants (made once; the traced function captures them)."""
    return tuple(tf.constant(value) for value in layer)


def _lrelu(x):
    """ProGAN's leaky ReLU: max(x, 0.2 x) (no gain, unlike StyleGAN2's)."""
    return tf.nn.leaky_relu(x, alpha=LRELU_SLOPE)


def load_classifier(path):
    """Read one of NVIDIA's attribute-classifier pickles (a bare ``D_paper`` Network) safely -> :class:`Classifier`.

    No code stored in the file runs; anything outside the format is refused with a one-line InputError.
    """
    what = f"classifier pickle '{path}'"
    return Classifier(official_pickle.read_network(path, what, DOWNLOAD_URL, "classifier"), what)
