"""Image scorers: the user's image classifiers that label the rendered samples, named by a spec string.

Specs (one per attribute):

- ``keras:PATH[,size=H|HxW][,range=LO:HI][,output=NAME]``: a Keras 3 ``.keras`` file, an ``.h5`` file
  Keras 3 can read, or a TensorFlow SavedModel folder (called through its ``serving_default``
  signature). Images are resized (bilinear, antialiased) to ``size`` (default: the model's own input
  size when it declares one, else unchanged) and mapped linearly from [0, 255] to [LO, HI] (default
  ``range=0:255``, i.e. the pixel values as float32). ``output`` picks one output of a Keras model or
  SavedModel signature that returns several (by output name), e.g. the shipped world scorer
  ``keras:gradctrl/assets/world_scorer.keras,output=smile`` (see :mod:`gradctrl.world`).
- ``nvidia:PATH[,prob][,neg]``: one of NVIDIA's CelebA-HQ attribute classifiers
  (``celebahq-classifier-NN-NAME.pkl``, :func:`stylegan2.load_classifier`), read without running stored
  code. Images are mapped to NVIDIA's range (x / 127.5 - 1); a render whose size is a whole multiple of the
  classifier's (1024 px for the 256 px classifiers) is box-averaged down (each k x k block's mean, as
  NVIDIA's linear-separability metric feeds them), any other size is resized (bilinear, antialiased).
  Scores (N,): the logit (> 0: the attribute is present); ``prob``: NVIDIA's probability
  softmax([logit, -logit])[0] instead; ``neg``: the logit negated (the opposite attribute, e.g. age from
  ``04-young``; with ``prob``, 1 - p). A classifier with a minibatch-stddev layer (none of NVIDIA's) mixes
  the images of a group, and a batch that is not a multiple of its group is scored as its largest multiple
  and the rest.
- ``world:ATTRIBUTE``: the drawn world's exact scorer shipped with the package (:mod:`gradctrl.world`;
  ``keras:`` of its asset with ``output=ATTRIBUTE``): eyeglasses, hair_length (logits), smile, age, pose
  (regressed factor values) or hair_colour (4 logits).
- ``python:module:function``: ``function(images)`` with images a uint8 (N, H, W, C) array, returning
  scores (N,) or (N, K). The module is imported by name (put its folder on PYTHONPATH).
- ``builtin:brightness`` (N,): mean luma in [0, 1]; ``builtin:warmth`` (N,): mean red minus mean blue,
  in [-1, 1]; ``builtin:color3`` (N, 3): for red, green and blue, the channel's mean minus the mean
  over channels, in [-1, 1] (the argmax is the dominant colour). Scaled by 1/255.

A scorer returning one column (or a flat (N,) vector) scores a binary attribute; K >= 2 columns, K
classes. Output of another shape, or with NaN or infinite values, is a one-line :class:`UserError`.
"""
import hashlib
import importlib
from pathlib import Path

import numpy as np

import stylegan2
from stylegan2.errors import InputError

from ..errors import UserError
from ..files import check_container
from ..generators import file_sha256
from ..world.scorer import SCORER_OUTPUTS, SCORER_PATH

BUILTIN_NAMES = ("brightness", "warmth", "color3")
NVIDIA_OPTIONS = ("prob", "neg")
SPEC_HELP = ("keras:PATH, nvidia:PATH[,prob][,neg], world:ATTRIBUTE, python:module:function or "
             "builtin:brightness|warmth|color3")


