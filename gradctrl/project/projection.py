"""Projecting images into the generator's W or W+ space: NVIDIA's StyleGAN2 projector recipe in TF2.

:func:`project` fits, for each target image, a latent and the per-layer noise maps so that the generator's
output matches the image (NVIDIA's ``projector.py``, Karras et al. 2020, section 5):

- the latent starts at the mean of :data:`W_STAT_SAMPLES` mapped w (:func:`w_statistics`), the noise maps at
  N(0, 1) draws;
- Adam (beta 0.9 / 0.999, epsilon 1e-8) at learning rate :func:`learning_rate`: 0.1, ramped up linearly over
  the first 5 % of the steps and down by a half cosine over the last 25 %;
- Gaussian noise added to the latent at each step, of standard deviation 0.05 x the spread of w (the root
  mean squared distance of mapped w from their mean) x (1 - t / 0.75)^2 at progress t, so 0 from 75 % of
  the steps on (:func:`w_noise_strength`);
- the loss of each image: the image distance (:class:`ImageLoss`) plus 1e5 x NVIDIA's multi-scale
  autocorrelation penalty of its noise maps (:func:`noise_penalty`); after each step every noise map is
  renormalised to mean 0 and standard deviation 1 (:func:`renormalise_noise`).

``space`` "w" fits one w shared by every layer (NVIDIA's), "w+" one w per layer. Images are projected
together but independently: each image's loss depends only on its own latent and noise maps, and its random
draws come from its own stream (seed, index), so image i's result depends only on (seed, i, its image).
Gradients are taken through the reference synthesis path (:class:`stylegan2.networks.SynthesisNetwork`
itself): with gradients it is as fast as the fast path (``FastSynthesis``) at 32 and 256 px and about twice as
fast at 1024 px on CPU (forward and backward, ``python bench/projection.py --n 0 --time_resolution 1024``).
"""
import dataclasses
import math
from pathlib import Path

import numpy as np

import stylegan2

from ..data.latents import STREAM_PROJECT, sample_w
from ..errors import UserError
from ..files import check_container

SPACES = ("w", "w+")
INITIAL_LEARNING_RATE = 0.1
LR_RAMPUP = 0.05          # share of the steps over which the learning rate ramps up
LR_RAMPDOWN = 0.25        # share of the steps (the last) over which it ramps down by a half cosine
W_NOISE_FACTOR = 0.05     # initial noise on the latent, times the spread of w
W_NOISE_RAMP = 0.75       # share of the steps after which the latent noise is zero
NOISE_PENALTY_WEIGHT = 1e5
W_STAT_SAMPLES = 10_000   # mapped w averaged for the start latent and the spread
ADAM_BETAS, ADAM_EPSILON = (0.9, 0.999), 1e-8
NOISE_PENALTY_MIN_SIZE = 8  # the autocorrelation penalty's coarsest scale (px)
# Image sizes from which the loss has a structural term: tf.image.ssim_multiscale with its default 5 scales
# and 11-tap window needs 11 * 2^4 = 176 px; single-scale SSIM needs the 11-px window.
MS_SSIM_MIN_RESOLUTION = 176
SSIM_MIN_RESOLUTION = 11
SSIM_FILTER_SIZE = 11
# The stream of each image's random draws (start noise maps, latent noise): default_rng([seed, this, index]).
DRAW_STREAM = 0x50524F4A


def learning_rate(step, steps):
    """NVIDIA's learning rate at ``step`` (0-based) of ``steps``: 0.1 x min(1, t / 0.05) x the half-cosine
    ramp-down 0.5 - 0.5 cos(pi min(1, (1 - t) / 0.25)), with t = step / steps."""
    t = step / steps
    ramp = min(1.0, (1.0 - t) / LR_RAMPDOWN)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return INITIAL_LEARNING_RATE * ramp * min(1.0, t / LR_RAMPUP)


