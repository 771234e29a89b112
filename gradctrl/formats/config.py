"""The config file: one TOML file holding a generator, its attributes and every stage's defaults.

Layout (every table and key optional; unknown keys are errors)::

    [generator]
    file = "stylegan2-ffhq-config-f.pkl"     # official pickle (a path: see below)
    url = "https://..."                      # where to download it (shown when the file is missing)
    sha256 = "<64 hex>"                      # optional pin of file's bytes, checked when file is a URL
    truncation = 0.4                         # psi, in (0, 1]
    num_ws = 18                              # W+ size, checked against the generator
    random = { resolution = 32, seed = 2026 }  # build this random generator into `file` on first use (demo)

    [data]       # prepare_data defaults: n_samples, seed, p_perclass, p_val, batch_size
    [train]      # train defaults: n_epochs, lr, batch_size, hidden_size (int or "none"), n_shared_layers, seed

    [claims]     # evaluate.py --claims: attribute pairs whose side effects are tabled apart (docs/claims.md)
    planted_pairs = [["eyeglasses", "age"]]  # pairs the world correlates: claim 1 is decided on them
    control_pairs = [["eyeglasses", "pose"]] # independent pairs, tabled beside them

    [attributes.gender]
    classes = 1                              # 1 = binary (one logit); K >= 2 = K classes
    class_names = ["a", "b"]                 # K-class only, K names
    scorer = "builtin:brightness"            # image scorer spec (prepare_data, evaluation)
    exclude = { smile = 250, age = 100 }     # attribute -> top-k channels masked when editing this one
    layers = [2, 10]                         # W+ layers [lo, hi) that receive the edit (default: all)
    steps = 9
    step_size = 0.4444444444444444           # 4/9

    [attributes.gender.tuned.positive]       # written by tune.py: per edit tag and method, the settings it runs
    gradctrl_exclude = { layers = [1, 4], exclude = { smile = 16 } }
    interfacegan = { layers = [2, 6] }

Paths in the file (``generator.file``, the PATH of ``keras:`` and ``nvidia:`` scorers) are relative to the
config file's folder, so a config works from any current folder; ``package:REL`` is the file REL inside
the installed gradctrl package (its shipped assets: ``package:assets/world32.pkl``); absolute paths, ``~``
and URLs (``https://...``) are kept as written (:func:`resolve_path`).

Every problem is a one-line :class:`UserError` naming the file, the key and what is wrong. A flag given on
the command line wins over the file; the commands do that merge, this module only reads and checks.
"""
import dataclasses
import os
import tomllib
from pathlib import Path

from ..errors import UserError
from ..generators import check_trained_generator
from ..options import STEP_SIZE_BOUNDS, TRUNCATION_BOUNDS, is_layer_range, is_top_k, number_problem

PACKAGE_PREFIX = "package:"
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the gradctrl package (this module is in gradctrl/formats)
# Scorer kinds whose spec starts with a file path: KIND:PATH[,options] (gradctrl.data.scorers).
PATH_SCORER_KINDS = ("keras", "nvidia")
RANDOM_GENERATOR_KEYS = ("resolution", "architecture", "fmap_base", "fmap_max", "z_dim", "w_dim",
                         "mapping_layers", "seed")


@dataclasses.dataclass(frozen=True)
class GeneratorConfig:
    file: str | None = None
    url: str | None = None
    sha256: str | None = None
    truncation: float = 0.4
    num_ws: int | None = None
    random: dict | None = None


# --help of every flag whose default is the config's truncation: from the default, so it cannot drift.
TRUNCATION_HELP = (f"truncation psi (default: the config's generator.truncation; {GeneratorConfig.truncation} "
                   "without a config)")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    n_samples: int = 10000
    seed: int = 0
    p_perclass: float = 0.05
    p_val: float = 0.3
    batch_size: int = 16


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    n_epochs: int = 20
    lr: float = 1e-3
    batch_size: int = 32
    hidden_size: int | None = 16
    n_shared_layers: int = 0
    seed: int = 0


TUNED_KEYS = ("layers", "exclude")


@dataclasses.dataclass(frozen=True)
class ClaimsConfig:
    planted_pairs: tuple = ()
    control_pairs: tuple = ()