class Scorer:
    """A validated image scorer: ``scorer(images uint8 (N, H, W, C)) -> float32 (N,) or (N, K)``."""

    def __init__(self, spec, function, attribute=None):
        self.spec = spec
        self._function = function
        self._what = f"scorer '{spec}'" + (f" of attribute '{attribute}'" if attribute else "")

    def __call__(self, images):
        """Score a batch: ``images`` uint8 (N, H, W, C) -> float32 (N,) (binary) or (N, K), K >= 2."""
        images = np.asarray(images)
        n = images.shape[0]
        try:
            raw = self._function(images)
        except UserError:
            raise
        except Exception as e:  # a user's classifier may fail in any way: report it on one line
            message = " ".join(str(e).split())[:300]
            raise UserError(f"{self._what} failed on a batch of shape {images.shape} "
                            f"({type(e).__name__}: {message})") from None
        try:
            scores = np.asarray(raw, dtype=np.float32)
        except (TypeError, ValueError):
            raise UserError(f"{self._what} returned {type(raw).__name__}, not an array of scores: "
                            "it must return (N,) or (N, K) numbers") from None
        if scores.ndim == 2 and scores.shape[1] == 1:
            scores = scores[:, 0]
        if scores.ndim not in (1, 2) or scores.shape[0] != n or (scores.ndim == 2 and scores.shape[1] == 0):
            raise UserError(f"{self._what} returned shape {tuple(scores.shape)} for {n} images: "
                            f"it must return ({n},) or ({n}, K)")
        bad = ~np.isfinite(scores)
        if bad.any():
            rows = int(bad.reshape(n, -1).any(axis=1).sum())
            raise UserError(f"{self._what} returned NaN or infinite scores for {rows} of {n} images: "
                            "fix the classifier or its input range (range=LO:HI)")
        return scores


def make_scorer(spec, attribute=None, models=None):
    """Build the :class:`Scorer` a spec string names (see the module docstring); ``attribute`` names it in errors;
    ``models``: the Keras models already loaded by :func:`make_scorers` (a dict it fills), None for a scorer
    of its own."""
    if not isinstance(spec, str) or ":" not in spec:
        raise UserError(f"unknown scorer {spec!r}" + (f" for attribute '{attribute}'" if attribute else "")
                        + f": use {SPEC_HELP}")
    models = {} if models is None else models
    kind, rest = spec.split(":", 1)
    if kind == "builtin":
        if rest not in BUILTIN_NAMES:
            raise UserError(f"unknown built-in scorer '{spec}': use builtin:{'|'.join(BUILTIN_NAMES)}")
        return Scorer(spec, _BUILTINS[rest], attribute)
    if kind == "python":
        return Scorer(spec, _python_function(spec, rest), attribute)
    if kind == "keras":
        return Scorer(spec, _keras_function(spec, rest, models), attribute)
    if kind == "nvidia":
        return Scorer(spec, _nvidia_function(spec, rest), attribute)
    if kind == "world":
        if rest not in SCORER_OUTPUTS:
            raise UserError(f"unknown world scorer '{spec}': use world:{'|'.join(SCORER_OUTPUTS)}")
        return Scorer(spec, _keras_function(spec, f"{SCORER_PATH},output={rest}", models), attribute)
    raise UserError(f"unknown scorer '{spec}'" + (f" for attribute '{attribute}'" if attribute else "")
                    + f": use {SPEC_HELP}")


def make_scorers(specs):
    """{attribute: spec} -> {attribute: :class:`Scorer`}, in the same order. Scorers reading one Keras model
    file with the same size and range (``world:`` specs, ``keras:`` specs that differ in ``output`` only) share
    one loaded copy, which runs once per batch for all of them."""
    models = {}
    return {attr: make_scorer(spec, attr, models) for attr, spec in specs.items()}


def scorer_record(spec):
    """How a data manifest records the scorer ``spec`` names -> str: the spec, followed by
    ``sha256:<hex>`` of the model it reads for ``keras:``, ``nvidia:`` and ``world:`` specs (a SavedModel
    folder: the hash of its files' relative paths and hashes), so that a model file changed under the same
    path counts as another scorer. ``python:`` and ``builtin:`` specs name code and are recorded as given.
    Call it after :func:`make_scorer` has accepted the spec."""
    kind, _, rest = spec.partition(":")
    if kind == "keras":
        path = _keras_options(spec, rest)[0]
    elif kind == "nvidia":
        path = _split_options(spec, rest, NVIDIA_OPTIONS, False, NVIDIA_USAGE)[0]
    elif kind == "world":
        path = SCORER_PATH
    else:
        return spec
    return f"{spec} sha256:{_content_sha256(Path(path))}"


