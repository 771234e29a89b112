"""The library layer's classifier on w, the one GradCtrl edits with (NVIDIA's image classifiers, used as scorers,
are :mod:`stylegan2.classifier`). Latent attribute classifiers: one small branch per attribute on w, as in the
GradCtrl paper.

Architecture (the authors' ``MultiLabelClassifier``): optional shared layers ``w_dim -> w_dim`` with
LeakyReLU(0.1), repeated ``n_shared_layers`` times, then per attribute a branch
``-> hidden_size -> LeakyReLU(0.1) -> 1 logit (sigmoid)`` for a binary attribute or ``-> K logits (softmax)``
for a K-class one; ``hidden_size=None`` makes every branch a single linear layer.

A model directory in our format holds ``classifier.json`` (the spec: attributes, classes, sizes) and
``classifier.weights.h5`` (Keras weights); no pickle. :func:`load_classifier` also reads the authors'
released directories (``model.pth`` + ``model_params.pkl``, see :mod:`gradctrl.formats.authors`).
"""
import dataclasses
import io
import json
import warnings
from pathlib import Path

import numpy as np

from stylegan2.atomic import atomic_dir

from .. import files
from ..errors import UserError
from ..formats import authors

SPEC_FILE = "classifier.json"
WEIGHTS_FILE = "classifier.weights.h5"
FORMAT = "gradctrl-classifier"
FORMAT_VERSION = 1
LEAKY_SLOPE = 0.1
SPEC_KEYS = ("w_dim", "attributes", "num_classes", "hidden_size", "n_shared_layers")  # LatentClassifier's arguments


class LatentClassifier:
    """Per-attribute classifier branches on w (a Keras model plus its spec).

    ``attributes``: list of names; ``num_classes``: {name: 1 (binary) or K}; ``w_dim``: latent width;
    ``hidden_size``: int or None (linear branches); ``n_shared_layers``: int >= 0; ``source``: "gradctrl"
    (trained here: binary label 1 = high score) or "released" (the authors' checkpoints, whose label 1 was the
    low-score side, so a branch may point the other way). ``model`` maps w (N, w_dim) to {name: logits
    (N, 1) or (N, K)}; :meth:`logits` and :meth:`probabilities` flatten binary outputs to (N,).
    """

    def __init__(self, w_dim, attributes, num_classes, hidden_size=16, n_shared_layers=0, seed=0, source="gradctrl"):
        # heavy (Keras): imported on use, so commands start and refuse bad input without it
        import keras

        attributes = list(attributes)
        _check_spec(w_dim, attributes, num_classes, hidden_size, n_shared_layers, "classifier")
        self.w_dim = int(w_dim)
        self.attributes = attributes
        self.num_classes = {name: int(num_classes[name]) for name in attributes}
        self.hidden_size = hidden_size
        self.n_shared_layers = int(n_shared_layers)
        self.source = source

        rng = np.random.default_rng(seed)

        def dense(units, name):
            init_seed = int(rng.integers(2**31 - 1))     # distinct, seeded initial weights per layer
            return keras.layers.Dense(units, name=name,
                                      kernel_initializer=keras.initializers.GlorotUniform(seed=init_seed))

        w = keras.Input(shape=(self.w_dim,), name="w")
        x = w
        self.shared_layers = [dense(self.w_dim, f"shared_{i}") for i in range(self.n_shared_layers)]
        for layer in self.shared_layers:
            x = keras.layers.LeakyReLU(negative_slope=LEAKY_SLOPE)(layer(x))
        self.branch_layers = {}
        outputs = {}
        for i, name in enumerate(attributes):
            layers = []
            h = x
            if hidden_size is not None:
                layers.append(dense(hidden_size, f"branch_{i}_hidden"))
                h = keras.layers.LeakyReLU(negative_slope=LEAKY_SLOPE)(layers[-1](h))
            layers.append(dense(self.num_classes[name], f"branch_{i}_out"))
            outputs[name] = layers[-1](h)
            self.branch_layers[name] = layers
        self.model = keras.Model(inputs=w, outputs=outputs, name="latent_classifier")

    def branch_variables(self, name):
        """The variables of attribute ``name``'s branch (its own layers, not the shared ones)."""
        return [v for layer in self.branch_layers[name] for v in layer.trainable_variables]

    def logits(self, w, training=False):
        """Differentiable logits: w (N, w_dim) tensor -> {name: (N,) for binary, (N, K) for K classes} tf.Tensor."""
        # heavy (TensorFlow): imported on use, so commands start and refuse bad input without it
        import tensorflow as tf

        out = self.model(tf.convert_to_tensor(w, tf.float32), training=training)
        return {name: out[name][:, 0] if self.num_classes[name] == 1 else out[name] for name in self.attributes}

    def probabilities(self, w):
        """Differentiable probabilities: {name: sigmoid (N,) or softmax over classes (N, K)} tf.Tensor."""
        # heavy (TensorFlow): imported on use, so commands start and refuse bad input without it
        import tensorflow as tf

        logits = self.logits(w)
        return {name: tf.sigmoid(v) if self.num_classes[name] == 1 else tf.nn.softmax(v, axis=-1)
                for name, v in logits.items()}

    def predict(self, w, batch_size=4096):
        """Probabilities as numpy: w (N, w_dim) -> {name: (N,) or (N, K) float32}; batches of ``batch_size``."""
        w = np.asarray(w, np.float32)
        if w.ndim != 2 or w.shape[1] != self.w_dim:
            raise UserError(f"latents of shape {w.shape} do not fit the classifier, which takes (N, {self.w_dim})")
        parts = [self.probabilities(w[i:i + batch_size]) for i in range(0, len(w), batch_size)] or \
            [self.probabilities(np.zeros((0, self.w_dim), np.float32))]
        return {name: np.concatenate([np.asarray(p[name]) for p in parts]) for name in self.attributes}

    def spec(self):
        """The JSON-serialisable description saved as ``classifier.json``."""
        return {"format": FORMAT, "version": FORMAT_VERSION, "w_dim": self.w_dim, "attributes": self.attributes,
                "num_classes": self.num_classes, "hidden_size": self.hidden_size,
                "n_shared_layers": self.n_shared_layers, "source": self.source}


