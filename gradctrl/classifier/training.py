"""The library layer's classifier training (behind ``train.py``; the GAN itself is trained by
:mod:`stylegan2.training`). Training the latent classifier: each branch learns only from its own attribute's
selected samples.

One epoch walks the union of every attribute's training samples in a seeded random order, in batches;
each branch's loss (binary cross-entropy on its sigmoid, or cross-entropy over its K classes) is the mean
over the batch rows that belong to its attribute's training split, and the summed loss takes one Adam step.
After each epoch every attribute's train and validation accuracy is measured. Each branch keeps the
weights of its own best validation epoch (the earliest, on ties); with shared layers, whose weights every
branch depends on, the whole model keeps the epoch of the best mean validation accuracy instead. An
attribute without validation samples (p_val = 0) keeps its last epoch; its validation accuracy is None.
"""
import numpy as np
from tqdm import tqdm

from ..errors import UserError
from ..options import check_int, check_number
from .model import LatentClassifier


def _check_inputs(latents, labels, splits, num_classes):
    """UserError unless the arrays fit together; returns latents as float32 and {attr: (train, val)} index arrays."""
    latents = np.asarray(latents)
    if latents.ndim != 2 or latents.shape[0] == 0 or not np.isfinite(latents).all():
        raise UserError(f"training latents must be a finite (N, w_dim) array, got shape {latents.shape}")
    n = latents.shape[0]
    indices = {}
    for attr, k in num_classes.items():
        if attr not in labels or attr not in splits:
            raise UserError(f"attribute '{attr}' has no labels or no train/val split in the data")
        y = np.asarray(labels[attr]).reshape(-1)
        if len(y) != n:
            raise UserError(f"attribute '{attr}': {len(y)} labels for {n} latents")
        parts = []
        for part in ("train", "val"):
            idx = np.asarray(splits[attr].get(part, []), np.int64).reshape(-1)
            if len(idx) == 0:
                if part == "val":
                    parts.append(idx)
                    continue
                raise UserError(f"attribute '{attr}' has no training samples: prepare more data "
                                "(larger n_samples or p_perclass)")
            if idx.min() < 0 or idx.max() >= n:
                raise UserError(f"attribute '{attr}': {part} index outside [0, {n})")
            values = y[idx]
            if values.min() < 0 or values.max() >= max(k, 2):
                raise UserError(f"attribute '{attr}': {part} labels must lie in [0, {max(k, 2) - 1}], "
                                f"got {values.min()}..{values.max()}")
            parts.append(idx)
        indices[attr] = tuple(parts)
    return latents.astype(np.float32), indices


def accuracy(probs, labels, k_classes):
    """Fraction of correct predictions: probs (n,) sigmoid (threshold 0.5) or (n, K) softmax (argmax)."""
    predicted = (probs > 0.5).astype(np.int64) if k_classes == 1 else np.argmax(probs, axis=1)
    return float(np.mean(predicted == labels))


