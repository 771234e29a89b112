"""The disentanglement curves of an edit and their summary at matched target change (pure numpy).

An edit of N held-out latents walks S steps; step 0 is the original. Every attribute's score is measured at
every step: scores[attr] is (N, S + 1) for a one-column score, (N, S + 1, K) for a K-column one. Changes
are expressed in units of each score column's standard deviation over the held-out originals, so that
attributes on different scales (a probability, a brightness) are comparable:

- target change at step s: the mean over latents of sign * (score_t[s] - score_t[0]) / std_t, for the
  edited attribute's score column t (the class edited towards, for a K-class attribute); sign = -1 for an
  edit in the -1 direction, so a successful edit always has a rising target curve;
- non-target change at step s: for every other attribute, the mean over latents (and over its columns) of
  |score[s] - score[0]| / std, then the mean over those attributes;
- identity drift at step s: the mean absolute difference (0-255) between the step's uint8 image and the
  original's, over latents, pixels and channels.

A method is summarised by its non-target change and identity drift at the point of its curve where the
target change first reaches a level (0.5, 1, 2 std), linearly interpolated between the two steps around
it; ``None`` (not reached) when the target curve never gets there.
"""
import numpy as np

from ..errors import UserError

LEVELS = (0.5, 1.0, 2.0)


def score_stds(original_scores):
    """Standard deviation of every score column over the originals: {attr: (N,) or (N, K)} -> {attr: float or (K,)}.

    A constant column (std 0) cannot be a unit: UserError naming the attribute.
    """
    stds = {}
    for attr, scores in original_scores.items():
        std = np.std(np.asarray(scores, np.float64), axis=0)
        if np.any(~np.isfinite(std)) or np.any(std <= 0):
            raise UserError(f"the score of attribute '{attr}' is constant over the held-out originals: "
                            "it cannot measure change (check its scorer, or use more --n_samples)")
        stds[attr] = std
    return stds


def relative_changes(scores, std):
    """Per latent and step, the change from step 0 in units of ``std``.

    scores: (N, S + 1) or (N, S + 1, K); std: float or (K,). Returns float64 of the same shape; step 0 is 0.
    """
    scores = np.asarray(scores, np.float64)
    return (scores - scores[:, :1]) / np.asarray(std, np.float64)


def target_curve(scores, std, sign=1, column=None):
    """Mean signed target change per step, (S + 1,) in std units.

    scores: the target attribute's (N, S + 1) scores, or (N, S + 1, K) with ``column`` the class edited
    towards (std then (K,)); sign: +1 or -1, the edit direction (the change is multiplied by it).
    """
    changes = relative_changes(scores, std)
    if changes.ndim == 3:
        if column is None:
            raise UserError("a K-class target score needs the column (class) the edit goes towards")
        changes = changes[:, :, column]
    return sign * changes.mean(axis=0)


def attribute_abs_change(scores, std):
    """Mean absolute change of one attribute per step, (S + 1,) in std units (averaged over latents and columns)."""
    changes = np.abs(relative_changes(scores, std))
    return changes.reshape(changes.shape[0], changes.shape[1], -1).mean(axis=(0, 2))


def nontarget_curve(scores, stds, target):
    """Mean absolute change of every attribute but ``target``, averaged over those attributes: (S + 1,).

    scores: {attr: (N, S + 1) or (N, S + 1, K)}; stds: {attr: float or (K,)}. UserError when there is no
    other attribute to measure.
    """
    others = [attr for attr in scores if attr != target]
    if not others:
        raise UserError(f"no attribute besides '{target}' is scored: non-target change needs at least two attributes")
    return np.mean([attribute_abs_change(scores[attr], stds[attr]) for attr in others], axis=0)


def pixel_drift(images):
    """Identity drift per latent and step: mean |image[s] - image[0]| (0-255) over pixels and channels.

    images: (N, S + 1, H, W, C) uint8 -> (N, S + 1) float64; the drift curve is its mean over latents.
    """
    images = np.asarray(images)
    difference = np.abs(images.astype(np.int16) - images[:, :1].astype(np.int16))
    return difference.reshape(images.shape[0], images.shape[1], -1).mean(axis=2)