def _check_spec(w_dim, attributes, num_classes, hidden_size, n_shared_layers, where):
    """UserError naming ``where`` unless the spec describes a buildable classifier."""
    if isinstance(w_dim, bool) or not isinstance(w_dim, int) or w_dim < 1:
        raise UserError(f"{where}: w_dim must be a positive integer, got {w_dim!r}")
    if not attributes or not all(isinstance(a, str) and a for a in attributes) or len(set(attributes)) != len(attributes):
        raise UserError(f"{where}: attributes must be distinct non-empty names, got {attributes!r}")
    if not isinstance(num_classes, dict) or set(num_classes) != set(attributes):
        raise UserError(f"{where}: num_classes must give a class count for every attribute, got {num_classes!r}")
    for name, k in num_classes.items():
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise UserError(f"{where}: attribute '{name}' has class count {k!r}; use 1 (binary) or K >= 2")
    if hidden_size is not None and (isinstance(hidden_size, bool) or not isinstance(hidden_size, int) or hidden_size < 1):
        raise UserError(f"{where}: hidden_size must be a positive integer or None (linear), got {hidden_size!r}")
    if isinstance(n_shared_layers, bool) or not isinstance(n_shared_layers, int) or n_shared_layers < 0:
        raise UserError(f"{where}: n_shared_layers must be an integer >= 0, got {n_shared_layers!r}")


class _NamedBuffer(io.BytesIO):
    """An in-memory file that Keras' ``save_weights`` takes for a ``.weights.h5`` path (it checks the name)."""

    def __str__(self):
        return WEIGHTS_FILE


def save_classifier(clf, path, extra_json=None):
    """Write ``clf`` to the model directory ``path`` atomically (temporary sibling, then rename).

    Writes ``classifier.json`` and ``classifier.weights.h5``, plus ``extra_json`` {file name: JSON-serialisable
    object} (e.g. train.py's ``metrics.json``). An existing model directory at ``path`` is replaced; any other
    existing non-empty path is a UserError.
    """
    weights = _NamedBuffer()  # HDF5 writes into memory: a full disk fails in our write below, not inside h5py
    clf.model.save_weights(weights)
    with atomic_dir(check_output_dir(path)) as tmp:
        (tmp / WEIGHTS_FILE).write_bytes(weights.getvalue())
        documents = {SPEC_FILE: clf.spec(), **(extra_json or {})}
        for name, obj in documents.items():
            (tmp / name).write_bytes(files.json_bytes(obj))


def check_output_dir(path):
    """``path`` as a Path if a model directory may be written there (absent, empty, or a model directory to
    replace); UserError otherwise. Commands call it before long work."""
    return files.check_output_dir(path, SPEC_FILE, "a gradctrl model directory")


@dataclasses.dataclass(frozen=True)
class ClassifierSpec:
    """What a model directory's classifier takes and predicts, read without building it (no TensorFlow):
    ``w_dim`` (latent width), ``attributes`` (names, in branch order), ``num_classes`` ({name: 1 or K})."""
    w_dim: int
    attributes: list
    num_classes: dict