def w_noise_strength(step, steps, w_spread):
    """Standard deviation of the noise added to the latent at ``step`` of ``steps``:
    ``w_spread`` x 0.05 x max(0, 1 - t / 0.75)^2, t = step / steps (in w units)."""
    t = step / steps
    return w_spread * W_NOISE_FACTOR * max(0.0, 1.0 - t / W_NOISE_RAMP) ** 2


def w_statistics(G, seed, n=W_STAT_SAMPLES):
    """The start latent and the spread of w -> (mean (w_dim,) float32, spread float): the mean of ``n``
    mapped, untruncated w of the projection's seed stream, and sqrt(sum_i |w_i - mean|^2 / n)."""
    w = sample_w(G, seed, range(n), 1.0, STREAM_PROJECT)
    mean = w.mean(axis=0, dtype=np.float64)
    spread = float(np.sqrt(np.sum((w - mean) ** 2) / n))
    return mean.astype(np.float32), spread


def noise_penalty(noise_maps):
    """NVIDIA's noise regulariser per image: noise_maps, a list of (N, H, W, 1) tensors -> (N,) float32.

    For each map and each scale, from its full size down to 8 px (halving by 2 x 2 means; a map under 8 px
    has one scale): mean(v * roll(v, 1, x))^2 + mean(v * roll(v, 1, y))^2, summed over scales and maps.
    """
    # heavy (TensorFlow): imported on use, so commands start and refuse bad input without it
    import tensorflow as tf

    total = 0.0
    for v in noise_maps:
        size = int(v.shape[1])
        while True:
            total += (tf.reduce_mean(v * tf.roll(v, 1, axis=2), axis=[1, 2, 3]) ** 2
                      + tf.reduce_mean(v * tf.roll(v, 1, axis=1), axis=[1, 2, 3]) ** 2)
            if size <= NOISE_PENALTY_MIN_SIZE:
                break
            v = tf.nn.avg_pool2d(v, 2, 2, "VALID")
            size //= 2
    return total


def renormalise_noise(noise_maps):
    """Each image's noise map shifted and scaled to mean 0, standard deviation 1 (population):
    list of (N, H, W, 1) -> list of the same shapes."""
    # heavy (TensorFlow): imported on use, so commands start and refuse bad input without it
    import tensorflow as tf

    result = []
    for v in noise_maps:
        v = v - tf.reduce_mean(v, axis=[1, 2, 3], keepdims=True)
        result.append(v * tf.math.rsqrt(tf.reduce_mean(tf.square(v), axis=[1, 2, 3], keepdims=True)))
    return result


def pixel_l2(images, targets):
    """Mean squared pixel difference per image: (N, H, W, C) tensors -> (N,)."""
    # heavy (TensorFlow): imported on use, so commands start and refuse bad input without it
    import tensorflow as tf

    return tf.reduce_mean(tf.square(images - targets), axis=[1, 2, 3])


