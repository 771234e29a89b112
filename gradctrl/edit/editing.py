"""GradCtrl editing: follow a classifier branch's gradient in w, masking the channels other attributes use.

At every step, for each latent (a batch is edited at once; each latent exactly as the authors' per-latent
loop, since latents do not interact, the gradient of a probability summed over the batch is each latent's
own gradient):

1. g = d p_target / d w at the current w, where p_target is the branch's sigmoid probability, or the softmax
   probability of ``target_class`` for a K-class attribute;
2. for each excluded attribute with count k: its saliency |d p / d w| at the current w (for a K-class
   attribute, a channel's saliency is its largest |d p_c / d w| over the classes c); its k most salient
   channels are ``np.argsort(saliency)[-k:]`` (the authors' choice, ties included); k = 0 masks nothing;
3. g is zeroed on the union of those channels, normalised to unit L2 norm, and w += direction * step_size * g.

A latent whose masked gradient is exactly zero stays where it is for that step (the authors' code would
divide by zero): :func:`trace_edit` reports such steps in ``MaskedEdit.zero_gradient``; in a trajectory alone they
are the steps whose latent equals the previous one (every other step moves w by exactly ``step_size``).
"""
import dataclasses

import numpy as np

from ..errors import UserError
from ..options import check_int, check_number, is_top_k


@dataclasses.dataclass(frozen=True)
class MaskedEdit:
    """One GradCtrl edit of a batch with its masks (:func:`trace_edit`; a registered method's edit is a
    :class:`gradctrl.edit.methods.MethodEdit`): ``traj`` (N, steps, w_dim) float32, w after each step; ``kept``
    (N, steps, w_dim) bool, the gradient channels kept (not masked) by the step that produced ``traj[:, s]``;
    ``zero_gradient`` (N, steps) bool, steps where the masked gradient was exactly zero and w did not move."""

    traj: np.ndarray
    kept: np.ndarray
    zero_gradient: np.ndarray


def check_edit(clf, attribute, direction=+1, target_class=None, exclude=None, steps=9, step_size=4 / 9):
    """Check an edit request against a classifier; UserError naming the bad argument otherwise.

    Returns the exclusion as a dict {attribute: k} (empty for None).
    """
    if attribute not in clf.num_classes:
        raise UserError(f"unknown attribute '{attribute}': the classifier has {', '.join(clf.attributes)}")
    if direction not in (1, -1):
        raise UserError(f"direction must be +1 or -1, got {direction!r}")
    k_classes = clf.num_classes[attribute]
    if k_classes == 1 and target_class is not None:
        raise UserError(f"attribute '{attribute}' is binary: give no target_class (direction picks the side)")
    if k_classes > 1 and (isinstance(target_class, bool) or not isinstance(target_class, (int, np.integer))
                          or not 0 <= target_class < k_classes):
        raise UserError(f"attribute '{attribute}' has {k_classes} classes: target_class must be in "
                        f"[0, {k_classes - 1}], got {target_class!r}")
    exclude = dict(exclude or {})
    for name, k in exclude.items():
        if name == attribute:
            raise UserError(f"excluded attribute '{name}' is the edited attribute itself")
        if name not in clf.num_classes:
            raise UserError(f"excluded attribute '{name}' is unknown: the classifier has {', '.join(clf.attributes)}")
        if not is_top_k(k, clf.w_dim):
            raise UserError(f"top-k {k!r} for excluded attribute '{name}' must be an integer in [0, {clf.w_dim}] "
                            "(the latent width)")
    check_int(steps, "steps")
    check_number(step_size, "step_size", low=0, low_open=True)
    return exclude


def trace_edit(clf, w, attribute, direction=+1, target_class=None, exclude=None, steps=9, step_size=4 / 9):
    """Edit a batch of latents along ``attribute``'s masked gradient; see the module docstring.

    clf: :class:`gradctrl.classifier.model.LatentClassifier`; w: (N, w_dim) start latents; direction: +1 raises the
    target probability, -1 lowers it; target_class: class index for a K-class attribute (None for binary);
    exclude: {attribute: k channels masked}; steps, step_size: number and L2 length of the steps.
    Returns a :class:`MaskedEdit` (trajectory, kept-channel masks, zero-gradient steps).
    """
    # heavy (TensorFlow): imported on use, so commands start and refuse bad input without it
    import tensorflow as tf

    exclude = check_edit(clf, attribute, direction, target_class, exclude, steps, step_size)
    w = np.asarray(w, np.float32)
    if w.ndim != 2 or w.shape[1] != clf.w_dim:
        raise UserError(f"latents of shape {w.shape} do not fit the classifier, which takes (N, {clf.w_dim})")
    if not np.isfinite(w).all():
        raise UserError("latents contain NaN or infinite values")
    n, w_dim = w.shape
    masked = [(name, int(k)) for name, k in exclude.items() if k > 0]
    traj = np.empty((n, steps, w_dim), np.float32)
    kept = np.ones((n, steps, w_dim), bool)
    zero_gradient = np.zeros((n, steps), bool)
    rows = np.arange(n)[:, None]
    for s in range(steps):
        current = tf.constant(w)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(current)
            probs = clf.probabilities(current)
            target = probs[attribute] if target_class is None else probs[attribute][:, target_class]
            # Each output's sum over the batch: its gradient is every latent's own gradient.
            excluded = [[probs[name]] if clf.num_classes[name] == 1 else
                        [probs[name][:, c] for c in range(clf.num_classes[name])] for name, _ in masked]
        g = tape.gradient(target, current).numpy()
        for (name, k), outputs in zip(masked, excluded):
            # Saliency |d p / d w|; for a K-class attribute the largest over its classes.
            saliency = np.max([np.abs(tape.gradient(p, current).numpy()) for p in outputs], axis=0)
            kept[rows, s, np.argsort(saliency, axis=1)[:, w_dim - k:]] = False
        del tape
        g = np.where(kept[:, s], g, np.float32(0))
        norm = np.linalg.norm(g, axis=1, keepdims=True)
        zero_gradient[:, s] = norm[:, 0] == 0
        g = np.divide(g, norm, out=np.zeros_like(g), where=norm > 0)
        w = w + g * np.float32(direction) * np.float32(step_size)
        traj[:, s] = w
    return MaskedEdit(traj=traj, kept=kept, zero_gradient=zero_gradient)


def edit_trajectory(clf, w, attribute, direction=+1, target_class=None, exclude=None, steps=9, step_size=4 / 9):
    """The edited latents after each step: w (N, w_dim) -> (N, steps, w_dim) float32.

    Arguments as :func:`trace_edit`, which also returns the masks and the zero-gradient steps.
    """
    return trace_edit(clf, w, attribute, direction, target_class, exclude, steps, step_size).traj


def saliency(clf, w, attribute):
    """The saliency :func:`trace_edit` masks by: |d p / d w| of ``attribute`` at w (N, w_dim) -> (N, w_dim)
    float32; for a K-class attribute, per channel the largest |d p_c / d w| over its classes c. The
    attribute's top-k channels at a latent are ``np.argsort(saliency, axis=1)[:, -k:]``."""
    # heavy (TensorFlow): imported on use, so commands start and refuse bad input without it
    import tensorflow as tf

    current = tf.constant(np.asarray(w, np.float32))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(current)
        p = clf.probabilities(current)[attribute]
        outputs = [p] if clf.num_classes[attribute] == 1 else [p[:, c] for c in range(clf.num_classes[attribute])]
    result = np.max([np.abs(tape.gradient(o, current).numpy()) for o in outputs], axis=0)
    del tape
    return result
