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
Gradients are taken through the fast synthesis path with transposed up-sampling
(:class:`stylegan2.fast_synthesis.FastSynthesis`), exact with respect to ws and noise.
"""
import dataclasses
import math

import numpy as np

from .errors import UserError
from .latents import STREAM_PROJECT, sample_w

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
    import tensorflow as tf

    result = []
    for v in noise_maps:
        v = v - tf.reduce_mean(v, axis=[1, 2, 3], keepdims=True)
        result.append(v * tf.math.rsqrt(tf.reduce_mean(tf.square(v), axis=[1, 2, 3], keepdims=True)))
    return result


class ImageLoss:
    """The image distance that needs no download: images (N, R, R, C) float32 in [-1, 1] -> (N,) per image.

    mean squared pixel difference + (1 - SSIM) where the resolution allows (multi-scale SSIM from
    :data:`MS_SSIM_MIN_RESOLUTION` px, single-scale from :data:`SSIM_MIN_RESOLUTION`, none below; both at
    max_val 2, the range of the images) + ``features_weight`` x the mean squared difference of a feature
    network's outputs (``features``: a callable images [-1, 1] -> list of (N, ...) tensors, from
    :func:`load_features`). ``describe()`` says in words which terms are used.
    """

    def __init__(self, resolution, features=None, features_weight=1.0, features_name=None):
        if resolution >= MS_SSIM_MIN_RESOLUTION:
            self.structure = "ms-ssim"
        elif resolution >= SSIM_MIN_RESOLUTION:
            self.structure = "ssim"
        else:
            self.structure = None
        self.features = features
        self.features_weight = float(features_weight)
        self.features_name = features_name
        self.resolution = resolution

    def describe(self):
        """The terms of the loss, in words."""
        terms = ["pixel L2"]
        if self.structure == "ms-ssim":
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
        import tensorflow as tf

        loss = tf.reduce_mean(tf.square(images - targets), axis=[1, 2, 3])
        if self.structure == "ms-ssim":
            loss += 1.0 - tf.image.ssim_multiscale(images, targets, max_val=2.0)
        elif self.structure == "ssim":
            loss += 1.0 - tf.image.ssim(images, targets, max_val=2.0, filter_size=SSIM_FILTER_SIZE)
        if self.features is not None:
            for a, b in zip(self.features(images), self.features(targets)):
                a = tf.reshape(a, [tf.shape(a)[0], -1])
                b = tf.reshape(b, [tf.shape(b)[0], -1])
                loss += self.features_weight * tf.reduce_mean(tf.square(a - b), axis=1)
        return loss


def load_features(path):
    """A Keras model file (.keras or .h5) as a feature network -> callable images (N, R, R, C) float32 in
    [-1, 1] -> list of its outputs (tensors, differentiable). The model is fed pixel values in [0, 255]
    (the convention of the world's scorer), resized (bilinear) to its input size when that is fixed.
    A missing or unreadable file is a UserError."""
    from pathlib import Path

    import tensorflow as tf

    from .files import check_container

    path = Path(path)
    what = f"--features model '{path}'"
    if not path.is_file():
        raise UserError(f"{what} not found: give a Keras .keras or .h5 file")
    if path.suffix not in (".keras", ".h5", ".hdf5"):
        raise UserError(f"{what} is not a .keras or .h5 file")
    check_container(path, what, "copy or save it again")
    try:
        import keras

        model = keras.saving.load_model(path, compile=False)
    except Exception as e:  # Keras raises many types for unreadable files
        message = " ".join(str(e).split())[:300]
        raise UserError(f"{what} cannot be loaded ({type(e).__name__}: {message})") from None
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


def _synthesis(G):
    """A differentiable synthesis callable (ws, noise list) -> images for ``G``: the fast path with transposed
    up-sampling (its gradients are native convolutions), or the reference path for non-separable kernels."""
    from stylegan2 import ops
    from stylegan2.fast_synthesis import FastSynthesis

    net = G.synthesis_network
    if ops.fir_factors(net.resample_kernel) is None:
        return net.__call__
    return FastSynthesis(net, modconv="input", xla=False, upsampling="transposed").__call__


def project(G, targets, space="w", steps=1000, seed=0, loss=None, w_stats=None, progress=None, first_index=0):
    """Project ``targets`` into ``G``'s latent space (see the module docstring) -> :class:`Projection`.

    G: stylegan2 Generator; targets: (N, R, R, C) float32 in [-1, 1] at the generator's resolution and
    channels; space: "w" | "w+"; steps: optimisation steps (>= 1); seed: seeds the start statistics' latents,
    the start noise maps and the latent noise; loss: an :class:`ImageLoss` (default: ImageLoss(R));
    w_stats: (mean, spread) to reuse (default :func:`w_statistics` (G, seed)); progress: called as
    progress(step, distances (N,)) after each step; first_index: the index of targets[0] in the whole set
    (image i's random draws are those of index first_index + i, so a result does not depend on batching).
    """
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
    rngs = [np.random.default_rng([int(seed), DRAW_STREAM, index]) for index in range(first_index, first_index + n)]

    latent = tf.Variable(np.broadcast_to(w_mean, (n, layers, w_dim)).astype(np.float32), name="latent")
    noise = [tf.Variable(np.stack([rng.standard_normal((h, w, 1), np.float32) for rng in rngs]), name=f"noise{i}")
             for i, (h, w) in enumerate(G.noise_shapes)]
    variables = [latent] + noise
    moments = [(tf.Variable(tf.zeros_like(v)), tf.Variable(tf.zeros_like(v))) for v in variables]
    target_tensor = tf.constant(targets)
    synthesis = _synthesis(G)
    beta1, beta2 = ADAM_BETAS

    def render(latent_value, noise_values):
        return synthesis(tf.tile(latent_value, [1, num_ws // layers, 1]), noise_values)

    @tf.function(autograph=False)  # plain Python loops over the variables: nothing to convert
    def step(lr, latent_noise, iteration):
        with tf.GradientTape() as tape:
            images = render(latent + latent_noise, noise)
            distance = loss(images, target_tensor)
            penalty = noise_penalty(noise)
            total = tf.reduce_sum(distance + NOISE_PENALTY_WEIGHT * penalty)
        grads = tape.gradient(total, variables)
        # Adam with bias correction (NVIDIA's TF optimiser): lr_t = lr sqrt(1 - b2^t) / (1 - b1^t).
        lr_t = lr * tf.sqrt(1.0 - beta2 ** iteration) / (1.0 - beta1 ** iteration)
        for variable, grad, (m, v) in zip(variables, grads, moments):
            m.assign(beta1 * m + (1.0 - beta1) * grad)
            v.assign(beta2 * v + (1.0 - beta2) * tf.square(grad))
            variable.assign_sub(lr_t * m / (tf.sqrt(v) + ADAM_EPSILON))
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