class ImageLoss:
    """The projector's image distance: images (N, R, R, C) float32 in [-1, 1] -> (N,) per image.

    With ``vgg16`` (an :class:`LPIPS` on the user's VGG16): that perceptual distance, as NVIDIA's projector.
    Without (no download needed): mean squared pixel difference + (1 - SSIM) where the resolution allows
    (multi-scale SSIM from :data:`MS_SSIM_MIN_RESOLUTION` px, single-scale from :data:`SSIM_MIN_RESOLUTION`,
    none below; both at max_val 2, the range of the images). Either way plus ``features_weight`` x the mean
    squared difference of a feature network's outputs (``features``: a callable images [-1, 1] -> list of
    (N, ...) tensors, from :func:`load_features`). ``describe()`` says in words which terms are used.
    """

    def __init__(self, resolution, features=None, features_weight=1.0, features_name=None, vgg16=None):
        if resolution >= MS_SSIM_MIN_RESOLUTION:
            self.structure = "ms-ssim"
        elif resolution >= SSIM_MIN_RESOLUTION:
            self.structure = "ssim"
        else:
            self.structure = None
        self.vgg16 = vgg16
        self.features = features
        self.features_weight = float(features_weight)
        self.features_name = features_name
        self.resolution = resolution

    def describe(self):
        """The terms of the loss, in words."""
        terms = ["pixel L2"]
        if self.vgg16 is not None:
            terms = [self.vgg16.describe()]
        elif self.structure == "ms-ssim":
            terms.append("1 - MS-SSIM")
        elif self.structure == "ssim":
            terms.append(f"1 - SSIM (single-scale: MS-SSIM needs >= {MS_SSIM_MIN_RESOLUTION} px, "
                         f"the images are {self.resolution} px)")
        else:
            terms.append(f"no SSIM term (SSIM needs >= {SSIM_MIN_RESOLUTION} px)")
        if self.features is not None:
            terms.append(f"{self.features_weight:g} x feature L2 of {self.features_name or 'a feature network'}")
        return " + ".join(terms)

    def __call__(self, images, targets):
        # heavy (TensorFlow): imported on use, so commands start and refuse bad input without it
        import tensorflow as tf

        if self.vgg16 is not None:
            loss = self.vgg16(images, targets)
        elif self.structure == "ms-ssim":
            loss = pixel_l2(images, targets) + 1.0 - tf.image.ssim_multiscale(images, targets, max_val=2.0)
        elif self.structure == "ssim":
            loss = pixel_l2(images, targets) + 1.0 - tf.image.ssim(images, targets, max_val=2.0,
                                                                    filter_size=SSIM_FILTER_SIZE)
        else:
            loss = pixel_l2(images, targets)
        if self.features is not None:
            for a, b in zip(self.features(images), self.features(targets)):
                a = tf.reshape(a, [tf.shape(a)[0], -1])
                b = tf.reshape(b, [tf.shape(b)[0], -1])
                loss += self.features_weight * tf.reduce_mean(tf.square(a - b), axis=1)
        return loss


def _load_keras_file(path, what, missing):
    """A Keras model file (.keras, .h5) -> the model, uncompiled; UserError naming ``what`` for a missing file
    (with the fix ``missing``), another extension, a damaged container or a model Keras cannot load."""
    # heavy (Keras): imported on use, so commands start and refuse bad input without it
    import keras

    if not path.is_file():
        raise UserError(f"{what} not found: {missing}")
    if path.suffix not in (".keras", ".h5", ".hdf5"):
        raise UserError(f"{what} is not a .keras or .h5 file")
    check_container(path, what, "copy or save it again")
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as e:  # Keras raises many types for unreadable files
        message = " ".join(str(e).split())[:300]
        raise UserError(f"{what} cannot be loaded ({type(e).__name__}: {message})") from None


def load_features(path):
    """A Keras model file (.keras or .h5) as a feature network -> callable images (N, R, R, C) float32 in
    [-1, 1] -> list of its outputs (tensors, differentiable). The model is fed pixel values in [0, 255]
    (the convention of the world's scorer), resized (bilinear) to its input size when that is fixed.
    A missing or unreadable file is a UserError."""
    # heavy (TensorFlow): imported on use, so commands start and refuse bad input without it
    import tensorflow as tf

    path = Path(path)
    model = _load_keras_file(path, f"--features model '{path}'", "give a Keras .keras or .h5 file")
    shape = tuple(model.inputs[0].shape) if getattr(model, "inputs", None) else None
    size = tuple(int(s) for s in shape[1:3]) if shape and len(shape) == 4 and None not in shape[1:3] else None

    def features(images):
        x = images * 127.5 + 127.5
        if size is not None and tuple(x.shape[1:3]) != size:
            x = tf.image.resize(x, size, method="bilinear")
        outputs = model(x, training=False)
        if isinstance(outputs, dict):
            return [outputs[name] for name in sorted(outputs)]
        return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]

    return features