def _content_sha256(path):
    """Hex SHA-256 of a file's bytes, or of a folder's files (each one's relative path and hash, in order)."""
    if not path.is_dir():
        return file_sha256(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(path).as_posix()} {file_sha256(file)}\n".encode())
    return digest.hexdigest()


def _rgb(images, name):
    """float64 per-image channel means (N, 3) of an RGB uint8 batch; other channel counts are refused."""
    if images.ndim != 4 or images.shape[3] != 3:
        raise UserError(f"builtin:{name} needs RGB images (N, H, W, 3), got shape {images.shape}")
    return images.mean(axis=(1, 2), dtype=np.float64)


def brightness(images):
    """Mean luma (Rec. 601 weights; the mean pixel for one channel) of uint8 (N, H, W, C) -> (N,) in [0, 1]."""
    if images.ndim == 4 and images.shape[3] == 1:
        return images.mean(axis=(1, 2, 3), dtype=np.float64) / 255
    return _rgb(images, "brightness") @ np.array([0.299, 0.587, 0.114]) / 255


def warmth(images):
    """Mean red minus mean blue of uint8 (N, H, W, 3) -> (N,) in [-1, 1]."""
    means = _rgb(images, "warmth")
    return (means[:, 0] - means[:, 2]) / 255


def color3(images):
    """Dominant-colour scores of uint8 (N, H, W, 3) -> (N, 3): each channel's mean minus the mean over channels."""
    means = _rgb(images, "color3")
    return (means - means.mean(axis=1, keepdims=True)) / 255


_BUILTINS = {"brightness": brightness, "warmth": warmth, "color3": color3}


def _python_function(spec, rest):
    """The function ``module:function`` names, imported now so a bad spec fails before any rendering."""
    module_name, _, function_name = rest.rpartition(":")
    if not module_name or not function_name:
        raise UserError(f"scorer '{spec}' is malformed: use python:module:function")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise UserError(f"scorer '{spec}': cannot import module '{module_name}' ({type(e).__name__}: {e}); "
                        "put its folder on PYTHONPATH") from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise UserError(f"scorer '{spec}': module '{module_name}' has no function '{function_name}'")
    return function


KERAS_OPTIONS = ("size", "range", "output")
KERAS_USAGE = "keras:PATH[,size=H|HxW][,range=LO:HI][,output=NAME]"
NVIDIA_USAGE = "nvidia:PATH[,prob][,neg]"


def _split_options(spec, rest, known, valued, usage):
    """``PATH[,option,...]`` of a spec -> (path, [option text]), each option checked to be known.

    The path ends at the first comma, unless ``rest`` as a whole names an existing file or folder (a path
    with commas). ``known``: the option names; ``valued``: options are ``name=value`` (Keras) rather than
    bare words (NVIDIA). An unknown option, a malformed one or a space beside a comma is a UserError naming it.
    """
    if "," not in rest or Path(rest).exists():
        return rest, []
    path, *items = rest.split(",")
    for item in items:
        if item != item.strip():
            raise UserError(f"scorer '{spec}': option {item!r} has a space beside its comma: write the options "
                            f"without spaces, e.g. {usage}")
        name, has_value, _ = item.partition("=")
        if name not in known or has_value != ("=" if valued else ""):
            form = ", ".join(f"{k}=..." if valued else k for k in known)
            raise UserError(f"scorer '{spec}': unknown option {item!r} (the options are {form}; use {usage})")
    return path, items


