"""Which samples each classifier learns from, as in the paper, and their seeded train/validation split.

With n = floor(p_perclass x N):

- binary attribute (scores (N,)): the n highest-scoring samples get label 1, the n lowest label 0;
- K-class attribute (scores (N, K)): for each class c, among the samples whose argmax is c, the n with
  the highest score for c (fewer when fewer samples have argmax c), label c.

Ties are broken by sample index (a stable sort), so the selection is a pure function of the scores.
"""
import math

import numpy as np

from ..errors import UserError

# Seed-sequence tag of the split's random stream (distinct from every latent sampling stream).
SPLIT_STREAM = 0x53504C54


EMPTY_CLASS_FIX = "sample more (--n_samples), use another scorer, or give the attribute fewer classes"


def missing_classes(labels, num_classes):
    """The classes no label names -> [int], ascending: of 0..K-1 for a K-class attribute, of 0 and 1 for a
    binary one (``num_classes`` 1). ``labels``: (M,) int, the selected samples' labels (-1s are ignored)."""
    present = set(np.asarray(labels).reshape(-1).tolist())
    return [c for c in range(max(num_classes, 2)) if c not in present]


def per_class_count(p_perclass, n_samples):
    """n = floor(p_perclass x n_samples), robust to binary rounding (0.29 x 100 gives 29, not 28)."""
    return int(math.floor(round(p_perclass * n_samples, 6)))


def select(scores, p_perclass, attribute="attribute"):
    """Select one attribute's training samples -> (indices (M,) int64 ascending, labels (M,) int64).

    ``scores``: (N,) for a binary attribute or (N, K) for K classes; ``p_perclass`` in (0, 0.5].
    ``attribute`` names it in errors. A selection that would be empty, or a class no sample has as its
    argmax, is a :class:`UserError`.
    """
    scores = np.asarray(scores)
    if scores.ndim not in (1, 2) or (scores.ndim == 2 and scores.shape[1] < 2):
        raise UserError(f"scores of '{attribute}' have shape {scores.shape}: expected (N,) or (N, K >= 2)")
    if not 0 < p_perclass <= 0.5:
        raise UserError(f"--p_perclass {p_perclass} is outside (0, 0.5]: it is the fraction of the samples "
                        "taken for each class")
    n_samples = scores.shape[0]
    n = per_class_count(p_perclass, n_samples)
    if n == 0:
        needed = 1 / n_samples if n_samples else float("inf")
        raise UserError(f"--p_perclass {p_perclass} selects no samples for attribute '{attribute}' "
                        f"(floor({p_perclass} x {n_samples}) = 0): raise it to at least {needed:.6g} "
                        "or sample more")
    if scores.ndim == 1:
        order = np.argsort(scores, kind="stable")
        indices = np.concatenate([order[:n], order[n_samples - n:]])
        labels = np.concatenate([np.zeros(n, np.int64), np.ones(n, np.int64)])
    else:
        winners = scores.argmax(axis=1)
        chosen, chosen_labels = [], []
        empty = missing_classes(winners, scores.shape[1])
        if empty:
            raise UserError(f"attribute '{attribute}': its scorer picks class {empty[0]} for none of the {n_samples} "
                            f"samples, so nothing can be learned about it: {EMPTY_CLASS_FIX}")
        for c in range(scores.shape[1]):
            members = np.flatnonzero(winners == c)
            best = members[np.argsort(-scores[members, c], kind="stable")[:n]]
            chosen.append(best)
            chosen_labels.append(np.full(len(best), c, np.int64))
        indices, labels = np.concatenate(chosen), np.concatenate(chosen_labels)
    order = np.argsort(indices, kind="stable")
    return indices[order].astype(np.int64), labels[order]


def label_array(scores, indices, labels):
    """The (N,) int64 labels stored in a data directory for one attribute.

    Binary: 1 / 0 for the selected high / low samples and -1 for the rest; K-class: the argmax of every
    sample's scores (the selected samples' labels are their argmax too).
    """
    scores = np.asarray(scores)
    if scores.ndim == 2:
        return scores.argmax(axis=1).astype(np.int64)
    full = np.full(scores.shape[0], -1, np.int64)
    full[indices] = labels
    return full


def split(indices, p_val, seed, labels=None):
    """Seeded train/validation split of one attribute's selection -> (train, val), int64 ascending.

    ``round(p_val x size)`` samples of each label group go to validation (one group when ``labels`` is
    None), chosen by a permutation drawn from ``seed``; ``p_val`` in [0, 1).
    """
    indices = np.asarray(indices, dtype=np.int64)
    if not 0 <= p_val < 1:
        raise UserError(f"--p_val {p_val} is outside [0, 1): it is the fraction of each selection kept for validation")
    groups = np.zeros(len(indices), np.int64) if labels is None else np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng([int(seed), SPLIT_STREAM])
    val = []
    for group in np.unique(groups):
        members = indices[groups == group]
        n_val = int(math.floor(p_val * len(members) + 0.5))
        val.append(members[rng.permutation(len(members))[:n_val]])
    val = np.sort(np.concatenate(val)) if val else np.zeros(0, np.int64)
    train = np.setdiff1d(indices, val)
    return train.astype(np.int64), val.astype(np.int64)
