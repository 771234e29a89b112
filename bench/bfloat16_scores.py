"""Do bfloat16 renders change what a scorer reads? The world's generator and its exact scorer, float32 vs bfloat16.

Renders the same latents (z from ``--seed``, truncated by ``--truncation``, stored noise) with the fast
synthesis path in float32 and in bfloat16 with the convolutions of the layers from each resolution in
``--bfloat16_from`` up in bfloat16 (4: every layer; the library's default, 128 px, leaves a 32 px network in
float32 throughout). For each setting it prints the images' mean and largest absolute error against float32
(raw and after the 8-bit conversion the scorers see, in units of the [-1, 1] range), then for every scorer
output the Pearson correlation of the scores on bfloat16 renders with those on float32 renders (hair colour:
the lowest over its four logits) and the share of samples whose label (the world's: logit > 0, smile > 0,
age > 0.5, pose > 0, argmax of the colour) changes.

    python bench/bfloat16_scores.py                  # 2,000 samples, about a minute on 2 cores
    python bench/bfloat16_scores.py --n 500 --bfloat16_from 4,8,16,32 --json out.json

Speed is bench/generator.py's (config-f shapes at 256 and 1024 px); this measures accuracy only, so the
machine may be busy.
"""
import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORLD_GENERATOR = ROOT / "gradctrl" / "assets" / "world32.pkl"


def render(tf, np, synthesis, G, ws, batch_size):
    """ws (N, num_ws, w_dim) -> raw float32 images (N, R, R, C) through ``synthesis`` (a FastSynthesis)."""
    function = tf.function(synthesis.__call__, autograph=False)
    noise = G.synthesis_network.const_noise
    return np.concatenate([function(ws[i:i + batch_size], noise).numpy() for i in range(0, len(ws), batch_size)])


def score_agreement(np, world, reference, other):
    """{output: (N,) or (N, K) scores} twice -> {output: (Pearson r, lowest over columns; share of labels that
    differ)}; labels: the world's own (:func:`gradctrl.world.score_labels`)."""
    result = {}
    for name, ref in reference.items():
        ref_columns, other_columns = ref.reshape(len(ref), -1), other[name].reshape(len(ref), -1)
        r = min(float(np.corrcoef(ref_columns[:, c], other_columns[:, c])[0, 1]) for c in range(ref_columns.shape[1]))
        flipped = float(np.mean(world.score_labels(name, ref) != world.score_labels(name, other[name])))
        result[name] = (r, flipped)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--network", help="generator pickle (default: the world's, gradctrl/assets/world32.pkl)")
    parser.add_argument("--n", type=int, default=2000, help="samples (2000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of z (0)")
    parser.add_argument("--truncation", type=float, default=0.4, help="truncation psi (0.4, configs/world.toml's)")
    parser.add_argument("--bfloat16_from", default="4,16", help="comma-separated resolutions (4,16)")
    parser.add_argument("--batch_size", type=int, default=100, help="images rendered together (100)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    from stylegan2.errors import quiet_tensorflow

    quiet_tensorflow()
    import numpy as np
    import tensorflow as tf

    import stylegan2
    from gradctrl import world
    from stylegan2.fast_synthesis import FastSynthesis

    G = stylegan2.load_generator(args.network or WORLD_GENERATOR)
    scorer = tf.keras.models.load_model(world.SCORER_PATH, compile=False)
    z = np.random.RandomState(args.seed).randn(args.n, G.z_dim).astype(np.float32)
    ws = G.mapping(z, truncation_psi=args.truncation)
    net = G.synthesis_network
    reference = render(tf, np, FastSynthesis(net, precision="float32"), G, ws, args.batch_size)
    reference_scores = world.predict_scores(scorer, stylegan2.to_uint8(reference))
    print(f"{args.network or WORLD_GENERATOR}: {G.img_resolution} px, {args.n} samples (seed {args.seed}, "
          f"psi {args.truncation}); scorer {world.SCORER_PATH.name}")
    figures = []
    for start in [int(r) for r in args.bfloat16_from.split(",")]:
        images = render(tf, np, FastSynthesis(net, precision="bfloat16", bfloat16_from=start), G, ws,
                        args.batch_size)
        error = np.abs(images - reference)
        uint8_error = np.abs(stylegan2.to_uint8(images).astype(np.float32)
                             - stylegan2.to_uint8(reference).astype(np.float32)) * (2 / 255)
        agreement = score_agreement(np, world, reference_scores, world.predict_scores(scorer, stylegan2.to_uint8(images)))
        row = {"bfloat16_from": start, "error_mean": float(error.mean()), "error_max": float(error.max()),
               "uint8_error_mean": float(uint8_error.mean()),
               "scores": {k: {"pearson": r, "labels_changed": f} for k, (r, f) in agreement.items()}}
        figures.append(row)
        print(f"\nbfloat16 from {start} px: image error vs float32 mean {row['error_mean']:.4f} max "
              f"{row['error_max']:.3f}; after 8-bit conversion mean {row['uint8_error_mean']:.4f}")
        print(f"  {'output':<12} {'Pearson r':>10} {'labels changed':>15}")
        for name, (r, flipped) in agreement.items():
            print(f"  {name:<12} {r:>10.5f} {flipped:>14.2%}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
