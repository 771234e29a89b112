"""The edit methods and the edit cases: the one registry manipulate.py, evaluate.py, figures and the demo use.

An **edit case** (:class:`EditCase`) is one edit of one attribute: +1 or -1 for a binary attribute, towards
class c for a K-class one, with its exclusion, number and length of steps and W+ layers. It carries its
label (``+1``, ``-1``, ``to <class name>``: tables, figures, summaries) and its file tag (``positive``,
``negative``, the class name made file-safe, or ``class<c>`` without names: file and array names).

An **edit method** is one function, registered by name with :func:`register`::

    method(context: EditContext, w: np.ndarray (N, w_dim), case: EditCase) -> np.ndarray (N, steps, w_dim)

returning the edited w after each step (the start excluded). Registered here, in the paper's order:

- ``gradctrl_exclude``: GradCtrl, masking the case's excluded channels (:mod:`gradctrl.edit.editing`);
- ``gradctrl``: GradCtrl without exclusion;
- ``interfacegan_cond``: InterFaceGAN conditioned on the case's excluded attributes (their top-k counts do
  not apply: a linear direction has no channels to mask);
- ``interfacegan``: the SVM normal of the attribute's selected samples;
- ``ganspace``: the PCA component of w most correlated with the attribute's score.

A method registered with ``exclusion=True`` receives the case's exclusion (and evaluation skips it for an
attribute with none); every other method receives the case without it. ``needs_data``: the method is
fitted on a data directory (``context.data()``); ``gradient``: it follows the classifier's gradient (a step
can then be zero: :func:`zero_gradient_cause`). :func:`edit_latents` runs a method, checks its output and
counts the steps that left a latent in place, the one place that count is made.
The baselines' math is in :mod:`gradctrl.edit.baselines` (pure array functions); their adapters to a data
directory are here.
"""
import dataclasses
import re

import numpy as np

from ..data.datadir import read_data_dir
from ..data.selection import EMPTY_CLASS_FIX, missing_classes
from ..errors import UserError
from . import baselines
from .editing import edit_trajectory


@dataclasses.dataclass(frozen=True)
class EditCase:
    """One edit of one attribute.

    ``direction`` +1 / -1 (a K-class edit goes +1 towards ``target_class``, else None); ``label`` names it
    for people, ``tag`` for files; ``exclude`` {attribute: top-k}; ``steps`` and ``step_size`` (L2 length of
    a step); ``layers`` (lo, hi): the W+ layers receiving the edit.
    """

    attribute: str
    direction: int
    target_class: int | None
    label: str
    tag: str
    exclude: dict = dataclasses.field(default_factory=dict)
    steps: int = 9
    step_size: float = 4 / 9
    layers: tuple | None = None


def edit_cases(attribute, num_classes, class_names=None, **settings):
    """The edits of an attribute -> [EditCase]: binary (num_classes 1) +1 then -1, else one towards each class.

    ``class_names``: K names for the labels (default "class c"); ``settings``: the EditCase fields
    ``exclude``, ``steps``, ``step_size``, ``layers`` shared by every case.
    """
    if num_classes == 1:
        return [EditCase(attribute, 1, None, "+1", "positive", **settings),
                EditCase(attribute, -1, None, "-1", "negative", **settings)]
    names = list(class_names) if class_names else [f"class {c}" for c in range(num_classes)]
    tags = [re.sub(r"[^A-Za-z0-9.-]+", "-", name).strip("-.") for name in names] if class_names else []
    if len(set(tags)) != num_classes or not all(tags) or {"positive", "negative"} & set(tags):
        tags = [f"class{c}" for c in range(num_classes)]
    return [EditCase(attribute, 1, c, f"to {names[c]}", tags[c], **settings) for c in range(num_classes)]


def config_cases(config, attribute, num_classes, num_ws, steps=None, step_size=None, layers=None, exclude=None):
    """The edits of ``attribute`` with the config's defaults ([attributes.NAME]: exclusion, steps, step size,
    layers, class names; an attribute the config does not name: the defaults of a table without keys, every
    W+ layer); ``steps`` / ``step_size`` / ``layers`` (lo, hi) / ``exclude`` ({attribute: top-k}), when given,
    override them. The one place an edit's defaults are resolved (manipulate, figures, evaluate, tune)."""
    table = config.attribute(attribute)
    exclude = table.exclude if exclude is None else exclude
    return edit_cases(attribute, num_classes, table.class_names, exclude=dict(exclude),
                      steps=steps or table.steps, step_size=step_size or table.step_size,
                      layers=tuple(layers or table.layers or (0, num_ws)))