def crossing(target, level):
    """Fractional step where the ``target`` curve (S + 1,) first reaches ``level``; None if it never does.

    Between steps s - 1 and s (target[s - 1] < level <= target[s]) the position is s - 1 + t with
    t = (level - target[s - 1]) / (target[s] - target[s - 1]); a level at or below target[0] is step 0.
    """
    target = np.asarray(target, np.float64)
    reached = np.nonzero(target >= level)[0]
    if len(reached) == 0:
        return None
    s = int(reached[0])
    if s == 0:
        return 0.0
    return s - 1 + (level - target[s - 1]) / (target[s] - target[s - 1])


def value_at(curve, position):
    """``curve`` (S + 1,) linearly interpolated at a fractional step; None passes through (not reached)."""
    if position is None:
        return None
    return float(np.interp(position, np.arange(len(curve)), np.asarray(curve, np.float64)))


def summarise(target, others, levels=LEVELS):
    """For each level, every curve in ``others`` ({name: (S + 1,)}) at the target curve's first crossing.

    Returns {level: {name: float or None}} (None: the target curve never reaches the level).
    """
    return {level: {name: value_at(curve, crossing(target, level)) for name, curve in others.items()}
            for level in levels}


# --- confidence intervals over latents (bootstrap) -------------------------------------------------------

# Seed-sequence tag of the bootstrap's random stream (distinct from the latent and split streams).
BOOTSTRAP_STREAM = 0x424F4F54


def bootstrap_weights(n, n_boot, seed):
    """Bootstrap resamples of n latents as averaging weights -> (n_boot, n) float64.

    Row b holds, per latent, how often resample b drew it (with replacement, n draws) divided by n, so
    ``weights @ x`` is every resample's mean of a per-latent quantity x (n, ...). Fixed by ``seed``.
    """
    rng = np.random.default_rng([int(seed), BOOTSTRAP_STREAM])
    return rng.multinomial(n, np.full(n, 1.0 / n), size=int(n_boot)).astype(np.float64) / n


def crossings(targets, level):
    """:func:`crossing` of every row: targets (B, S + 1) -> (B,) fractional steps, NaN where never reached."""
    targets = np.asarray(targets, np.float64)
    above = targets >= level
    reached = above.any(axis=1)
    s = np.argmax(above, axis=1)                                   # first step at or above the level
    previous = targets[np.arange(len(targets)), np.maximum(s - 1, 0)]
    current = targets[np.arange(len(targets)), s]
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = np.where(s > 0, s - 1 + (level - previous) / (current - previous), 0.0)
    return np.where(reached, inside, np.nan)


def values_at(curves, positions):
    """:func:`value_at` of every row: curves (B, S + 1) at fractional steps (B,) -> (B,), NaN passes through."""
    curves = np.asarray(curves, np.float64)
    positions = np.asarray(positions, np.float64)
    known = np.isfinite(positions)
    where = np.where(known, positions, 0.0)
    low = np.minimum(np.floor(where).astype(np.int64), curves.shape[1] - 1)
    high = np.minimum(low + 1, curves.shape[1] - 1)
    rows = np.arange(len(curves))
    fraction = where - low
    values = curves[rows, low] * (1 - fraction) + curves[rows, high] * fraction
    return np.where(known, values, np.nan)


def interval(point, resampled, confidence=0.95):
    """(point, low, high) of a statistic: ``point`` its value on the latents themselves (NaN: not reached),
    ``resampled`` (B,) its values on the bootstrap resamples (NaN where a resample did not reach it); the
    interval is the percentile interval of the resamples that did, or (NaN, NaN) when none did."""
    resampled = np.asarray(resampled, np.float64)
    finite = resampled[np.isfinite(resampled)]
    if not np.isfinite(point) or len(finite) == 0:
        return float(point), float("nan"), float("nan")
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(point), float(low), float(high)