@dataclasses.dataclass(frozen=True)
class AttributeConfig:
    name: str
    classes: int = 1
    class_names: tuple | None = None
    scorer: str | None = None
    exclude: dict = dataclasses.field(default_factory=dict)
    layers: tuple | None = None
    steps: int = 9
    step_size: float = 4 / 9
    tuned: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Config:
    path: str | None = None
    generator: GeneratorConfig = GeneratorConfig()
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()
    attributes: dict = dataclasses.field(default_factory=dict)
    claims: ClaimsConfig = ClaimsConfig()

    def attribute(self, name):
        """The edit defaults of ``name``, the one place every command resolves them: its :class:`AttributeConfig`;
        without a config file, or with one that describes no attribute, the defaults of :class:`AttributeConfig`;
        a name missing from a config that describes attributes is a UserError listing the known ones."""
        if name in self.attributes:
            return self.attributes[name]
        if self.path is None or not self.attributes:
            return AttributeConfig(name=name)
        known = ", ".join(self.attributes) or "none"
        raise UserError(f"config {self.path}: no [attributes.{name}] table (known attributes: {known})")


def default_config():
    """The defaults every command uses without ``--config``: truncation 0.4, 9 steps of 4/9, all layers."""
    return Config()


class _Reader:
    """Checks one parsed TOML document key by key, naming the file and dotted key in every error."""

    def __init__(self, path):
        self.path = path

    def fail(self, key, problem):
        raise UserError(f"config {self.path}: key '{key}': {problem}")

    def table(self, value, key, allowed=None):
        """``value`` checked to be a table (dict) whose keys are all in ``allowed`` (any key when None)."""
        if not isinstance(value, dict):
            self.fail(key, f"expected a table, got {_kind(value)}")
        for name in value:
            if allowed is not None and name not in allowed:
                self.fail(f"{key}.{name}", f"unknown key (allowed: {', '.join(allowed)})")
        return value

    def int(self, key, value, low=None, high=None):
        self._number(key, value, integer=True, low=low, high=high)
        return value

    def float(self, key, value, low=None, high=None, low_open=False, high_open=False):
        self._number(key, value, low=low, high=high, low_open=low_open, high_open=high_open)
        return float(value)

    def str(self, key, value):
        if not isinstance(value, str) or not value:
            self.fail(key, f"expected a non-empty string, got {_kind(value)}")
        return value

    def _number(self, key, value, **bounds):
        problem = number_problem(value, **bounds)
        if problem is not None:
            self.fail(key, f"{problem}, got {_kind(value) if problem.startswith('expected') else value}")


def resolve_path(text, base):
    """A path written in a config file -> str: ``package:REL`` inside the gradctrl package, a URL
    (``scheme://...``), an absolute path or ``~/...`` as written (``~`` expanded), any other relative path
    from ``base`` (the config file's folder)."""
    if text.startswith(PACKAGE_PREFIX):
        return str(PACKAGE_DIR / text[len(PACKAGE_PREFIX):])
    if "://" in text:
        return text
    path = Path(text).expanduser()
    return str(path) if path.is_absolute() else os.path.normpath(Path(base) / path)


def _resolve_scorer(spec, base):
    """A scorer spec with the PATH of a ``keras:`` / ``nvidia:`` spec resolved by :func:`resolve_path`."""
    kind, _, rest = spec.partition(":")
    if kind not in PATH_SCORER_KINDS or not rest:
        return spec
    path, comma, options = rest.partition(",")
    return f"{kind}:{resolve_path(path, base)}{comma}{options}"


def _kind(value):
    return f"{type(value).__name__} {value!r}" if not isinstance(value, dict) else "a table"


def _fields(cls):
    return tuple(f.name for f in dataclasses.fields(cls))


def load_config(path):
    """Read and check the TOML config at ``path`` -> :class:`Config`; every problem is a one-line UserError."""
    path = str(path)
    try:
        with open(path, "rb") as f:
            document = tomllib.load(f)
    except FileNotFoundError:
        raise UserError(f"config file '{path}' not found: pass an existing --config (see configs/)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"config file '{path}' cannot be read: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"config {path}: not valid TOML ({e})") from None
    r = _Reader(path)
    for key in document:
        if key not in ("generator", "data", "train", "claims", "attributes"):
            r.fail(key, "unknown table (allowed: generator, data, train, claims, attributes)")
    attributes_table = r.table(document.get("attributes", {}), "attributes")
    names = tuple(attributes_table)
    attributes = {name: _attribute(r, name, attributes_table[name], names) for name in names}
    tables = {name: r.table(document.get(name, {}), name, _fields(cls))
              for name, cls in (("generator", GeneratorConfig), ("data", DataConfig), ("train", TrainConfig))}
    base = Path(path).parent
    attributes = {name: dataclasses.replace(a, scorer=_resolve_scorer(a.scorer, base)) if a.scorer else a
                  for name, a in attributes.items()}
    generator = _generator(r, tables["generator"])
    if generator.file is not None:
        generator = dataclasses.replace(generator, file=resolve_path(generator.file, base))
    if generator.num_ws is not None:
        _check_layers(r, attributes, generator.num_ws, "generator.num_ws")
    claims = _claims(r, r.table(document.get("claims", {}), "claims", _fields(ClaimsConfig)), names)
    return Config(path=path, generator=generator, data=_data(r, tables["data"]),
                  train=_train(r, tables["train"]), attributes=attributes, claims=claims)