def method_case(case, method, tuned):
    """The case ``method`` runs: ``case`` with the W+ layers and exclusion tune.py chose for this edit and
    method, when ``tuned`` ({attribute: {tag: {method: {"layers": (lo, hi)[, "exclude": {...}]}}}}, the
    config's ``[attributes.NAME.tuned]`` tables) has them; else ``case`` itself."""
    setting = (tuned or {}).get(case.attribute, {}).get(case.tag, {}).get(method)
    if setting is None:
        return case
    return dataclasses.replace(case, layers=tuple(setting["layers"]), exclude=dict(setting.get("exclude", case.exclude)))


def config_tuned(config):
    """The config's tuned settings of every attribute -> {attribute: {tag: {method: setting}}} (see :func:`method_case`)."""
    return {name: table.tuned for name, table in config.attributes.items() if table.tuned}


@dataclasses.dataclass
class EditContext:
    """What an edit method may use: the classifier, the generator (or None), a data directory path (or None)
    for methods fitted on one, and ``ganspace_components`` (GANSpace searches that many leading components).

    The data directory is read once, on first use; baseline directions are fitted once per attribute and
    exclusion.
    """

    classifier: object
    generator: object = None
    data_dir: str | None = None
    ganspace_components: int = 20
    _data: object = dataclasses.field(default=None, repr=False)
    _directions: dict = dataclasses.field(default_factory=dict, repr=False)

    def data(self):
        """The :class:`gradctrl.data.datadir.DataDir` at ``data_dir``, read and checked against the classifier."""
        if self._data is None:
            if not self.data_dir:
                raise UserError("this edit method needs --data_dir: the data directory of prepare_data.py, whose "
                                "selected samples and scores it is fitted on")
            data = read_data_dir(self.data_dir)
            if data.w_dim != self.classifier.w_dim:
                raise UserError(f"--data_dir '{self.data_dir}' holds latents of width {data.w_dim}, but the "
                                f"classifier takes {self.classifier.w_dim}")
            self._data = data
        return self._data

    def check_class_counts(self, names, where=None):
        """UserError (prefixed by ``where``) when the data directory and the classifier disagree on the class
        count of an attribute in ``names`` that the classifier has."""
        for name in names:
            found, expected = self.data().num_classes(name), self.classifier.num_classes.get(name)
            if expected is not None and found != expected:
                raise UserError(f"{where + ': ' if where else ''}attribute '{name}' has {found} score column(s) in "
                                f"--data_dir but {expected} in the classifier: pass the data directory the "
                                "classifier was trained on")

    def directions(self, baseline, attribute, exclude=()):
        """The unit directions (K', w_dim) of a baseline for ``attribute`` (see :func:`baseline_directions`);
        UserError when the data directory and the classifier disagree on a class count it uses."""
        key = (baseline, attribute, tuple(exclude))
        if key not in self._directions:
            self.check_class_counts((attribute, *exclude))
            self._directions[key] = baseline_directions(baseline, self.data(), attribute, list(exclude),
                                                        self.ganspace_components)
        return self._directions[key]


@dataclasses.dataclass(frozen=True)
class Method:
    """A registered edit method: its name, its title in tables and plots, its function and what it needs."""

    name: str
    title: str
    edit: object
    exclusion: bool = False
    needs_data: bool = False
    gradient: bool = False
    baseline: str | None = None
    exclusion_variant: str | None = None

    def fixed_directions(self, context, case):
        """The fixed unit directions (K', w_dim) float32 this method walks for ``case`` (InterFaceGAN's normals,
        conditioned when it runs with the case's exclusion; GANSpace's components), or None for a method with
        no ``baseline`` (GradCtrl follows a gradient)."""
        if self.baseline is None:
            return None
        return context.directions(self.baseline, case.attribute, case.exclude if self.exclusion else ())


REGISTRY = {}


def register(name, title, exclusion=False, needs_data=False, gradient=False, baseline=None, exclusion_variant=None):
    """Decorator registering ``method(context, w, case) -> (N, steps, w_dim)`` under ``name``.

    ``baseline``: the name in :data:`BASELINES` whose fixed directions the method walks (None: it has none);
    ``exclusion_variant``: the registered name that runs this method with an exclusion (``gradctrl`` ->
    ``gradctrl_exclude``), used by :func:`exclusion_variant`.
    """
    def decorate(function):
        if name in REGISTRY:
            raise ValueError(f"edit method '{name}' is registered twice")
        REGISTRY[name] = Method(name, title, function, exclusion, needs_data, gradient, baseline, exclusion_variant)
        return function
    return decorate


