"""Quality metric for training without Inception weights: KID (kernel inception distance) in a feature space
the user names, with the real-vs-real baseline that says what a value means."""
import numpy as np

from .errors import InputError


def kid(real_features, fake_features, num_subsets=100, max_subset_size=1000, seed=0):
    """Kernel inception distance: the unbiased MMD^2 estimate with the cubic polynomial kernel
    k(x, y) = (x . y / d + 1)^3, averaged over ``num_subsets`` random subsets of
    m = min(len(real), len(fake), max_subset_size) rows of each (as in Binkowski et al. 2018 and
    stylegan2-ada-pytorch's metric). real_features (N, d), fake_features (M, d) float. -> float (0 for equal
    distributions on average; may be slightly negative)."""
    real = np.asarray(real_features, np.float64)
    fake = np.asarray(fake_features, np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise InputError(f"KID needs two feature arrays (N, d) of the same d, got {real.shape} and {fake.shape}")
    d = real.shape[1]
    m = min(len(real), len(fake), max_subset_size)
    if m < 2:
        raise InputError("KID needs at least 2 samples of each kind")
    rng = np.random.RandomState(seed)
    total = 0.0
    for _ in range(num_subsets):
        x = fake[rng.choice(len(fake), m, replace=False)]
        y = real[rng.choice(len(real), m, replace=False)]
        a = (x @ x.T / d + 1) ** 3 + (y @ y.T / d + 1) ** 3
        b = (x @ y.T / d + 1) ** 3
        total += (a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m
    return float(total / num_subsets / m)


def keras_features(path, layer=None, batch_size=256, flag="--kid_model"):
    """A feature function from a Keras model file: images (N, H, W, C) uint8 or float32 pixel values in
    [0, 255] (fed as float32 in that range, resized to the model's input size if it differs) -> (N, F)
    float32, the flattened output of ``layer`` (default: the layer named 'features' if there is one, else
    the model's output). ``flag``: the option that named the file, for messages."""
    # heavy (TensorFlow): imported on use, so commands start and refuse bad input without it
    import tensorflow as tf

    try:
        model = tf.keras.models.load_model(path, compile=False)
    except (OSError, ValueError) as e:
        raise InputError(f"{flag} '{path}' cannot be loaded as a Keras model "
                         f"({' '.join(str(e).split())[:120]}): give a .keras file") from None
    names = [item.name for item in model.layers]
    chosen = layer if layer is not None else ("features" if "features" in names else None)
    if chosen is not None and chosen not in names:
        raise InputError(f"--kid_layer '{chosen}' is not a layer of '{path}' (layers: {', '.join(names)})")
    extractor = model if chosen is None else tf.keras.Model(model.inputs, model.get_layer(chosen).output)
    size = model.inputs[0].shape[1:3]

    def features(images):
        out = []
        for start in range(0, len(images), batch_size):
            x = tf.cast(images[start:start + batch_size], tf.float32)
            if None not in size and tuple(x.shape[1:3]) != tuple(size):
                x = tf.image.resize(x, size, antialias=True)
            y = extractor(x, training=False)
            out.append(np.reshape(np.asarray(y, np.float32), (len(x), -1)))
        return np.concatenate(out)
    return features