VGG16_BLOCK_CONVS = (2, 2, 3, 3, 3)       # 3x3 convolutions per block
VGG16_BLOCK_WIDTHS = (1, 2, 4, 8, 8)       # output channels per block, times block 1's (64 in VGG16)
VGG16_WIDTH = 64
LPIPS_LAYERS = ("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3")
VGG16_BGR_MEAN = (103.939, 116.779, 123.68)  # Keras' VGG16 preprocessing ("caffe"): BGR, mean subtracted
LPIPS_MAX_RESOLUTION = 256   # NVIDIA's projector compares at most 256 px images (area-downscaled)
LPIPS_MIN_RESOLUTION = 32    # VGG16's five blocks need 32 px (smaller images are upscaled, bilinear)


def check_vgg16(model, what, width=VGG16_WIDTH):
    """UserError naming ``what`` unless ``model`` is a Keras VGG16 (without or with its top): the layers
    block<b>_conv<i> (2, 2, 3, 3, 3 per block) with 3x3 kernels, RGB input and ``width`` x (1, 2, 4, 8, 8)
    output channels per block (width 64: ImageNet's VGG16; tests build the same network narrower)."""
    names = {layer.name: layer for layer in model.layers}
    expected_in = 3
    for block, (convs, factor) in enumerate(zip(VGG16_BLOCK_CONVS, VGG16_BLOCK_WIDTHS), start=1):
        for index in range(1, convs + 1):
            name = f"block{block}_conv{index}"
            layer = names.get(name)
            kernel_shape = (3, 3, expected_in, width * factor)
            kernels = [w for w in getattr(layer, "weights", []) if len(w.shape) == 4]
            if layer is None or len(kernels) != 1 or tuple(kernels[0].shape) != kernel_shape:
                found = "missing" if layer is None else f"kernels {[tuple(k.shape) for k in kernels]}"
                raise UserError(f"{what} is not VGG16: layer '{name}' with a {kernel_shape} kernel is {found}; "
                                "give Keras' VGG16 (keras.applications.VGG16) saved as .keras or .h5")
            expected_in = width * factor
    extra = [n for n in names if n.startswith("block") and "_conv" in n and n not in _vgg16_conv_names()]
    if extra:
        raise UserError(f"{what} is not VGG16: it has the extra layer '{extra[0]}'")


def _vgg16_conv_names():
    return {f"block{b}_conv{i}" for b, convs in enumerate(VGG16_BLOCK_CONVS, start=1) for i in range(1, convs + 1)}


class LPIPS:
    """LPIPS-style perceptual distance on VGG16 features: images, targets (N, R, R, 3) in [-1, 1] -> (N,).

    Each image is brought to [32, 256] px (area-downscaled above 256 as NVIDIA's projector, bilinear-upscaled
    below 32 for VGG16's five blocks), fed as Keras' VGG16 expects (BGR, ImageNet mean subtracted); at each of
    :data:`LPIPS_LAYERS` the channel vectors are unit-normalised, and the squared differences summed over
    channels and averaged over positions, then summed over layers. This is LPIPS with every channel weighted
    1 (Zhang et al.'s learned linear weights are not part of VGG16's file).
    """

    def __init__(self, model, name="VGG16"):
        # heavy (Keras): imported on use, so commands start and refuse bad input without it
        import keras

        self.name = name
        self._extractor = keras.Model(model.inputs[0], [model.get_layer(n).output for n in LPIPS_LAYERS])

    def describe(self):
        """The loss in words."""
        return f"LPIPS-style distance on {self.name} features (uniform channel weights)"

    def _features(self, images):
        # heavy (TensorFlow): imported on use, so commands start and refuse bad input without it
        import tensorflow as tf

        size = int(images.shape[1])
        if size > LPIPS_MAX_RESOLUTION:
            images = tf.image.resize(images, (LPIPS_MAX_RESOLUTION,) * 2, method="area")
        elif size < LPIPS_MIN_RESOLUTION:
            images = tf.image.resize(images, (LPIPS_MIN_RESOLUTION,) * 2, method="bilinear")
        x = (images[..., ::-1] + 1.0) * 127.5 - tf.constant(VGG16_BGR_MEAN, tf.float32)
        return self._extractor(x, training=False)

    def __call__(self, images, targets):
        # heavy (TensorFlow): imported on use, so commands start and refuse bad input without it
        import tensorflow as tf

        total = 0.0
        for a, b in zip(self._features(images), self._features(targets)):
            a = a * tf.math.rsqrt(tf.reduce_sum(tf.square(a), axis=-1, keepdims=True) + 1e-10)
            b = b * tf.math.rsqrt(tf.reduce_sum(tf.square(b), axis=-1, keepdims=True) + 1e-10)
            total += tf.reduce_mean(tf.reduce_sum(tf.square(a - b), axis=-1), axis=[1, 2])
        return total