def zero_gradient_cause(name, case):
    """Why a step of method ``name`` on ``case`` can leave a latent in place, in words, or None for a method
    that follows no gradient (a baseline walks a fixed direction)."""
    if not REGISTRY[name].gradient:
        return None
    saturated = "the classifier's sigmoid or softmax saturated (its probability is 0 or 1 in float32)"
    if REGISTRY[name].exclusion and case.exclude:
        return f"the exclusion masked every channel the gradient uses, or {saturated}"
    return saturated


def stall_note(name, case, stalled, made):
    """What it means that ``stalled`` of the ``made`` (latent, step) pairs of method ``name`` on ``case`` left a
    latent in place, and what to do about it, in one sentence; None without a stall or for a method that
    follows no gradient. No registered method follows the logit, so the fixes are the step and the mask."""
    cause = zero_gradient_cause(name, case)
    if not stalled or cause is None:
        return None
    fixes = "a smaller step (--step_size) or fewer steps (--steps), so the edit ends before the probability is 0 or 1"
    if REGISTRY[name].exclusion and case.exclude:
        fixes += ", or fewer masked channels (a smaller top-k: --top_channels or the config's exclude table)"
    return (f"{stalled} of {made} steps ({100 * stalled / made:.0f} %) left a latent unchanged: {cause}, so its "
            f"gradient is 0 and those latents stopped moving before the last step; try {fixes}")


def get_method(name, where="--method"):
    """The registered :class:`Method` called ``name``; UserError naming ``where`` and the known ones otherwise."""
    if name not in REGISTRY:
        raise UserError(f"{where}: unknown method '{name}' (known: {', '.join(REGISTRY)})")
    return REGISTRY[name]


@dataclasses.dataclass(frozen=True)
class MethodEdit:
    """A registered method's edit of a batch (GradCtrl's own, with masks, is :class:`gradctrl.edit.editing.MaskedEdit`): ``traj`` (N, steps, w_dim) float32 and ``zero_gradient_steps``, the number
    of (latent, step) pairs that left the latent exactly where it was (a zero masked gradient)."""

    traj: np.ndarray
    zero_gradient_steps: int


def edit_latents(name, context, w, case):
    """Run method ``name`` on w (N, w_dim) for one case -> :class:`MethodEdit`.

    The case reaches the method with its exclusion only when the method is registered with ``exclusion``.
    """
    method = REGISTRY[name]
    if not method.exclusion:
        case = dataclasses.replace(case, exclude={})
    w = np.asarray(w, np.float32)
    traj = np.asarray(method.edit(context, w, case), np.float32)
    expected = (len(w), case.steps, w.shape[1])
    if traj.shape != expected:
        raise ValueError(f"edit method '{name}' returned shape {traj.shape}, expected {expected}")
    previous = np.concatenate([w[:, None], traj[:, :-1]], axis=1)
    return MethodEdit(traj, int(np.all(traj == previous, axis=2).sum()))


@register("gradctrl_exclude", "GradCtrl (exclusion)", exclusion=True, gradient=True)
def gradctrl_exclude(context, w, case):
    """GradCtrl: masked-gradient steps on the classifier, masking each excluded attribute's top-k channels."""
    return edit_trajectory(context.classifier, w, case.attribute, case.direction, case.target_class,
                           case.exclude, case.steps, case.step_size)


register("gradctrl", "GradCtrl (no exclusion)", gradient=True, exclusion_variant="gradctrl_exclude")(gradctrl_exclude)


@register("interfacegan_cond", "InterFaceGAN (conditional)", exclusion=True, needs_data=True, baseline="interfacegan")
def interfacegan(context, w, case):
    """InterFaceGAN: walk the SVM normal of the attribute's selected samples in ``context.data()``, projected
    orthogonal to the excluded attributes' normals when the case has an exclusion."""
    directions = context.directions("interfacegan", case.attribute, case.exclude)
    return baselines.baseline_trajectory(directions, w, case.direction, case.target_class, case.steps,
                                         case.step_size)


register("interfacegan", "InterFaceGAN", needs_data=True, baseline="interfacegan",
         exclusion_variant="interfacegan_cond")(interfacegan)


@register("ganspace", "GANSpace", needs_data=True, baseline="ganspace")
def ganspace(context, w, case):
    """GANSpace: walk the PCA component of the data directory's w most correlated with the attribute's score
    (per class for a K-class attribute)."""
    directions = context.directions("ganspace", case.attribute)
    return baselines.baseline_trajectory(directions, w, case.direction, case.target_class, case.steps,
                                         case.step_size)