def _keras_options(spec, rest):
    """Split ``PATH[,key=value...]`` -> (path, {'size': (H, W) | None, 'range': (lo, hi), 'output': str | None})."""
    path, items = _split_options(spec, rest, KERAS_OPTIONS, True, KERAS_USAGE)
    options = {"size": None, "range": (0.0, 255.0), "output": None}
    for item in items:
        key, value = item.split("=", 1)
        try:
            if key == "size":
                h, _, w = value.lower().partition("x")
                options["size"] = (int(h), int(w or h))
                if min(options["size"]) < 1:
                    raise ValueError
            elif key == "range":
                lo, hi = value.split(":")
                options["range"] = (float(lo), float(hi))
                if not np.all(np.isfinite(options["range"])) or options["range"][0] == options["range"][1]:
                    raise ValueError
            else:
                options["output"] = value
        except ValueError:
            raise UserError(f"scorer '{spec}': bad option {key}={value!r} (use size=H or size=HxW, "
                            "range=LO:HI, output=NAME)") from None
    if not path:
        raise UserError(f"scorer '{spec}' names no model file: use keras:PATH")
    return path, options


class _KerasModel:
    """A Keras model or SavedModel signature loaded once and read by every ``keras:``/``world:`` scorer of one
    :func:`make_scorers` call that names its file with the same size and range: a batch runs the model once,
    and each scorer takes its output (the world's six attributes: one pass of the scorer instead of six)."""

    def __init__(self, spec, path, size, value_range):
        # heavy (TensorFlow): imported on use, so commands start and refuse bad input without it
        import tensorflow as tf

        model_path = Path(path)
        if not model_path.exists():
            raise UserError(f"scorer '{spec}': model '{path}' not found")
        try:
            self._what = "the serving signature" if model_path.is_dir() else "the model"
            if model_path.is_dir():
                self._run, self.output_names, input_shape = _saved_model_run(spec, tf, model_path)
            elif model_path.suffix in (".keras", ".h5", ".hdf5"):
                # heavy (Keras): imported on use, so commands start and refuse bad input without it
                import keras

                check_container(model_path, f"scorer '{spec}': model '{path}'", "copy or download it again")
                model = keras.saving.load_model(model_path, compile=False)
                input_shape = tuple(model.inputs[0].shape) if getattr(model, "inputs", None) else None
                self.output_names = list(getattr(model, "output_names", None) or [])
                self._run = _keras_model_run(model, self.output_names)
            else:
                raise UserError(f"scorer '{spec}': '{path}' is neither a .keras/.h5 file nor a SavedModel folder")
        except UserError:
            raise
        except Exception as e:  # Keras and TensorFlow raise many types for unreadable files
            message = " ".join(str(e).split())[:300]
            raise UserError(f"scorer '{spec}': cannot load model '{path}' ({type(e).__name__}: {message})") from None
        if size is None and input_shape is not None and len(input_shape) == 4 and None not in input_shape[1:3]:
            size = (int(input_shape[1]), int(input_shape[2]))
        self._size, self._range = size, value_range
        self._last_images, self._last_outputs = None, None

    def output_key(self, spec, output):
        """The output a scorer reads (``output`` checked against the model's names; None: its only one)."""
        names = self.output_names
        if output is None and len(names) > 1:
            raise UserError(f"scorer '{spec}': {self._what} has outputs {', '.join(names)}: pick one with output=NAME")
        if output is not None and output not in names:
            raise UserError(f"scorer '{spec}': {self._what} has no output '{output}' (it has {', '.join(names)})")
        return output or (names[0] if names else None)

    def outputs(self, images):
        """Every output for a batch, images uint8 (N, H, W, C) -> {name: np.ndarray}; the model runs once per
        distinct batch (the last batch's copy is kept and compared, so a buffer refilled in place is rescored)."""
        # heavy (TensorFlow): imported on use, so commands start and refuse bad input without it
        import tensorflow as tf

        if self._last_images is not None and self._last_images.shape == images.shape and \
                np.array_equal(self._last_images, images):
            return self._last_outputs
        x = tf.convert_to_tensor(images, tf.float32)
        if self._size is not None and tuple(x.shape[1:3]) != self._size:
            x = tf.image.resize(x, self._size, method="bilinear", antialias=True)
        lo, hi = self._range
        outputs = {name: np.asarray(value) for name, value in self._run(x * ((hi - lo) / 255.0) + lo).items()}
        self._last_images, self._last_outputs = np.array(images, copy=True), outputs
        return outputs