def load_vgg16(source, width=VGG16_WIDTH):
    """The user's VGG16 as an :class:`LPIPS` distance. ``source``: a Keras .keras / .h5 file of VGG16
    (``keras.applications.VGG16(include_top=False)`` saved), checked by :func:`check_vgg16`; or "imagenet":
    Keras' own ImageNet weights, which Keras downloads on first use (needs internet once). UserError for a
    missing, unreadable or non-VGG16 file."""
    # heavy (Keras): imported on use, so commands start and refuse bad input without it
    import keras

    if source == "imagenet":
        try:
            model = keras.applications.VGG16(weights="imagenet", include_top=False)
        except Exception as e:  # no internet, a proxy, a damaged cache: many types
            message = " ".join(str(e).split())[:200]
            raise UserError(f"--vgg16 imagenet: Keras could not fetch VGG16's ImageNet weights "
                            f"({type(e).__name__}: {message}): save keras.applications.VGG16(include_top=False) "
                            "once on a machine with internet and pass --vgg16 PATH") from None
        return LPIPS(model, "VGG16 (ImageNet, Keras)")
    path = Path(source)
    what = f"--vgg16 '{path}'"
    model = _load_keras_file(path, what, "give Keras' VGG16 saved as .keras or .h5, or 'imagenet' to let Keras "
                                         "download its weights")
    check_vgg16(model, what, width)
    return LPIPS(model, f"VGG16 '{path.name}'")


@dataclasses.dataclass(frozen=True)
class Projection:
    """The result of :func:`project` for N images: ``ws`` (N, num_ws, w_dim) float32 (the fitted latent; in
    space "w" every layer holds the same w); ``noise`` list of (N, H, W) float32, the fitted noise maps (one
    per noise input of the generator); ``distance`` (N, steps) float32, each image's image distance
    (:class:`ImageLoss`) at each step, before its update; ``noise_penalty`` (N, steps) float32, its noise
    maps' :func:`noise_penalty` then (unweighted: the loss minimised is distance + 1e5 x penalty);
    ``images`` (N, R, R, C) float32, the final reconstruction in [-1, 1] (with the fitted noise maps)."""

    ws: np.ndarray
    noise: list
    distance: np.ndarray
    noise_penalty: np.ndarray
    images: np.ndarray


def _adam_moments(variables):
    """Adam's first and second moment accumulators, zero, one pair per variable."""
    # heavy (TensorFlow): imported on use, so commands start and refuse bad input without it
    import tensorflow as tf

    return [(tf.Variable(tf.zeros_like(v)), tf.Variable(tf.zeros_like(v))) for v in variables]