def train_classifier(latents, labels, splits, num_classes, hidden_size=16, n_shared_layers=0, lr=1e-3,
                     batch_size=32, n_epochs=20, seed=0, progress=False):
    """Train a :class:`LatentClassifier` on labelled latents.

    latents: (N, w_dim); labels: {attr: (N,) int (binary: 1 = high-score group; K-class: class index),
    read only at the attribute's split indices}; splits: {attr: {"train": [idx], "val": [idx]}};
    num_classes: {attr: 1 or K}, in branch order. lr: Adam learning rate; seed fixes the initial weights
    and the batch order. progress: show a progress bar (stderr) with per-attribute accuracies.

    Returns (clf, metrics): metrics = {"epochs": [{"epoch", "train_loss", "train_accuracy",
    "val_accuracy"} with {attr: value} each], "best_epoch": {attr: epoch}, "best_val_accuracy": {attr: value},
    "n_train": {attr: n}, "n_val": {attr: n}}.
    """
    # heavy (Keras): imported on use, so commands start and refuse bad input without it
    import keras
    import tensorflow as tf

    attributes = list(num_classes)
    latents, indices = _check_inputs(latents, labels, splits, num_classes)
    check_int(batch_size, "batch_size")
    check_int(n_epochs, "n_epochs")
    check_number(lr, "the learning rate", low=0, low_open=True)
    clf = LatentClassifier(latents.shape[1], attributes, num_classes, hidden_size, n_shared_layers, seed=seed)

    # Rows of one epoch: every sample in some attribute's training split; per attribute a membership mask.
    union = np.unique(np.concatenate([indices[a][0] for a in attributes]))
    member = {a: np.isin(union, indices[a][0]).astype(np.float32) for a in attributes}
    targets = {a: np.where(member[a] > 0, np.asarray(labels[a]).reshape(-1)[union], 0) for a in attributes}

    optimizer = keras.optimizers.Adam(learning_rate=lr)
    variables = clf.model.trainable_variables
    optimizer.build(variables)

    def branch_losses(w, y, m):
        logits = clf.logits(w, training=True)
        losses = {}
        for a in attributes:
            if num_classes[a] == 1:
                per_row = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.cast(y[a], tf.float32), logits=logits[a])
            else:
                per_row = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(y[a], tf.int32),
                                                                         logits=logits[a])
            losses[a] = tf.reduce_sum(per_row * m[a]) / tf.maximum(tf.reduce_sum(m[a]), 1.0)
        return losses

    @tf.function
    def train_step(w, y, m):
        with tf.GradientTape() as tape:
            losses = branch_losses(w, y, m)
            total = tf.add_n(list(losses.values()))
        optimizer.apply_gradients(zip(tape.gradient(total, variables), variables))
        return losses

    rng = np.random.default_rng(seed)
    history = []
    best_epoch = {a: 0 for a in attributes}
    best_acc = {a: -1.0 for a in attributes}
    best_mean = -1.0
    best_weights = {}
    bar = tqdm(range(1, n_epochs + 1), desc="train", disable=not progress, leave=True)
    for epoch in bar:
        order = rng.permutation(len(union))
        sums = {a: 0.0 for a in attributes}
        counts = {a: 0.0 for a in attributes}
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            losses = train_step(tf.constant(latents[union[rows]]), {a: tf.constant(targets[a][rows]) for a in attributes},
                                {a: tf.constant(member[a][rows]) for a in attributes})
            for a in attributes:
                n_rows = float(member[a][rows].sum())
                sums[a] += float(losses[a]) * n_rows
                counts[a] += n_rows
        record = {"epoch": epoch, "train_loss": {a: sums[a] / counts[a] for a in attributes},
                  "train_accuracy": {}, "val_accuracy": {}}
        for a in attributes:
            for part, idx in zip(("train_accuracy", "val_accuracy"), indices[a]):
                record[part][a] = (accuracy(clf.predict(latents[idx])[a], np.asarray(labels[a]).reshape(-1)[idx],
                                            num_classes[a]) if len(idx) else None)
        history.append(record)
        val = record["val_accuracy"]
        # Keep the best validation epoch; without validation samples, the last epoch.
        if n_shared_layers == 0:
            for a in attributes:
                if val[a] is None or val[a] > best_acc[a]:
                    best_acc[a], best_epoch[a] = val[a], epoch
                    best_weights[a] = [v.numpy() for v in clf.branch_variables(a)]
        else:
            known = [v for v in val.values() if v is not None]
            mean = float(np.mean(known)) if known else None
            if mean is None or mean > best_mean:
                best_mean = mean
                best_weights["model"] = clf.model.get_weights()
                best_epoch = {a: epoch for a in attributes}
                best_acc = dict(val)
        bar.set_postfix({a: f"{record['train_accuracy'][a]:.3f}/" + ("-" if val[a] is None else f"{val[a]:.3f}")
                         for a in attributes})
    if n_shared_layers == 0:
        for a in attributes:
            for variable, value in zip(clf.branch_variables(a), best_weights[a]):
                variable.assign(value)
    else:
        clf.model.set_weights(best_weights["model"])
    metrics = {"epochs": history, "best_epoch": best_epoch, "best_val_accuracy": best_acc,
               "n_train": {a: int(len(indices[a][0])) for a in attributes},
               "n_val": {a: int(len(indices[a][1])) for a in attributes}}
    return clf, metrics
