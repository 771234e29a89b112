"""The world's exact scorer: a small Keras CNN trained on drawn faces that reads every factor back from an
image (:func:`train_scorer`, measured by :func:`scorer_metrics`), and the shipped one (:data:`SCORER_PATH`,
trained by ``python -m gradctrl.world train-scorer``: :func:`run_train_scorer`), which the scorer spec
``world:ATTRIBUTE`` names (:mod:`gradctrl.data.scorers`).
"""
import json
from pathlib import Path

import numpy as np

from stylegan2.atomic import atomic_path

from ..errors import UserError
from .drawing import HAIR_COLOURS, OLD_AGE, draw_faces, label_table, read_world, sample_factors

# The exact scorer: one output per attribute (logits for the binary and class attributes, the factor
# itself for the continuous ones), MSE losses weighted by about 1 / variance of their factor.
# The shipped exact scorer (trained by ``train-scorer``), named by the scorer spec ``world:ATTRIBUTE``.
SCORER_PATH = Path(__file__).resolve().parents[1] / "assets" / "world_scorer.keras"
SCORER_OUTPUTS = {
    "eyeglasses": ("logit", 1.0),
    "smile": ("regression", 2.5),
    "age": ("regression", 12.0),
    "hair_length": ("logit", 1.0),
    "pose": ("regression", 3.0),
    "hair_colour": ("class logits", 1.0),
}


def build_scorer(resolution=32):
    """The exact scorer's network (uncompiled): float32 images (N, R, R, 3) in [0, 255] -> dict of outputs
    eyeglasses (N, 1) logit, smile (N, 1) regressed smile, age (N, 1) regressed age, hair_length (N, 1)
    logit, pose (N, 1) regressed yaw, hair_colour (N, 4) logits. The penultimate dense layer (64 units)
    is named ``features``."""
    # heavy (Keras): imported on use, so commands start and refuse bad input without it
    import keras
    from keras import layers

    images = keras.Input((resolution, resolution, 3), name="images")
    x = layers.Rescaling(1 / 127.5, offset=-1.0)(images)
    x = layers.GaussianNoise(0.03)(x)  # training only: a little robustness to a generator's artefacts
    for filters, strides in ((16, 1), (32, 2), (32, 1), (64, 2), (64, 2)):
        x = layers.Conv2D(filters, 3, strides=strides, padding="same", activation="relu")(x)
    x = layers.Flatten()(x)
    features = layers.Dense(64, activation="relu", name="features")(x)
    outputs = {name: layers.Dense(len(HAIR_COLOURS) if kind == "class logits" else 1, name=name)(features)
               for name, (kind, _) in SCORER_OUTPUTS.items()}
    return keras.Model(images, outputs, name="world_scorer")


def scorer_targets(factors):
    """Training targets of the exact scorer -> dict output name -> float32 (N, 1), hair_colour int32 (N,)."""
    targets = {name: np.asarray(factors[name], np.float32)[:, None] for name in SCORER_OUTPUTS}
    targets["hair_colour"] = np.asarray(factors["hair_colour"], np.int32)
    return targets


def train_scorer(images, factors, seed=0, epochs=8, batch_size=128, verbose=2):
    """Train the exact scorer on drawn ``images`` uint8 (N, R, R, 3) and their ``factors`` -> the trained
    model, uncompiled (so a saved file holds no optimizer state). Adam, learning rate 2e-3 decayed by
    cosine to 0; ``seed`` fixes the initialisation and the shuffling."""
    # heavy (Keras): imported on use, so commands start and refuse bad input without it
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    n, resolution = len(images), images.shape[1]
    model = build_scorer(resolution)
    losses = {name: {"logit": keras.losses.BinaryCrossentropy(from_logits=True),
                     "regression": keras.losses.MeanSquaredError(),
                     "class logits": keras.losses.SparseCategoricalCrossentropy(from_logits=True)}[kind]
              for name, (kind, _) in SCORER_OUTPUTS.items()}
    steps = epochs * -(-n // batch_size)
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(2e-3, steps)),
                  loss=losses, loss_weights={name: weight for name, (_, weight) in SCORER_OUTPUTS.items()})
    data = (tf.data.Dataset.from_tensor_slices((images, scorer_targets(factors)))
            .shuffle(n, seed=seed, reshuffle_each_iteration=True)
            .batch(batch_size)
            .map(lambda x, y: (tf.cast(x, tf.float32), y))
            .prefetch(2))
    model.fit(data, epochs=epochs, verbose=verbose, shuffle=False)  # shuffled by the seeded dataset
    trained = build_scorer(resolution)
    trained.set_weights(model.get_weights())
    return trained


