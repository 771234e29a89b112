"""How much masking protects the excluded attributes: the paper's gender edit on the released FFHQ classifiers.

    python bench/masking_effect.py [--model_dir ../shared/released/model_ffhq] [--n 256] [--seed 7]

Edits N latents along 'gender' (+1 and -1, 9 steps of 4/9, the paper's exclusion smile 250, eyeglasses 100,
age 100) with and without masking, and prints for every attribute the mean absolute change of its
probability from the start to the last step (and the mean over the path of the largest change), so the
excluded attributes' drift with masking can be read against the drift without it. Latents are
N(0, I) in w (as in ../shared/fixtures/gradctrl/ffhq_ref.json: the FFHQ generator is not needed here).
"""
import argparse
import sys

import numpy as np

PAPER_EXCLUDE = {"smile": 250, "eyeglasses": 100, "age": 100}


def drift(clf, w0, traj):
    """{name: (mean |p_end - p_0|, mean max_s |p_s - p_0|)} over latents, for every binary attribute."""
    start = clf.predict(w0)
    path = clf.predict(traj.reshape(-1, traj.shape[-1]))
    out = {}
    for name in clf.attributes:
        change = np.abs(path[name].reshape(traj.shape[:2]) - start[name][:, None])
        out[name] = (float(change[:, -1].mean()), float(change.max(axis=1).mean()))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="masking_effect.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", default="../shared/released/model_ffhq")
    parser.add_argument("--attribute", default="gender")
    parser.add_argument("--n", type=int, default=256, help="number of latents")
    parser.add_argument("--seed", type=int, default=7, help="np.random.RandomState seed of the latents")
    args = parser.parse_args(argv)
    from gradctrl.classifier.model import load_classifier
    from stylegan2.errors import exit_on_input_error
    from gradctrl.edit.editing import edit_trajectory

    with exit_on_input_error(parser.prog):
        clf = load_classifier(args.model_dir)
        w0 = np.random.RandomState(args.seed).randn(args.n, clf.w_dim).astype(np.float32)
        print(f"{args.attribute} edit, {args.n} latents N(0, I) (RandomState({args.seed})), 9 steps of 4/9; "
              f"exclusion {PAPER_EXCLUDE}")
        print("mean |p_end - p_start|  (mean over latents of max_s |p_s - p_start| in brackets)")
        header = f"{'direction':>9} {'attribute':>11} {'masked':>17} {'unmasked':>17}  ratio"
        print(header)
        for direction in (1, -1):
            masked = drift(clf, w0, edit_trajectory(clf, w0, args.attribute, direction, exclude=PAPER_EXCLUDE))
            plain = drift(clf, w0, edit_trajectory(clf, w0, args.attribute, direction))
            for name in clf.attributes:
                tag = " (target)" if name == args.attribute else " (excluded)" if name in PAPER_EXCLUDE else ""
                ratio = masked[name][0] / plain[name][0] if plain[name][0] > 0 else float("nan")
                print(f"{direction:>+9d} {name:>11} {masked[name][0]:>7.4f} [{masked[name][1]:.4f}] "
                      f"{plain[name][0]:>7.4f} [{plain[name][1]:.4f}]  {ratio:5.2f}{tag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