def read_classifier_spec(path):
    """The :class:`ClassifierSpec` of a model directory (ours or the authors' released one), checked as
    :func:`load_classifier` checks it, without importing TensorFlow, so commands refuse a wrong attribute or
    width at once. Anything else is a UserError."""
    path = _model_dir(path)
    if (path / SPEC_FILE).is_file():
        spec = _read_our_spec(path)
        return ClassifierSpec(spec["w_dim"], spec["attributes"], spec["num_classes"])
    params, weights = authors.read_released(path)
    first = (weights["shared"] or weights["branches"][params["attributes"][0]])[0][0]
    return ClassifierSpec(int(first.shape[0]), params["attributes"], params["num_classes"])


def load_classifier(path):
    """Load a classifier from a model directory: ours (``classifier.json`` + weights) or the authors' released
    one (``model.pth`` + ``model_params.pkl``) -> :class:`LatentClassifier`. Anything else is a UserError.
    """
    path = _model_dir(path)
    if (path / SPEC_FILE).is_file():
        return _load_ours(path)
    params, weights = authors.read_released(path)
    return _from_released(path, params, weights)


def _model_dir(path):
    """``path`` as a Path if it is a model directory of either kind; UserError otherwise."""
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"model directory '{path}' does not exist: train one with train.py or pass the authors' "
                        "released model_ffhq / model_car / model_cat")
    if not (path / SPEC_FILE).is_file() and not authors.is_released_dir(path):
        raise UserError(f"model directory '{path}' is neither a gradctrl model ({SPEC_FILE} + {WEIGHTS_FILE}, "
                        "written by train.py) nor an authors' released one (model.pth + model_params.pkl)")
    return path


def _read_our_spec(path):
    """``classifier.json`` of our model directory ``path``, checked, and its weights file read through
    (:func:`gradctrl.files.check_container`) -> the spec dict; UserError naming the problem."""
    where = f"model directory '{path}'"
    try:
        spec = json.loads((path / SPEC_FILE).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, OSError) as e:
        raise UserError(f"{where}: {SPEC_FILE} is not readable JSON ({e}): train the model again") from None
    if not isinstance(spec, dict) or spec.get("format") != FORMAT or spec.get("version") != FORMAT_VERSION:
        raise UserError(f"{where}: {SPEC_FILE} is not a {FORMAT} version {FORMAT_VERSION} spec: train the model again")
    missing = [k for k in SPEC_KEYS if k not in spec]
    if missing:
        raise UserError(f"{where}: {SPEC_FILE} lacks '{missing[0]}': train the model again")
    _check_spec(*(spec[k] for k in SPEC_KEYS), f"{where}: {SPEC_FILE}")
    weights = path / WEIGHTS_FILE
    if not weights.is_file():
        raise UserError(f"{where}: missing {WEIGHTS_FILE}: train the model again")
    files.check_container(weights, f"{where}: {WEIGHTS_FILE}", "copy the model directory again or train the model again")
    return spec


def _load_ours(path):
    where = f"model directory '{path}'"
    spec = _read_our_spec(path)
    clf = LatentClassifier(*(spec[k] for k in SPEC_KEYS), source=spec.get("source", "gradctrl"))
    weights = path / WEIGHTS_FILE
    try:
        with warnings.catch_warnings():      # Keras warns before raising on a mismatch; the error says it all
            warnings.simplefilter("ignore")
            clf.model.load_weights(str(weights))
    except (ValueError, OSError, KeyError) as e:
        raise UserError(f"{where}: {WEIGHTS_FILE} does not match {SPEC_FILE} ({str(e).splitlines()[0]})") from None
    for variable in clf.model.weights:
        if not np.all(np.isfinite(variable.numpy())):
            raise UserError(f"{where}: {WEIGHTS_FILE} tensor '{variable.path}' holds NaN or infinite values (a "
                            "training run that diverged, or a damaged file): train the model again")
    return clf


def _from_released(path, params, weights):
    """A LatentClassifier holding the authors' weights (kernels already in ``x @ kernel`` layout)."""
    first = (weights["shared"] or weights["branches"][params["attributes"][0]])[0][0]
    clf = LatentClassifier(int(first.shape[0]), params["attributes"], params["num_classes"], params["hidden_size"],
                           params["n_shared_layers"], source="released")
    pairs = list(zip(clf.shared_layers, weights["shared"]))
    for name in clf.attributes:
        pairs += list(zip(clf.branch_layers[name], weights["branches"][name]))
    for layer, (kernel, bias) in pairs:
        expected = tuple(v.shape for v in layer.weights)
        if (kernel.shape, bias.shape) != expected:
            raise UserError(f"'{path / 'model.pth'}': layer {layer.name} has shapes {kernel.shape}, {bias.shape}; "
                            f"its model_params.pkl implies {expected[0]}, {expected[1]}")
        layer.set_weights([kernel, bias])
    return clf