def _generator(r, t):
    fields = {}
    for key in ("file", "url"):
        if key in t:
            fields[key] = r.str(f"generator.{key}", t[key])
    if "sha256" in t:
        pin = r.str("generator.sha256", t["sha256"])
        if len(pin) != 64 or any(c not in "0123456789abcdefABCDEF" for c in pin):
            r.fail("generator.sha256", f"expected 64 hexadecimal digits, got {pin!r}")
        fields["sha256"] = pin.lower()
    if "truncation" in t:
        fields["truncation"] = r.float("generator.truncation", t["truncation"], **TRUNCATION_BOUNDS)
    if "num_ws" in t:
        fields["num_ws"] = r.int("generator.num_ws", t["num_ws"], 2)
    if "random" in t:
        random = r.table(t["random"], "generator.random", RANDOM_GENERATOR_KEYS)
        for key, value in random.items():
            if key == "architecture":
                if value not in ("skip", "orig", "resnet"):
                    r.fail("generator.random.architecture", f"expected 'skip', 'orig' or 'resnet', got {value!r}")
            else:
                r.int(f"generator.random.{key}", value, 0 if key == "seed" else 1)
        if "file" not in fields:
            r.fail("generator.random", "needs generator.file: the path the random generator is saved to")
        fields["random"] = dict(random)
    return GeneratorConfig(**fields)


def _data(r, t):
    checks = {"n_samples": lambda k, v: r.int(k, v, 1), "seed": lambda k, v: r.int(k, v, 0),
              "p_perclass": lambda k, v: r.float(k, v, 0.0, 0.5, low_open=True),
              "p_val": lambda k, v: r.float(k, v, 0.0, 1.0, high_open=True),
              "batch_size": lambda k, v: r.int(k, v, 1)}
    return DataConfig(**{key: checks[key](f"data.{key}", value) for key, value in t.items()})


def _train(r, t):
    def hidden(k, v):
        if isinstance(v, str) and v != "none":
            r.fail(k, f"expected an integer or \"none\" (a linear branch), got {v!r}")
        return None if v == "none" else r.int(k, v, 1)

    checks = {"n_epochs": lambda k, v: r.int(k, v, 1), "lr": lambda k, v: r.float(k, v, 0.0, low_open=True),
              "batch_size": lambda k, v: r.int(k, v, 1), "hidden_size": hidden,
              "n_shared_layers": lambda k, v: r.int(k, v, 0), "seed": lambda k, v: r.int(k, v, 0)}
    return TrainConfig(**{key: checks[key](f"train.{key}", value) for key, value in t.items()})


def _claims(r, t, names):
    fields = {}
    for key, value in t.items():
        if (not isinstance(value, list)
                or not all(isinstance(p, list) and len(p) == 2 and all(isinstance(a, str) for a in p) for p in value)):
            r.fail(f"claims.{key}", f"expected a list of [attribute, attribute] pairs, got {_kind(value)}")
        for pair in value:
            for name in pair:
                if name not in names:
                    r.fail(f"claims.{key}", f"unknown attribute '{name}' (known: {', '.join(names)})")
            if pair[0] == pair[1]:
                r.fail(f"claims.{key}", f"pairs an attribute with itself: {pair!r}")
        fields[key] = tuple(tuple(pair) for pair in value)
    return ClaimsConfig(**fields)


def _attribute(r, name, t, names):
    where = f"attributes.{name}"
    t = r.table(t, where, _fields(AttributeConfig)[1:])
    fields = {"name": name}
    if "classes" in t:
        fields["classes"] = r.int(f"{where}.classes", t["classes"], 1)
    if "class_names" in t:
        value, classes = t["class_names"], fields.get("classes", 1)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            r.fail(f"{where}.class_names", f"expected a list of strings, got {_kind(value)}")
        if classes < 2 or len(value) != classes:
            r.fail(f"{where}.class_names", f"gives {len(value)} names but classes = {classes}")
        if len(set(value)) != len(value):
            r.fail(f"{where}.class_names", f"names a class twice: {value!r}")
        fields["class_names"] = tuple(value)
    if "scorer" in t:
        fields["scorer"] = r.str(f"{where}.scorer", t["scorer"])
    if "exclude" in t:
        fields["exclude"] = _exclude(r, f"{where}.exclude", t["exclude"], name, names)
    if "layers" in t:
        fields["layers"] = _layers(r, f"{where}.layers", t["layers"])
    if "tuned" in t:
        fields["tuned"] = _tuned(r, f"{where}.tuned", t["tuned"], name, names)
    if "steps" in t:
        fields["steps"] = r.int(f"{where}.steps", t["steps"], 1)
    if "step_size" in t:
        fields["step_size"] = r.float(f"{where}.step_size", t["step_size"], **STEP_SIZE_BOUNDS)
    return AttributeConfig(**fields)


