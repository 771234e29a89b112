"""How well does the projector fit the world? Drawn faces the generator never made, and generated faces of known w.

Projects ``--n`` held-out drawn faces (gradctrl.world, seed ``--draw_seed``: the training set is seed 0) and
``--n`` generated faces (w of the evaluation stream, seed ``--seed``, truncation 0.7, stored noise) through
the world's generator in each of ``--spaces``, with ``--steps`` steps (gradctrl.projection, the loss with no
download: pixel L2 + single-scale SSIM at 32 px). For each set and space it reports: the mean absolute pixel
error of the reconstruction (fraction of the 0-255 range) with the fitted noise maps and with the stored
noise (what manipulate.py renders); the exact scorer's label agreement between source and reconstruction
(stored noise) per attribute; for generated faces the w recovery error (mean over layers of |w_fit - w|,
and the same for the mean-w start); seconds per image (wall clock, images projected ``--batch_size`` at a
time, including tracing).

    nice -n 10 python bench/projection.py --n 20 --steps 500 --json out.json
"""
import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20, help="faces per set (default 20)")
    parser.add_argument("--steps", type=int, default=1000, help="projection steps (default 1000)")
    parser.add_argument("--spaces", default="w,w+", help="comma-separated spaces (default w,w+)")
    parser.add_argument("--seed", type=int, default=0, help="projection seed and generated faces' seed")
    parser.add_argument("--draw_seed", type=int, default=2026, help="seed of the drawn faces (not 0: training)")
    parser.add_argument("--batch_size", type=int, default=20, help="images projected together (default 20)")
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args()

    import numpy as np

    import stylegan2
    from gradctrl import latents, projection, world

    G = stylegan2.load_generator(ROOT / "gradctrl" / "assets" / "world32.pkl")
    scorer = __import__("keras").saving.load_model(world.SCORER_PATH, compile=False)
    drawn = world.draw_faces(world.sample_factors(args.n, args.draw_seed), G.img_resolution)
    w_true = latents.sample_w(G, args.seed, range(args.n), 0.7, latents.STREAM_EVAL)
    ws_true = np.repeat(w_true[:, None], G.num_ws, axis=1)
    generated = stylegan2.to_uint8(G.synthesis(ws_true))
    w_stats = projection.w_statistics(G, args.seed)
    results = {"n": args.n, "steps": args.steps, "seed": args.seed, "draw_seed": args.draw_seed,
               "loss": projection.ImageLoss(G.img_resolution).describe(), "runs": []}
    for name, images in (("drawn", drawn), ("generated", generated)):
        source_labels = _labels(world, scorer, images)
        for space in args.spaces.split(","):
            started = time.perf_counter()
            parts = []
            for start in range(0, args.n, args.batch_size):
                targets = images[start:start + args.batch_size].astype(np.float32) / np.float32(127.5) - 1
                parts.append(projection.project(G, targets, space, args.steps, args.seed, w_stats=w_stats,
                                                first_index=start))
            seconds = time.perf_counter() - started
            ws = np.concatenate([p.ws for p in parts])
            fitted = stylegan2.to_uint8(np.concatenate([p.images for p in parts]))
            stored = stylegan2.to_uint8(G.synthesis(ws))
            labels = _labels(world, scorer, stored)
            run = {"set": name, "space": space, "seconds_per_image": round(seconds / args.n, 3),
                   "pixel_error_fitted_noise": round(_pixel_error(images, fitted), 4),
                   "pixel_error_stored_noise": round(_pixel_error(images, stored), 4),
                   "label_agreement": {a: round(float((labels[a] == source_labels[a]).mean()), 3) for a in labels}}
            if name == "generated":
                run["w_error"] = round(float(np.linalg.norm(ws - ws_true, axis=2).mean()), 3)
                run["w_error_of_start"] = round(float(np.linalg.norm(w_stats[0] - w_true, axis=1).mean()), 3)
            results["runs"].append(run)
            print(json.dumps(run), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


def _labels(world, scorer, images):
    """The exact scorer's labels of uint8 images -> {attribute: (N,) int64}."""
    scores = world.predict_scores(scorer, images)
    return {a: world.score_labels(a, scores[a]) for a in world.SCORER_OUTPUTS}


def _pixel_error(a, b):
    """Mean absolute difference of two uint8 image sets, as a fraction of 255."""
    return float(abs(a.astype(float) - b.astype(float)).mean() / 255)


if __name__ == "__main__":
    main()
