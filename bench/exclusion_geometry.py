"""Why an exclusion method does or does not protect the excluded attributes, measured in latent space.

    python bench/exclusion_geometry.py --config configs/demo.toml --model_dir demo_out/model --data_dir demo_out/data

At the first N latents of the data directory, with the latent classifier's gradients g_a = d p_a / d w:

1. channel concentration: the mean fraction of |g_a|^2 held by the top quarter of the channels, against the
   same fraction for a random Gaussian vector. GradCtrl's masking assumes that attributes depend on few
   channels of w; where the gradients are no more concentrated than noise, masking k channels removes a
   share of every attribute's gradient alike;
2. for each attribute with an exclusion in the config: the mean |cosine| between the edit's first step and
   each excluded attribute's gradient (every class's, for a K-class one), for GradCtrl without and with the
   mask, InterFaceGAN and conditional InterFaceGAN, plus the share of the target gradient's norm the mask
   keeps. A direction with cosine 0 leaves the excluded attribute's probability unchanged to first order.
"""
import argparse

import numpy as np


def gradients(clf, w):
    """{attribute: [(N, w_dim) gradient of each output]} of the classifier's probabilities at w (N, w_dim)."""
    import tensorflow as tf

    x = tf.constant(w)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        probs = clf.probabilities(x)
        outputs = {name: [probs[name]] if clf.num_classes[name] == 1 else
                   [probs[name][:, c] for c in range(clf.num_classes[name])] for name in clf.attributes}
    return {name: [tape.gradient(p, x).numpy() for p in out] for name, out in outputs.items()}


def top_quarter_energy(vectors):
    """Mean over rows of the share of sum(v^2) held by the largest quarter of |v| entries. vectors: (N, D)."""
    energy = np.sort(np.asarray(vectors, np.float64) ** 2, axis=1)[:, ::-1]
    return float((energy[:, :energy.shape[1] // 4].sum(axis=1) / energy.sum(axis=1)).mean())


def mean_abs_cos(directions, vectors):
    """Mean |cos| between rows of ``directions`` ((N, D) or one (D,)) and ``vectors`` (N, D)."""
    directions = np.broadcast_to(directions, np.shape(vectors))
    dots = np.sum(directions * vectors, axis=1)
    return float(np.mean(np.abs(dots) / (np.linalg.norm(directions, axis=1) * np.linalg.norm(vectors, axis=1))))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="exclusion_geometry.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--data_dir", required=True)
    parser.add_argument("--n", type=int, default=256, help="latents of the data directory used (default 256)")
    args = parser.parse_args(argv)

    from gradctrl.classifier.model import load_classifier
    from gradctrl.data.datadir import read_data_dir
    from gradctrl.edit.methods import baseline_directions
    from gradctrl.formats.config import load_config

    config, clf, data = load_config(args.config), load_classifier(args.model_dir), read_data_dir(args.data_dir)
    w = data.latents[:args.n]
    g = gradients(clf, w)
    noise = top_quarter_energy(np.random.default_rng(0).standard_normal((1000, clf.w_dim)))
    print(f"share of |gradient|^2 in the top 25% of {clf.w_dim} channels (a random Gaussian vector: {noise:.2f})")
    for name, outputs in g.items():
        print(f"  {name}: " + ", ".join(f"{top_quarter_energy(o):.2f}" for o in outputs))
    for name in clf.attributes:
        exclude = config.attribute(name).exclude
        if not exclude or clf.num_classes[name] != 1:
            continue
        target = g[name][0]
        kept = np.ones_like(target, bool)
        for other, k in exclude.items():
            saliency = np.max([np.abs(o) for o in g[other]], axis=0)
            np.put_along_axis(kept, np.argsort(saliency, axis=1)[:, clf.w_dim - k:], False, axis=1)
        masked = np.where(kept, target, 0)
        share = np.mean(np.linalg.norm(masked, axis=1) / np.linalg.norm(target, axis=1))
        plain = baseline_directions("interfacegan", data, name)[0]
        conditional = baseline_directions("interfacegan", data, name, list(exclude))[0]
        print(f"edit '{name}' (exclusion {exclude}; the mask keeps {share:.2f} of the gradient's norm): "
              "mean |cos(step, excluded gradient)|")
        print("  excluded output      GradCtrl  GradCtrl+mask  InterFaceGAN  conditional")
        for other in exclude:
            for c, vectors in enumerate(g[other]):
                label = other if len(g[other]) == 1 else f"{other}[{c}]"
                print(f"  {label:<20} {mean_abs_cos(target, vectors):8.3f}  {mean_abs_cos(masked, vectors):13.3f}"
                      f"  {mean_abs_cos(plain, vectors):12.3f}  {mean_abs_cos(conditional, vectors):11.3f}")


if __name__ == "__main__":
    main()