def exclusion_variant(name, exclude):
    """The method manipulate.py runs for ``--method name``: with a non-empty exclusion a method that has an
    exclusion variant (``gradctrl`` -> ``gradctrl_exclude``, ``interfacegan`` -> ``interfacegan_cond``) runs
    as that variant, so the exclusion given applies."""
    method = REGISTRY[name]
    return method.exclusion_variant if exclude and method.exclusion_variant else name


# --- baseline adapters: a data directory -> the pure functions of gradctrl.edit.baselines --------------------

BASELINES = ("interfacegan", "ganspace")


def method_directions(name, context, case):
    """The fixed unit directions (K', w_dim) float32 that method ``name`` walks for ``case`` (InterFaceGAN's
    normals, conditioned when it runs with the case's exclusion; GANSpace's components), or None for a method
    that has none (GradCtrl follows a gradient)."""
    return REGISTRY[name].fixed_directions(context, case)


def baseline_directions(baseline, data, attribute, exclude=(), ganspace_components=20, ganspace_index=None, seed=0):
    """Unit edit directions of a baseline for ``attribute``: (K', w_dim), K' = 1 binary, else K.

    baseline: "interfacegan" (conditional on the attributes named in ``exclude`` when it is not empty) or
    "ganspace" (``exclude`` unused: PCA directions know no attributes). data: the
    :class:`gradctrl.data.datadir.DataDir` of selected samples and scores. Row 0 of a binary attribute raises
    its score; row c of a K-class attribute leads towards class c.
    """
    if baseline == "interfacegan":
        return interfacegan_from_data(data, attribute, tuple(exclude), seed=seed)
    if baseline == "ganspace":
        return ganspace_from_data(data, attribute, ganspace_components, ganspace_index)
    raise UserError(f"unknown baseline method '{baseline}' (known: {', '.join(BASELINES)})")


def interfacegan_from_data(data, attribute, condition_on=(), C=1.0, seed=0):
    """InterFaceGAN directions of ``attribute`` from a data directory.

    Fits on the attribute's training split of selected samples and their labels, exactly the samples its
    GradCtrl branch learns from. ``condition_on``: names of attributes whose normals (every class's, for a
    K-class one) are projected out (conditional InterFaceGAN); empty for the plain method. Returns
    (K', w_dim) float32 unit rows, K' = 1 for a binary attribute (toward the high score), else K (toward class c).
    """
    def normals(name):
        indices = np.asarray(_split(data, name)["train"], np.int64)
        empty = missing_classes(data.labels[name][indices], data.num_classes(name))
        if empty:
            raise UserError(f"attribute '{name}' has no selected training sample of class {empty[0]} in the data "
                            f"directory, so InterFaceGAN has no boundary to fit: {EMPTY_CLASS_FIX}")
        return baselines.interfacegan_normals(data.latents[indices], data.labels[name][indices],
                                              data.num_classes(name), C, seed)

    rows = normals(attribute)
    conditions = [normals(name) for name in condition_on if name != attribute]
    if not conditions:
        return rows
    stacked = np.concatenate(conditions)
    return np.stack([baselines.condition_direction(row, stacked) for row in rows])


def ganspace_from_data(data, attribute, n_components=20, index=None):
    """GANSpace directions of ``attribute`` from a data directory: PCA of all its sampled w.

    The data directory's w are truncated (w_avg + psi (w - w_avg)), a uniform shrink that leaves the principal
    components unchanged. Searches the ``n_components`` leading components (or takes ``index``) for each
    score column. Returns (K', w_dim) float32 unit rows, as :func:`interfacegan_from_data`.
    """
    mean, components, _ = baselines.pca_components(data.latents, n_components)
    scores = np.asarray(data.scores[_known(data, attribute)], np.float64).reshape(len(data.latents), -1)
    return np.stack([baselines.ganspace_direction(data.latents, scores[:, c], mean, components, index)[0]
                     for c in range(scores.shape[1])])


def _known(data, attribute):
    """``attribute`` if the data directory scored it, else UserError listing what it has."""
    if attribute not in data.scores:
        raise UserError(f"the data directory has no scores for attribute '{attribute}' "
                        f"(it has {', '.join(sorted(data.scores))})")
    return attribute


def _split(data, attribute):
    """The train/val split of ``attribute`` in a data directory, or UserError."""
    if _known(data, attribute) not in data.splits:
        raise UserError(f"the data directory has no selected samples for attribute '{attribute}'")
    return data.splits[attribute]