def _adam_update(variables, grads, moments, lr, iteration):
    """One Adam step (beta 0.9 / 0.999, epsilon 1e-8, bias-corrected as NVIDIA's TF optimiser:
    lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)) at step ``iteration`` (1-based); inside a tf.function."""
    # heavy (TensorFlow): imported on use, so commands start and refuse bad input without it
    import tensorflow as tf

    beta1, beta2 = ADAM_BETAS
    lr_t = lr * tf.sqrt(1.0 - beta2 ** iteration) / (1.0 - beta1 ** iteration)
    for variable, grad, (m, v) in zip(variables, grads, moments):
        m.assign(beta1 * m + (1.0 - beta1) * grad)
        v.assign(beta2 * v + (1.0 - beta2) * tf.square(grad))
        variable.assign_sub(lr_t * m / (tf.sqrt(v) + ADAM_EPSILON))


def project(G, targets, space="w", steps=1000, seed=0, loss=None, w_stats=None, progress=None, first_index=0):
    """Project ``targets`` into ``G``'s latent space (see the module docstring) -> :class:`Projection`.

    G: stylegan2 Generator; targets: (N, R, R, C) float32 in [-1, 1] at the generator's resolution and
    channels; space: "w" | "w+"; steps: optimisation steps (>= 1); seed: seeds the start statistics' latents,
    the start noise maps and the latent noise; loss: an :class:`ImageLoss` (default: ImageLoss(R));
    w_stats: (mean, spread) to reuse (default :func:`w_statistics` (G, seed)); progress: called as
    progress(step, distances (N,)) after each step; first_index: the index of targets[0] in the whole set
    (image i's random draws are those of index first_index + i, so a result does not depend on batching).
    """
    # heavy (TensorFlow): imported on use, so commands start and refuse bad input without it
    import tensorflow as tf

    targets = np.asarray(targets, np.float32)
    shape = (G.img_resolution, G.img_resolution, G.img_channels)
    if targets.ndim != 4 or targets.shape[1:] != shape or len(targets) == 0:
        raise UserError(f"targets of shape {targets.shape} do not fit the generator: expected (N >= 1, "
                        f"{', '.join(map(str, shape))})")
    if space not in SPACES:
        raise UserError(f"space must be one of {', '.join(SPACES)}, got {space!r}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise UserError(f"steps must be an integer >= 1, got {steps!r}")
    loss = loss or ImageLoss(G.img_resolution)
    w_mean, w_spread = w_stats if w_stats is not None else w_statistics(G, seed)
    n, num_ws, w_dim = len(targets), G.num_ws, G.w_dim
    layers = 1 if space == "w" else num_ws
    rngs = [np.random.default_rng([int(seed), DRAW_STREAM, i]) for i in range(first_index, first_index + n)]

    latent = tf.Variable(np.broadcast_to(w_mean, (n, layers, w_dim)).astype(np.float32), name="latent")
    noise = [tf.Variable(np.stack([rng.standard_normal((h, w, 1), np.float32) for rng in rngs]), name=f"noise{i}")
             for i, (h, w) in enumerate(G.noise_shapes)]
    variables = [latent] + noise
    moments = _adam_moments(variables)
    target_tensor = tf.constant(targets)
    synthesis = G.synthesis_network

    def render(latent_value, noise_values):
        return synthesis(tf.tile(latent_value, [1, num_ws // layers, 1]), noise_values)

    @tf.function(autograph=False)  # plain Python loops over the variables: nothing to convert
    def step(lr, latent_noise, iteration):
        with tf.GradientTape() as tape:
            images = render(latent + latent_noise, noise)
            distance = loss(images, target_tensor)
            penalty = noise_penalty(noise)
            total = tf.reduce_sum(distance + NOISE_PENALTY_WEIGHT * penalty)
        _adam_update(variables, tape.gradient(total, variables), moments, lr, iteration)
        for variable, value in zip(noise, renormalise_noise(noise)):
            variable.assign(value)
        return distance, penalty

    history = np.empty((2, n, steps), np.float32)
    for index in range(steps):
        strength = w_noise_strength(index, steps, w_spread)
        draws = np.stack([rng.standard_normal((layers, w_dim), np.float32) for rng in rngs]) * np.float32(strength)
        distance, penalty = step(tf.constant(learning_rate(index, steps), tf.float32), tf.constant(draws),
                                 tf.constant(index + 1, tf.float32))
        history[:, :, index] = distance.numpy(), penalty.numpy()
        if progress is not None:
            progress(index, history[0, :, index])
    images = render(latent, noise).numpy()
    ws = np.repeat(latent.numpy(), num_ws // layers, axis=1)
    return Projection(ws=ws, noise=[v.numpy()[..., 0] for v in noise], distance=history[0], noise_penalty=history[1],
                      images=images)


TUNE_LEARNING_RATE = 3e-4   # pivotal tuning's Adam learning rate (Roich et al. 2022)
LOCALITY_WEIGHT = 0.1       # weight of the locality term (PTI's lambda_R)
LOCALITY_SAMPLES = 4        # random w whose images the locality term keeps, drawn afresh each step
TUNE_STREAM = 0x54554E45    # the stream of the locality term's random z: default_rng([seed, this])


def tune_generator(G, targets, ws, steps, loss=None, seed=0, progress=None,
                   locality_weight=LOCALITY_WEIGHT):
    """Pivotal tuning: fine-tune ``G``'s synthesis weights (in place) so that the pivots ``ws`` render the
    ``targets`` -> (steps, 2) float32: the fit and locality terms before each step.

    targets: (N, R, R, C) float32 in [-1, 1]; ws: (N, num_ws, w_dim) pivots (from :func:`project`); steps: >= 1.
    Adam at :data:`TUNE_LEARNING_RATE` on every trainable synthesis weight (the mapping, and so w, stay as
    they were); loss per step: mean over images of the fit (pixel L2 + ``loss``, an :class:`ImageLoss`,
    whose no-download form already holds the pixel L2, so then just ``loss``) + ``locality_weight``
    (default :data:`LOCALITY_WEIGHT`) x the same distance between the tuned and the original generator's
    images of :data:`LOCALITY_SAMPLES` random mapped w (z from (seed, :data:`TUNE_STREAM`)). Images are
    rendered with the stored noise, as manipulate.py renders them. progress: called as progress(step, fit)
    after each step.
    """
    # heavy (TensorFlow): imported on use, so commands start and refuse bad input without it
    import tensorflow as tf

    targets = tf.constant(np.asarray(targets, np.float32))
    ws = tf.constant(np.asarray(ws, np.float32))
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise UserError(f"tuning steps must be an integer >= 1, got {steps!r}")
    loss = loss or ImageLoss(G.img_resolution)

    def distance(images, reference):
        return loss(images, reference) + (0.0 if loss.vgg16 is None else pixel_l2(images, reference))

    original = stylegan2.Generator(G.state)  # a frozen copy of the weights before tuning
    synthesis, reference_synthesis = G.synthesis_network, original.synthesis_network
    noise = list(G.synthesis_network.const_noise)
    variables = list(G.synthesis_network.trainable_variables)
    moments = _adam_moments(variables)
    rng = np.random.default_rng([int(seed), TUNE_STREAM])

    @tf.function(autograph=False)  # plain Python loops over the variables: nothing to convert
    def step(random_ws, iteration):
        reference = reference_synthesis(random_ws, noise)
        with tf.GradientTape() as tape:
            fit = tf.reduce_mean(distance(synthesis(ws, noise), targets))
            locality = tf.reduce_mean(distance(synthesis(random_ws, noise), reference))
            total = fit + locality_weight * locality
        _adam_update(variables, tape.gradient(total, variables), moments, TUNE_LEARNING_RATE, iteration)
        return fit, locality

    history = np.empty((steps, 2), np.float32)
    for index in range(steps):
        z = rng.standard_normal((LOCALITY_SAMPLES, G.z_dim)).astype(np.float32)
        fit, locality = step(original.mapping(z), tf.constant(index + 1, tf.float32))
        history[index] = float(fit), float(locality)
        if progress is not None:
            progress(index, history[index, 0])
    return history