def predict_scores(model, images, batch_size=512):
    """Run the exact scorer on uint8 or float images (N, R, R, 3) in [0, 255] -> dict output name ->
    float32 (N,) (hair_colour: (N, 4) logits)."""
    parts = []
    for start in range(0, len(images), batch_size):
        outputs = model(np.asarray(images[start:start + batch_size], np.float32), training=False)
        parts.append({name: np.asarray(value) for name, value in outputs.items()})
    scores = {name: np.concatenate([p[name] for p in parts]) for name in SCORER_OUTPUTS}
    return {name: value[:, 0] if value.shape[1] == 1 else value for name, value in scores.items()}


def score_labels(attribute, scores):
    """The exact labels of the shipped scorer's outputs (``world:ATTRIBUTE``): scores (N,) or (N, 4) -> int64
    (N,): eyeglasses and hair_length logit > 0, smile > 0, age > 0.5 (old), pose > 0 (turned right),
    hair_colour the argmax (a class index into ``HAIR_COLOURS``) -- the thresholds of :func:`label_table`."""
    scores = np.asarray(scores)
    if attribute == "hair_colour":
        return np.argmax(scores, axis=1).astype(np.int64)
    threshold = {"age": OLD_AGE}.get(attribute, 0.0)
    if attribute not in SCORER_OUTPUTS:
        raise UserError(f"the world has no attribute '{attribute}' (it has {', '.join(SCORER_OUTPUTS)})")
    return (scores > threshold).astype(np.int64)


def scorer_metrics(scores, factors):
    """How exactly the scorer reads the factors -> dict: accuracy of eyeglasses, hair_length, the sign of
    smile, hair_colour and the old/young label of age (fractions in [0, 1]); Pearson correlation of the
    regressed smile, age and pose with the true factors."""
    labels = label_table(factors)

    def pearson(name):
        return float(np.corrcoef(scores[name], factors[name])[0, 1])

    return {
        "eyeglasses_accuracy": float(np.mean((scores["eyeglasses"] > 0) == labels["eyeglasses"])),
        "hair_length_accuracy": float(np.mean((scores["hair_length"] > 0) == labels["hair_length"])),
        "smile_sign_accuracy": float(np.mean((scores["smile"] > 0) == labels["smile"])),
        "hair_colour_accuracy": float(np.mean(scores["hair_colour"].argmax(1) == labels["hair_colour"])),
        "age_label_accuracy": float(np.mean((scores["age"] > OLD_AGE) == labels["age"])),
        "smile_pearson": pearson("smile"),
        "age_pearson": pearson("age"),
        "pose_pearson": pearson("pose"),
    }


def run_train_scorer(out, n, seed, epochs, test_n, test_seed, data=None, resolution=32):
    """Train the exact scorer on ``n`` faces (of folder ``data``, else drawn from ``seed``), measure it on
    ``test_n`` fresh faces of ``test_seed``, and write ``out`` (.keras) and ``out`` with suffix .json
    (the metrics and settings) -> the metrics dict."""
    out = Path(out)
    if out.suffix != ".keras":
        raise UserError(f"--out '{out}' must end in .keras")
    if min(n, test_n, epochs) < 1:
        raise UserError(f"--n_samples, --test_n_samples and --n_epochs must be positive, "
                        f"got {n}, {test_n} and {epochs}")
    if data is not None:
        images, factors = read_world(data, n)
        resolution = images.shape[1]
    else:
        factors = sample_factors(n, seed)
        images = draw_faces(factors, resolution, progress=True)
    model = train_scorer(images, factors, seed=seed, epochs=epochs)
    test_factors = sample_factors(test_n, test_seed)
    metrics = scorer_metrics(predict_scores(model, draw_faces(test_factors, resolution)), test_factors)
    record = {"train": {"n": n, "seed": seed, "data": str(data) if data else None, "epochs": epochs,
                        "resolution": resolution},
              "test": {"n": test_n, "seed": test_seed}, "metrics": metrics,
              "outputs": {name: kind for name, (kind, _) in SCORER_OUTPUTS.items()}}
    with atomic_path(out) as tmp:
        model.save(tmp)
    with atomic_path(out.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")
    return metrics
