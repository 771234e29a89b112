"""What writing the results page adds to a manipulate.py run (issue 23: aim at most 5 %).

Runs ``manipulate.py`` as the demo does (the world generator ``gradctrl/assets/world32.pkl``, 32 px, 9 steps,
both directions of a binary attribute, ``--exclude none``), with a random latent classifier of the world's
attributes (the page's cost does not depend on what the classifier learnt), into a temporary folder, and
times the page writer (:func:`gradctrl.evaluate.pages.write_edit_page`: the GIFs of the attribute's strips and
``index.html``) inside the run. A first run (not timed) warms the process up (imports, TensorFlow's first
tracing). Then, into a fresh folder, one run per attribute of ``--attributes``: the first run's page covers
one attribute, the second's two (the first one's GIFs are kept, the page lists both), and so on (the default
third, ``hair_colour``, has 4 classes: 4 edits of 16 latents, so 64 strips and GIFs). ``--repeats`` repeats
that sequence, each time in a fresh folder. Prints per run its wall time and CPU time (all threads), the
page's, and the page's share of each, and with repeats the median shares per row: on a busy machine the wall
times of both stretch, the CPU times much less.

    nice -n 10 python bench/pages.py                 # 16 latents per run, as the demo
    nice -n 10 python bench/pages.py --repeats 3 --attributes smile,age
    nice -n 10 python bench/pages.py --n_samples 64
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORLD_ATTRIBUTES = {"eyeglasses": 1, "smile": 1, "age": 1, "hair_length": 1, "pose": 1, "hair_colour": 4}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="bench/pages.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--n_samples", type=int, default=16, help="latents per run (16, the demo's)")
    parser.add_argument("--steps", type=int, default=9, help="edit steps (9)")
    parser.add_argument("--attributes", default="smile,age,hair_colour",
                        help="the runs into one folder, in order (comma-separated world attributes; "
                             "default smile,age,hair_colour)")
    parser.add_argument("--repeats", type=int, default=1, help="times the sequence of runs is repeated (1)")
    args = parser.parse_args(argv)
    attributes = args.attributes.split(",")
    unknown = [a for a in attributes if a not in WORLD_ATTRIBUTES]
    if unknown or len(set(attributes)) != len(attributes) or args.repeats < 1:
        parser.error(f"--attributes: distinct names of {', '.join(WORLD_ATTRIBUTES)}; --repeats >= 1")

    from gradctrl.classifier.model import LatentClassifier, save_classifier
    from gradctrl.commands import manipulate

    page_seconds = []
    write_edit_page = manipulate.write_edit_page

    def timed_page(*page_args, **page_kwargs):
        start, cpu = time.perf_counter(), time.process_time()
        result = write_edit_page(*page_args, **page_kwargs)
        page_seconds.append((time.perf_counter() - start, time.process_time() - cpu))
        return result

    manipulate.write_edit_page = timed_page  # manipulate.py imports the function at its top: patch its name
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model"
        save_classifier(LatentClassifier(128, list(WORLD_ATTRIBUTES), WORLD_ATTRIBUTES, seed=0), model)
        flags = ["--model_dir", str(model), "--generator", str(ROOT / "gradctrl/assets/world32.pkl"),
                 "--n_samples", str(args.n_samples), "--steps", str(args.steps), "--seed", "0", "--exclude", "none",
                 "--no_progress", "--truncation", "0.7"]
        # warm-up: imports and TensorFlow's first tracing, not timed
        manipulate.main(flags + ["--attribute", attributes[0], "--out_dir", str(Path(tmp) / "warm_up")])
        rows, shares = [], {}
        for repeat in range(args.repeats):
            out_dir = Path(tmp) / f"edits_{repeat}"
            for count, attribute in enumerate(attributes, 1):
                what = f"{attribute} (page covers {count})"
                start, cpu = time.perf_counter(), time.process_time()
                manipulate.main(flags + ["--attribute", attribute, "--out_dir", str(out_dir)])
                total, total_cpu = time.perf_counter() - start, time.process_time() - cpu
                (page, page_cpu) = page_seconds[-1]
                shares.setdefault(what, []).append((100 * page / total, 100 * page_cpu / total_cpu))
                rows.append(f"{what:<30} {total:7.2f} {page:7.3f} {100 * page / total:6.1f} % "
                            f"{total_cpu:8.2f} {page_cpu:8.3f} {100 * page_cpu / total_cpu:6.1f} %")
        print(f"{'run':<30} {'wall s':>7} {'page s':>7} {'share':>8} {'CPU s':>8} {'page CPU':>8} {'share':>8}")
        print("\n".join(rows))
        if args.repeats > 1:
            print(f"\nmedian of {args.repeats} {'':<15} {'wall share':>10} {'CPU share':>10}")
            for what, values in shares.items():
                print(f"{what:<30} {statistics.median(v[0] for v in values):8.1f} % "
                      f"{statistics.median(v[1] for v in values):8.1f} %")


if __name__ == "__main__":
    main()