def _exclude(r, key, exclude, name, names):
    if not isinstance(exclude, dict):
        r.fail(key, f"expected a table {{attribute = top_k, ...}}, got {_kind(exclude)}")
    for other, k in exclude.items():
        if other == name:
            r.fail(f"{key}.{other}", "an attribute cannot exclude itself")
        if other not in names:
            r.fail(f"{key}.{other}", f"unknown attribute (known: {', '.join(names)})")
        if not is_top_k(k):
            r.int(f"{key}.{other}", k, 0)   # words the problem
    return dict(exclude)


def _layers(r, key, value):
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            or not is_layer_range(*value)):
        r.fail(key, f"expected [lo, hi] with integers 0 <= lo < hi, got {value!r}")
    return tuple(value)


def _tuned(r, key, t, name, names):
    """``[attributes.NAME.tuned.TAG]``: per edit tag, per method name, {layers = [lo, hi], exclude = {...}}."""
    r.table(t, key)
    tuned = {}
    for tag, methods in t.items():
        r.table(methods, f"{key}.{tag}")
        tuned[tag] = {}
        for method, setting in methods.items():
            where = f"{key}.{tag}.{method}"
            r.table(setting, where, TUNED_KEYS)
            if "layers" not in setting:
                r.fail(where, "needs layers = [lo, hi]")
            tuned[tag][method] = {"layers": _layers(r, f"{where}.layers", setting["layers"])}
            if "exclude" in setting:
                tuned[tag][method]["exclude"] = _exclude(r, f"{where}.exclude", setting["exclude"], name, names)
    return tuned


def _check_layers(r, attributes, num_ws, source):
    """Every attribute's layer ranges (its own and its tuned ones) within [0, num_ws]; ``source`` says where
    num_ws comes from."""
    for name, attribute in attributes.items():
        ranges = [(f"attributes.{name}.layers", attribute.layers)] + \
            [(f"attributes.{name}.tuned.{tag}.{method}.layers", setting["layers"])
             for tag, methods in attribute.tuned.items() for method, setting in methods.items()]
        for key, layers in ranges:
            if layers is not None and not is_layer_range(*layers, num_ws):
                r.fail(key, f"{list(layers)} reaches past the {num_ws} W+ layers of {source} (hi <= {num_ws})")


def check_compatible(generator, classifier, config, generator_path, model_dir, check_layers=True,
                     allow_other_generator=False):
    """Check that a generator, a classifier and a config belong together; UserError naming the files otherwise.

    The generator file must be the one the classifier was trained on, when the model directory records it
    (:func:`gradctrl.generators.check_trained_generator`; ``allow_other_generator``: a warning instead); the
    classifier must take the generator's w (same width); the config's ``num_ws``, layer ranges (unless
    ``check_layers`` is False: a flag overrides them) and top-k counts must fit the generator.
    """
    if generator.w_dim != classifier.w_dim:
        raise UserError(f"--generator '{generator_path}': its w has {generator.w_dim} channels but the classifier "
                        f"in '{model_dir}' takes {classifier.w_dim}")
    check_trained_generator(generator_path, model_dir, allow_other_generator)
    check_against_generator(config, generator.num_ws, generator.w_dim, check_layers)


def check_against_generator(config, num_ws, w_dim, check_layers=True):
    """Check what depends on the generator: W+ size, layer ranges within [0, num_ws], top-k within [0, w_dim]."""
    r = _Reader(config.path)
    if config.generator.num_ws is not None and config.generator.num_ws != num_ws:
        r.fail("generator.num_ws", f"is {config.generator.num_ws} but the generator has {num_ws} W+ layers")
    if check_layers:
        _check_layers(r, config.attributes, num_ws, "the generator")
    for name, attribute in config.attributes.items():
        excludes = [(f"attributes.{name}.exclude", attribute.exclude)] + \
            [(f"attributes.{name}.tuned.{tag}.{method}.exclude", setting.get("exclude", {}))
             for tag, methods in attribute.tuned.items() for method, setting in methods.items()]
        for key, exclude in excludes:
            for other, k in exclude.items():
                if not is_top_k(k, w_dim):
                    r.fail(f"{key}.{other}", f"top-k {k} exceeds the latent width {w_dim}")
