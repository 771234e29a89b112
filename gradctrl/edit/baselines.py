"""Linear editing baselines the paper compares against: InterFaceGAN and GANSpace directions in W.

Every function is pure (arrays in, arrays out). A baseline edit walks a straight line from each w along a
unit direction, ``steps`` steps of ``step_size`` each, so its trajectory has the shape and path length of
:func:`gradctrl.edit.editing.edit_trajectory` ((N, steps, w_dim); 9 steps of 4/9 = path length 4 by default) and
goes into the same W+ layers: the methods differ only in the direction they walk.

- InterFaceGAN (Shen et al., CVPR 2020): the unit normal of a linear SVM separating the attribute's
  selected samples (the same high/low-score samples the GradCtrl classifier learns from), pointing to the
  high-score side; for a K-class attribute one normal per class, one-vs-rest. The conditional variant
  projects out the normals of the excluded attributes, so moving along it leaves their SVM scores unchanged.
- GANSpace (Harkonen et al., NeurIPS 2020): principal components of sampled w; the edit uses the component
  whose coordinate correlates most with the attribute's score (sign chosen to raise it), or one by index.

Their adapters to a data directory and the edit methods built on them are in :mod:`gradctrl.edit.methods`.
"""
import numpy as np

from ..errors import UserError

# Below this norm a direction is numerically zero (e.g. a target normal inside the span of the excluded ones).
_MIN_NORM = 1e-6


def _unit(vector, what):
    """``vector`` (w_dim,) scaled to unit L2 norm; UserError naming ``what`` when it is (numerically) zero."""
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(norm) or norm < _MIN_NORM:
        raise UserError(f"{what} is zero (norm {norm:.3g}): no direction to edit along")
    return (vector / norm).astype(np.float32)


def linear_trajectory(w, vector, direction=+1, steps=9, step_size=4 / 9):
    """Walk every latent along one unit direction.

    w: (N, w_dim) start latents; vector: (w_dim,) direction (normalised here to unit L2 norm);
    direction: +1 or -1. Returns (N, steps, w_dim) float32: row s is w + direction * step_size * (s + 1) * unit,
    i.e. the latent after each step, the start itself excluded (as edit_trajectory).
    """
    w = np.asarray(w, np.float32)
    if w.ndim != 2:
        raise UserError(f"latents must have shape (N, w_dim), got {w.shape}")
    unit = _unit(np.asarray(vector, np.float64).reshape(-1), "edit direction")
    if unit.shape[0] != w.shape[1]:
        raise UserError(f"edit direction has width {unit.shape[0]} but the latents have width {w.shape[1]}")
    if direction not in (1, -1):
        raise UserError(f"direction must be +1 or -1, got {direction!r}")
    distances = direction * step_size * np.arange(1, steps + 1, dtype=np.float64)       # (steps,)
    return (w[:, None, :] + distances[None, :, None] * unit[None, None, :]).astype(np.float32)


def svm_normal(latents, labels, C=1.0, seed=0):
    """Unit normal of a linear SVM (scikit-learn LinearSVC) separating labels 1 from labels 0.

    latents: (n, w_dim); labels: (n,) in {0, 1}, both classes present. Returns (w_dim,) float32, pointing
    to the label-1 side (the decision function grows along it).
    """
    # heavy (scikit-learn): imported on use, so commands start and refuse bad input without it
    from sklearn.svm import LinearSVC

    labels = np.asarray(labels).reshape(-1)
    present = set(np.unique(labels).tolist())
    if present != {0, 1}:
        raise UserError(f"a linear SVM needs samples of both labels 0 and 1, got labels {sorted(present)}")
    svm = LinearSVC(C=C, dual="auto", max_iter=20000, random_state=seed)
    svm.fit(np.asarray(latents, np.float64), labels)
    return _unit(svm.coef_[0], "the SVM normal")


def interfacegan_normals(latents, labels, num_classes, C=1.0, seed=0):
    """InterFaceGAN directions of one attribute: (1, w_dim) for a binary one, (K, w_dim) one-vs-rest for K classes.

    latents: (n, w_dim) the attribute's selected (training) samples; labels: (n,) int (binary: 1 = high-score
    group, 0 = low-score group; K-class: class index). num_classes: 1 (binary) or K >= 2. Row c is the unit
    normal separating class c from the rest (binary: high from low).
    """
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != len(latents):
        raise UserError(f"{len(latents)} latents but {len(labels)} labels")
    if num_classes == 1:
        return svm_normal(latents, labels, C, seed)[None, :]
    missing = sorted(set(range(num_classes)) - set(np.unique(labels).tolist()))
    if missing:
        raise UserError(f"no selected sample of class {missing[0]} (of {num_classes}): one-vs-rest needs every class")
    return np.stack([svm_normal(latents, (labels == c).astype(np.int64), C, seed) for c in range(num_classes)])