def _keras_function(spec, rest, models):
    """The score function of a ``keras:`` spec, its model taken from (or loaded into) ``models``
    ({(path, size, range): _KerasModel}) -> images uint8 (N,H,W,C) -> scores."""
    path, options = _keras_options(spec, rest)
    key = (str(Path(path).resolve()), options["size"], options["range"])
    if key not in models:
        models[key] = _KerasModel(spec, path, options["size"], options["range"])
    model = models[key]
    output = model.output_key(spec, options["output"])
    return lambda images: model.outputs(images)[output]


def _keras_model_run(model, names):
    """run(x) -> {output name: tensor} of a Keras model (one output: under its name, or None)."""
    def run(x):
        outputs = model(x, training=False)
        if len(names) <= 1:
            return {names[0] if names else None: outputs}
        return dict(outputs) if isinstance(outputs, dict) else dict(zip(names, outputs))

    return run


def _saved_model_run(spec, tf, folder):
    """(run(x) -> {output name: tensor}, output names, input shape or None) of a SavedModel's serving signature."""
    loaded = tf.saved_model.load(str(folder))
    signature = loaded.signatures.get("serving_default")
    if signature is None:
        raise UserError(f"scorer '{spec}': SavedModel '{folder}' has no 'serving_default' signature")
    inputs = signature.structured_input_signature[1]
    if len(inputs) != 1:
        raise UserError(f"scorer '{spec}': the serving signature takes {len(inputs)} inputs "
                        f"({', '.join(inputs)}); an image scorer takes one")
    (input_name, input_spec), = inputs.items()

    def run(x):
        return dict(signature(**{input_name: tf.cast(x, input_spec.dtype)}))

    shape = input_spec.shape
    return run, list(signature.structured_outputs), (tuple(shape.as_list()) if shape.rank is not None else None)


def _nvidia_function(spec, rest):
    """Load the NVIDIA attribute classifier an ``nvidia:`` spec names -> images uint8 (N,H,W,C) -> scores (N,)."""
    path, items = _split_options(spec, rest, NVIDIA_OPTIONS, False, NVIDIA_USAGE)
    options = set(items)
    if not path:
        raise UserError(f"scorer '{spec}' names no classifier file: use {NVIDIA_USAGE}")
    # heavy (TensorFlow): imported on use, so commands start and refuse bad input without it
    import tensorflow as tf
    from stylegan2.classifier import probabilities

    try:
        classifier = stylegan2.load_classifier(path)
    except InputError as e:
        raise UserError(f"scorer '{spec}': {e}") from None
    size, channels = classifier.resolution, classifier.num_channels
    sign = np.float32(-1 if "neg" in options else 1)

    def score(images):
        if images.ndim != 4 or images.shape[3] != channels:
            raise UserError(f"scorer '{spec}' reads images with {channels} channels, got a batch of shape "
                            f"{images.shape}")
        x = images.astype(np.float32) / np.float32(127.5) - np.float32(1)
        if images.shape[1] != images.shape[2] or images.shape[1] % size:
            x = tf.image.resize(x, (size, size), method="bilinear", antialias=True)
        logits = sign * _grouped_logits(classifier, x)
        return probabilities(logits) if "prob" in options else logits

    return score


def _grouped_logits(classifier, x):
    """classifier(x) as numpy; with a minibatch-stddev layer of group G, a batch N > G that is not a multiple
    of G (which NVIDIA's code refuses) is scored as its first N - N % G images, then the rest."""
    n, group = x.shape[0], classifier.mbstd_group_size
    if group > 1 and n > group and n % group:
        cut = n - n % group
        return np.concatenate([np.asarray(classifier(x[:cut])), np.asarray(classifier(x[cut:]))])
    return np.asarray(classifier(x))
