"""Linear editing baselines the paper compares against: InterFaceGAN and GANSpace directions in W.

Every function is pure (arrays in, arrays out). A baseline edit walks a straight line from each w along a
unit direction, ``steps`` steps of ``step_size`` each, so its trajectory has the shape and path length of
:func:`gradctrl.editing.edit_trajectory` ((N, steps, w_dim); 9 steps of 4/9 = path length 4 by default) and
goes into the same W+ layers: the methods differ only in the direction they walk.

- InterFaceGAN (Shen et al., CVPR 2020): the unit normal of a linear SVM separating the attribute's
  selected samples (the same high/low-score samples the GradCtrl classifier learns from), pointing to the
  high-score side; for a K-class attribute one normal per class, one-vs-rest. The conditional variant
  projects out the normals of the excluded attributes, so moving along it leaves their SVM scores unchanged.
- GANSpace (Harkonen et al., NeurIPS 2020): principal components of sampled w; the edit uses the component
  whose coordinate correlates most with the attribute's score (sign chosen to raise it), or one by index.
"""
import numpy as np

from .errors import UserError

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


def interfacegan_from_data(data, attribute, condition_on=(), C=1.0, seed=0):
    """InterFaceGAN directions of ``attribute`` from a data directory (:class:`gradctrl.datadir.DataDir`).

    Fits on the attribute's training split of selected samples and their labels, exactly the samples its
    GradCtrl branch learns from. ``condition_on``: names of attributes whose normals (every class's, for a
    K-class one) are projected out (conditional InterFaceGAN); empty for the plain method. Returns
    (K', w_dim) float32 unit rows, K' = 1 for a binary attribute (toward the high score), else K (toward class c).
    """
    def normals(name):
        indices = np.asarray(_split(data, name)["train"], np.int64)
        return interfacegan_normals(data.latents[indices], data.labels[name][indices],
                                    data.num_classes(name), C, seed)

    rows = normals(attribute)
    conditions = [normals(name) for name in condition_on if name != attribute]
    if not conditions:
        return rows
    stacked = np.concatenate(conditions)
    return np.stack([condition_direction(row, stacked) for row in rows])


def ganspace_from_data(data, attribute, n_components=20, index=None):
    """GANSpace directions of ``attribute`` from a data directory: PCA of all its sampled w.

    The data directory's w are truncated (w_avg + psi (w - w_avg)), a uniform shrink that leaves the principal
    components unchanged. Searches the ``n_components`` leading components (or takes ``index``) for each
    score column. Returns (K', w_dim) float32 unit rows, as :func:`interfacegan_from_data`.
    """
    mean, components, _ = pca_components(data.latents, n_components)
    scores = np.asarray(data.scores[_known(data, attribute)], np.float64).reshape(len(data.latents), -1)
    return np.stack([ganspace_direction(data.latents, scores[:, c], mean, components, index)[0]
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


BASELINE_METHODS = ("interfacegan", "ganspace")


def baseline_directions(method, data, attribute, exclude=(), ganspace_components=20, ganspace_index=None, seed=0):
    """Unit edit directions of a baseline method for ``attribute``: (K', w_dim), K' = 1 binary, else K.

    method: "interfacegan" (conditional on the attributes named in ``exclude`` when it is not empty) or
    "ganspace" (``exclude`` unused: PCA directions know no attributes). data: the
    :class:`gradctrl.datadir.DataDir` of selected samples and scores. Row 0 of a binary attribute raises
    its score; row c of a K-class attribute leads towards class c.
    """
    if method == "interfacegan":
        return interfacegan_from_data(data, attribute, tuple(exclude), seed=seed)
    if method == "ganspace":
        return ganspace_from_data(data, attribute, ganspace_components, ganspace_index)
    raise UserError(f"unknown baseline method '{method}' (known: {', '.join(BASELINE_METHODS)})")


def baseline_trajectory(directions, w, direction=+1, target_class=None, steps=9, step_size=4 / 9):
    """A baseline edit: the latents after each step along row 0 (binary) or row ``target_class`` of ``directions``.

    directions: (K', w_dim) from :func:`baseline_directions`; w: (N, w_dim); direction: +1 or -1 (a K-class
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


def _method_data(context, method):
    """The data directory a baseline edit method is fitted on (manipulate.py's ``--data_dir``), read and checked."""
    from .datadir import read_data_dir

    if not context.data_dir:
        raise UserError(f"--method {method} needs --data_dir: the data directory of prepare_data.py, whose "
                        "selected samples and scores the baseline is fitted on")
    data = read_data_dir(context.data_dir)
    if data.w_dim != context.classifier.w_dim:
        raise UserError(f"--data_dir '{context.data_dir}' holds latents of width {data.w_dim}, but the edited "
                        f"latents have width {context.classifier.w_dim}")
    return data


def interfacegan_method(context, w, request):
    """manipulate.py ``--method interfacegan``: the edit method of :mod:`gradctrl.manipulation`'s METHODS.

    Fits the SVM on ``context.data_dir`` for ``request.attribute``; with a non-empty ``request.exclude`` (the
    --exclude flag or the config's default) it is the conditional variant, orthogonal to the normals of the
    excluded attributes (their top-k counts do not apply: a linear direction has no channels to mask).
    w: (N, w_dim) -> (N, steps, w_dim).
    """
    directions = baseline_directions("interfacegan", _method_data(context, "interfacegan"), request.attribute,
                                     list(request.exclude))
    return baseline_trajectory(directions, w, request.direction, request.target_class, request.steps,
                               request.step_size)


def ganspace_method(context, w, request):
    """manipulate.py ``--method ganspace``: the PCA component of the data directory's w most correlated with
    the attribute's score (per class for a K-class attribute), walked like every other method. w: (N, w_dim)
    -> (N, steps, w_dim)."""
    directions = baseline_directions("ganspace", _method_data(context, "ganspace"), request.attribute)
    return baseline_trajectory(directions, w, request.direction, request.target_class, request.steps,
                               request.step_size)