def condition_direction(vector, condition_normals):
    """Conditional InterFaceGAN: ``vector`` with its component in the span of ``condition_normals`` removed.

    vector: (w_dim,); condition_normals: (m, w_dim), any m >= 0 (linearly dependent rows allowed). Returns the
    unit (w_dim,) float32 direction orthogonal to every condition normal (InterFaceGAN's projection,
    generalised to any number of conditions by a least-squares projection onto their orthogonal complement).
    """
    vector = np.asarray(vector, np.float64).reshape(-1)
    normals = np.asarray(condition_normals, np.float64).reshape(-1, vector.shape[0])
    if len(normals):
        basis, singular, _ = np.linalg.svd(normals.T, full_matrices=False)       # columns span the conditions
        basis = basis[:, singular > _MIN_NORM * max(1.0, singular[0])]
        vector = vector - basis @ (basis.T @ vector)
    return _unit(vector, "the conditioned direction (the target normal lies in the span of the excluded normals)")


def pca_components(latents, n_components):
    """Principal components of sampled w (GANSpace's PCA, by SVD of the centred samples).

    latents: (n, w_dim), n >= 2. Returns (mean (w_dim,), components (n_components, w_dim) unit rows in
    order of decreasing variance, variances (n_components,) the variance of w along each). Signs are
    arbitrary; :func:`ganspace_direction` orients them.
    """
    latents = np.asarray(latents, np.float64)
    if latents.ndim != 2 or len(latents) < 2:
        raise UserError(f"PCA needs latents of shape (n >= 2, w_dim), got {latents.shape}")
    n_components = min(int(n_components), *latents.shape)
    mean = latents.mean(axis=0)
    _, singular, vt = np.linalg.svd(latents - mean, full_matrices=False)
    variances = singular[:n_components] ** 2 / (len(latents) - 1)
    return mean.astype(np.float32), vt[:n_components].astype(np.float32), variances.astype(np.float32)


def ganspace_direction(latents, scores, mean, components, index=None):
    """GANSpace edit direction for one attribute score.

    latents: (n, w_dim) sampled w; scores: (n,) the attribute's score of each (for a K-class attribute the
    target class's column); mean, components: from :func:`pca_components`. With ``index=None`` picks the
    component whose coordinate (w - mean) . c has the largest absolute Pearson correlation with the scores;
    otherwise takes component ``index``. Either way the sign makes the correlation positive (walking +1
    raises the score). Returns (unit direction (w_dim,) float32, chosen index, its correlation after the
    sign flip).
    """
    latents = np.asarray(latents, np.float64)
    scores = np.asarray(scores, np.float64).reshape(-1)
    if len(scores) != len(latents):
        raise UserError(f"{len(latents)} latents but {len(scores)} scores")
    coords = (latents - np.asarray(mean, np.float64)) @ np.asarray(components, np.float64).T    # (n, n_comp)
    coords = coords - coords.mean(axis=0)
    centred = scores - scores.mean()
    denominator = np.linalg.norm(coords, axis=0) * np.linalg.norm(centred)
    correlations = np.divide(coords.T @ centred, denominator, out=np.zeros(coords.shape[1]),
                             where=denominator > 0)
    if index is None:
        index = int(np.argmax(np.abs(correlations)))
    elif not 0 <= index < len(correlations):
        raise UserError(f"GANSpace component index {index} is outside [0, {len(correlations)})")
    sign = -1.0 if correlations[index] < 0 else 1.0
    return _unit(sign * np.asarray(components[index], np.float64), "the PCA component"), index, \
        float(sign * correlations[index])


def baseline_trajectory(directions, w, direction=+1, target_class=None, steps=9, step_size=4 / 9):
    """A baseline edit: the latents after each step along row 0 (binary) or row ``target_class`` of ``directions``.

    directions: (K', w_dim) unit rows (:func:`gradctrl.edit.methods.baseline_directions`); w: (N, w_dim); direction: +1 or -1 (a K-class
    edit goes +1 towards ``target_class``). Returns (N, steps, w_dim) float32, as edit_trajectory.
    """
    directions = np.asarray(directions)
    if target_class is None:
        row = 0
    elif not 0 <= int(target_class) < len(directions):
        raise UserError(f"target class {target_class} is outside [0, {len(directions)})")
    else:
        row = int(target_class)
    return linear_trajectory(w, directions[row], direction, steps, step_size)
