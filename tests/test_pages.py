"""Results pages (stylegan2.pages, gradctrl.evaluate.pages): what each page shows, checked against the files its command
wrote, and each page kind opened in headless Chromium (tests/browser.py): every image and animation loaded,
no request outside the page's folder, no console error, the expected table rows, a screenshot."""
import csv
import json
import os
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
from PIL import Image

from browser import open_page, outside, require_browser
from gradctrl import report
from gradctrl.classifier.model import LatentClassifier, save_classifier
from gradctrl.commands import evaluate, manipulate
from gradctrl.evaluate.pages import (animation_name, edit_sections, evaluation_page_context, read_edit_runs,
                                     write_edit_page, write_evaluation_page)
from stylegan2.pages import PAGE_FILE, line_plot, render_page, training_page_context
from test_evaluate import _args as evaluate_args, setup  # noqa: F401  (the tiny evaluation setup, a fixture)

N_LATENTS, STEPS = 3, 3


@pytest.fixture(scope="module")
def edit_folders(tmp_path_factory, tiny_generator_path):
    """The demo's layout on the tiny generator: edits/with_exclusion (binary 'a' excluding 'b', 3-class 'c')
    and edits/without_exclusion (the same 'a' edit, --exclude none), the same latents in both."""
    root = tmp_path_factory.mktemp("pages")
    model = root / "model"
    save_classifier(LatentClassifier(32, ["a", "b", "c"], {"a": 1, "b": 1, "c": 3}, hidden_size=8, seed=5), model)
    common = ["--model_dir", model, "--generator", tiny_generator_path, "--n_samples", N_LATENTS, "--steps", STEPS,
              "--seed", 3, "--no_progress"]
    edits = root / "edits"
    for attribute, exclude, folder in (("a", "b", "with_exclusion"), ("c", "a", "with_exclusion"),
                                       ("a", "none", "without_exclusion")):
        flags = ["--exclude", exclude] + (["--top_channels", "5"] if exclude != "none" else [])
        assert manipulate.main([str(f) for f in common + ["--attribute", attribute, "--out_dir", edits / folder]
                                + flags]) == 0
    return edits / "with_exclusion", edits / "without_exclusion"


def _gif_frames(path):
    """The frames of a GIF -> (F, H, W, 3) uint8."""
    with Image.open(path) as gif:
        frames = []
        for index in range(gif.n_frames):
            gif.seek(index)
            frames.append(np.asarray(gif.convert("RGB")))
    return np.stack(frames)


def test_edit_animation_plays_the_strip(edit_folders):
    folder = edit_folders[0]
    settings = json.loads((folder / "a_settings.json").read_text())
    for strip in settings["strips"]:
        image = np.asarray(Image.open(folder / strip).convert("RGB")).astype(int)
        frames = _gif_frames(folder / animation_name(strip)).astype(int)
        assert frames.shape == (STEPS + 1, 16, 16, 3)
        tiles = image.reshape(16, STEPS + 1, 16, 3).transpose(1, 0, 2, 3)
        error = np.abs(frames[:, None] - tiles[None]).mean(axis=(2, 3, 4))     # (frame, tile)
        # frame i is the strip's i-th tile up to GIF's 256 colours (one palette shared by every frame)
        assert np.diag(error).max() < 10
        assert error[0, 0] < error[0, -1] and error[-1, -1] < error[-1, 0]       # in the path's order


def test_edit_page_values_are_the_runs_probabilities(edit_folders):
    folder = edit_folders[0]
    sections = edit_sections(read_edit_runs(folder), folder)
    assert [(s["attribute"], s["label"]) for s in sections] == [("a", "+1"), ("a", "-1"), ("c", "to class 0"),
                                                               ("c", "to class 1"), ("c", "to class 2")]
    data = np.load(folder / "a_edits.npz")
    row = sections[1]["rows"][2]["cells"][0]                      # a, -1, latent 2
    assert row["strip"] == "0002_a_negative.png" and row["gif"] == "page/0002_a_negative.gif"
    assert [v["name"] for v in row["values"]] == ["P(a)", "P(b)"]
    assert row["values"][0]["numbers"] == [f"{p:.2f}" for p in data["probs_negative_a"][2]]
    assert row["values"][1]["numbers"] == [f"{p:.2f}" for p in data["probs_negative_b"][2]]
    data = np.load(folder / "c_edits.npz")
    row = sections[3]["rows"][0]["cells"][0]                      # c towards class 1, latent 0
    assert row["values"][0]["name"] == "P(c = class 1)"
    assert row["values"][0]["numbers"] == [f"{p:.2f}" for p in data["probs_class1_c"][0, :, 1]]


def test_runs_on_the_same_latents_stand_side_by_side(edit_folders):
    with_exclusion, without_exclusion = edit_folders
    page_dir = with_exclusion.parent
    runs = read_edit_runs(without_exclusion) + read_edit_runs(with_exclusion)
    sections = [s for s in edit_sections(runs, page_dir) if s["attribute"] == "a"]
    assert len(sections) == 2
    for section in sections:
        assert [v["label"].split(";")[0] for v in section["variants"]] == ["with exclusion of b (top 5)",
                                                                         "without exclusion"]
        assert len(section["rows"]) == N_LATENTS
        cells = section["rows"][0]["cells"]
        assert cells[0]["strip"].startswith("with_exclusion/") and cells[1]["strip"].startswith("without_exclusion/")
        assert [v["name"] for v in cells[1]["values"]] == ["P(a)", "P(b)"]  # the same rows on both sides


def test_rerun_of_an_attribute_keeps_the_others_animations_and_drops_stale_ones(edit_folders, tmp_path):
    folder = edit_folders[0]
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in folder.rglob("*"):
        if path.is_file():
            (copy / path.relative_to(folder)).parent.mkdir(exist_ok=True)
            (copy / path.relative_to(folder)).write_bytes(path.read_bytes())
    (copy / "page" / "0009_a_positive.gif").write_bytes(b"stale")
    (copy / "c_settings.json").unlink()
    write_edit_page(copy)
    assert not (copy / "page" / "0009_a_positive.gif").exists()
    assert not list((copy / "page").glob("*_c_*.gif"))            # c is no run of this folder any more
    assert len(list((copy / "page").glob("*_a_*.gif"))) == 2 * N_LATENTS


def _animations(folder, attribute):
    """The GIFs of ``attribute`` in the edit folder ``folder`` -> {name: (bytes, mtime in ns)}."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (folder / "page").glob(f"*_{attribute}_*.gif")}


@pytest.fixture
def gif_count(monkeypatch):
    """The number of GIFs the edit page encodes, counted as they are made."""
    from gradctrl.evaluate import pages
    made = []
    encode = pages.gif_bytes
    monkeypatch.setattr(pages, "gif_bytes", lambda frames: made.append(1) or encode(frames))
    return lambda: len(made)


def test_a_run_of_another_attribute_leaves_the_first_ones_animations_and_a_rerun_rebuilds(
        tmp_path, tiny_generator_path, gif_count):
    model = tmp_path / "model"
    save_classifier(LatentClassifier(32, ["a", "b", "c"], {"a": 1, "b": 1, "c": 3}, hidden_size=8, seed=5), model)
    out = tmp_path / "edits"
    common = ["--model_dir", model, "--generator", tiny_generator_path, "--n_samples", 2, "--steps", 2, "--seed", 3,
              "--no_progress", "--exclude", "none", "--out_dir", out]

    def manipulate_run(attribute):
        made = gif_count()
        assert manipulate.main([str(f) for f in common + ["--attribute", attribute]]) == 0
        return gif_count() - made

    assert manipulate_run("a") == 2 * 2                          # 2 latents, +1 and -1
    first = _animations(out, "a")
    assert len(first) == 4
    assert manipulate_run("c") == 3 * 2                          # only c's GIFs are made: 3 classes, 2 latents
    assert _animations(out, "a") == first                        # a's GIFs: the same bytes, never rewritten
    c_gifs = _animations(out, "c")
    assert len(c_gifs) == 6
    assert manipulate_run("a") == 4                              # a rerun of a rebuilds a's GIFs, not c's
    assert _animations(out, "c") == c_gifs
    again = _animations(out, "a")
    assert again.keys() == first.keys() and all(again[n][1] > first[n][1] for n in first)


def test_an_animation_older_than_its_strip_is_rebuilt(edit_folders, tmp_path, gif_count):
    folder = edit_folders[0]
    copy = tmp_path / "copy"
    for path in sorted(folder.rglob("*")):           # the strips first, so every GIF is newer than its strip
        if path.is_file():
            (copy / path.relative_to(folder)).parent.mkdir(parents=True, exist_ok=True)
            (copy / path.relative_to(folder)).write_bytes(path.read_bytes())
    for gif in (copy / "page").glob("*.gif"):
        strip = copy / f"{gif.stem}.png"
        os.utime(gif, ns=(strip.stat().st_mtime_ns + 10**9,) * 2)
    write_edit_page(copy)
    assert gif_count() == 0                                      # every GIF is current: none is made
    old = copy / "page" / "0001_c_class2.gif"
    strip = copy / "0001_c_class2.png"
    os.utime(old, ns=(strip.stat().st_mtime_ns - 10**9,) * 2)   # made before its strip: from another run
    old.write_bytes(b"stale")
    os.utime(old, ns=(strip.stat().st_mtime_ns - 10**9,) * 2)
    write_edit_page(copy)
    assert gif_count() == 1
    assert _gif_frames(old).shape == (STEPS + 1, 16, 16, 3)
    assert old.stat().st_mtime_ns >= strip.stat().st_mtime_ns


def test_edit_page_in_browser(edit_folders, tmp_path):
    require_browser()
    folder = edit_folders[0]
    seen = open_page(folder / PAGE_FILE, tmp_path / "edits.png")
    assert outside(seen["requests"], folder) == []
    assert seen["console"] == []
    assert seen["images"] and all(image["naturalWidth"] > 0 for image in seen["images"])
    # five edits (a +1/-1, c to each of 3 classes), each row: the original, the strip, the animation
    assert len(seen["images"]) == 5 * N_LATENTS * 3
    gifs = sorted(image["src"].rsplit("/page/", 1)[1] for image in seen["images"] if image["src"].endswith(".gif"))
    assert gifs == sorted(p.name for p in (folder / "page").glob("*.gif"))
    assert [t["rows"] for t in seen["tables"] if t["className"] == "edits"] == [N_LATENTS] * 5
    assert (tmp_path / "edits.png").stat().st_size > 0


HOSTILE = "<script>alert(\"x\")</script>'&\"#1"


def _hostile_edit_folder(folder):
    """An edit folder written by hand whose attribute name, class name and strip file name hold markup, quotes
    and a '#' (legal in file names, a fragment in URLs)."""
    folder.mkdir()
    attribute = HOSTILE
    strip = f"0000_{attribute.replace('/', '_')}_positive.png"
    Image.fromarray(np.full((8, 16, 3), 200, np.uint8)).save(folder / strip)
    np.savez(folder / "h_edits.npz", w0=np.zeros((1, 4), np.float32),
             **{f"probs_positive_{attribute}": np.array([[0.25, 0.75]], np.float32)})
    settings = {"method": "gradctrl", "attribute": attribute, "num_classes": 1, "class_names": None,
                "exclude": {}, "layers": [0, 2], "steps": 1, "step_size": 0.5, "n_latents": 1,
                "cases": ["positive"], "strips": [strip], "npz": "h_edits.npz", "model_dir": HOSTILE}
    (folder / "h_settings.json").write_text(json.dumps(settings))
    return strip


def test_markup_in_names_renders_as_text(tmp_path):
    folder = tmp_path / "hostile"
    _hostile_edit_folder(folder)
    html = write_edit_page(folder).read_text()
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#34;x&#34;)" in html
    assert html.count("<script") == 1                             # the page's own sorting script only
    assert "%23" in html                                          # '#' in a link is percent-encoded


def test_markup_in_names_in_browser(tmp_path):
    require_browser()
    folder = tmp_path / "hostile"
    _hostile_edit_folder(folder)
    write_edit_page(folder)
    seen = open_page(folder / PAGE_FILE, tmp_path / "hostile.png")
    assert seen["scripts"] == 1 and seen["console"] == []
    assert f"{HOSTILE}, edit +1" in seen["text"]                  # shown as the text it is
    assert len(seen["images"]) == 3 and all(image["naturalWidth"] > 0 for image in seen["images"])
    assert outside(seen["requests"], folder) == []


def test_templates_escape_every_context_string():
    html = render_page("base.html", {"title": HOSTILE})
    assert HOSTILE not in html and "<title>&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&#39;&amp;&#34;#1</title>" in html


# ----- the evaluation page -----

CLAIMS_MD = """# The paper's claims

| claim | verdict |
|---|---|
| 1. <b>exclusion</b> | holds |

## 1. Exclusion disentangles

**holds**: the partner moves 0.10 std, below 0.5.

| edit | method | partner change (std) |
|---|---|---|
| a +1 | GradCtrl | 0.10 [0.00, 0.20] |
| a -1 | GradCtrl | 0.30 [0.20, 0.40] |

Made by: `evaluate.py --claims --seed 7` (held-out latents: seed 7)

Notes:

- a note
"""


@pytest.fixture(scope="module")
def evaluation_folder(setup):
    """An evaluation folder of the tiny setup (tests/test_evaluate.py), with a claims report's files added by
    hand (claims.md, a CSV and a plot: the page reads whatever files are there) and its page rewritten."""
    out = setup / "evaluation_page"
    evaluate.main(evaluate_args(setup, out, "--latent_only", "--methods", "gradctrl,interfacegan", "--no_progress"))
    (out / "claims.md").write_text(CLAIMS_MD)
    (out / "levels.csv").write_text("attribute,edit,reached@1\na,+1,True\na,-1,False\nb,+1,True\n")
    Image.fromarray(np.full((20, 30, 3), 90, np.uint8)).save(out / "small_data.png")
    write_evaluation_page(out)
    return out


def _markdown_table_rows(text):
    """Body rows of each pipe table in a markdown text, counted from its lines (header and rule left out)."""
    counts, run = [], 0
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            run += 1
        elif run:
            counts.append(run - 2)
            run = 0
    return counts


def test_evaluation_page_is_made_from_the_folders_files(evaluation_folder):
    context = evaluation_page_context(evaluation_folder)
    summary, claims = context["reports"]
    for part in (summary, claims):
        text = (evaluation_folder / part["file"]).read_text()
        assert [len(b["rows"]) for b in part["blocks"] if b["kind"] == "table"] == _markdown_table_rows(text)
    assert {"kind": "code", "text": "evaluate.py --claims --seed 7"} in \
        [span for b in claims["blocks"] if b["kind"] == "paragraph" for span in b["spans"]]
    assert {"kind": "strong", "text": "holds"} == claims["blocks"][3]["spans"][0]
    assert claims["blocks"][-1] == {"kind": "list", "items": [[{"kind": "text", "text": "a note"}]]}
    assert context["plots"] == ["curves.png", "small_data.png"]
    with open(evaluation_folder / "summary.csv", newline="") as f:
        rows = list(csv.reader(f))
    table = {t["caption"]: t for t in context["tables"]}["summary.csv"]
    assert [table["columns"]] + table["rows"] == rows
    assert context["settings"]["seed"] == 0 and context["settings"]["n_samples"] == 6


def test_evaluation_page_in_browser(evaluation_folder, tmp_path):
    require_browser()
    seen = open_page(evaluation_folder / PAGE_FILE, tmp_path / "evaluation.png")
    assert outside(seen["requests"], evaluation_folder) == [] and seen["console"] == []
    assert len(seen["images"]) == 2 and all(image["naturalWidth"] > 0 for image in seen["images"])
    expected = _markdown_table_rows((evaluation_folder / "summary.md").read_text()) + [1, 2]
    assert [t["rows"] for t in seen["tables"] if "report-table" in t["className"]] == expected
    csvs = sorted(evaluation_folder.glob("*.csv"))
    assert [t["rows"] for t in seen["tables"] if t["className"] == "sortable"] == \
        [len(p.read_text().splitlines()) - 1 for p in csvs]
    assert "Made by: evaluate.py --claims --seed 7" in seen["text"] and "1. <b>exclusion</b>" in seen["text"]
    assert (tmp_path / "evaluation.png").stat().st_size > 0


# ----- the training run's page -----

def test_line_plot_maps_the_data_box_onto_the_plot_box():
    plot = line_plot([("kid", [(0.0, 2.0), (5.0, 1.0), (10.0, 0.0)])], "kimg", "KID", width=200, height=100)
    left, right, top, bottom = plot["left"], plot["right"], plot["top"], plot["bottom"]
    points = [tuple(map(float, p.split(","))) for p in plot["lines"][0]["points"].split()]
    # x from left to right, y upwards: the largest KID at the top, the smallest at the bottom
    assert points == [(left, top), ((left + right) / 2, (top + bottom) / 2), (right, bottom)]
    assert [t["label"] for t in plot["x_ticks"]] == ["0", "2.5", "5", "7.5", "10"]
    assert line_plot([("kid", [(0.0, float("nan"))])], "kimg", "KID") is None


@pytest.fixture(scope="module")
def training_run(tmp_path_factory):
    """A tiny training run (tests/test_stylegan2_training.py's settings): snapshots at 0 and 0.064 kimg."""
    from stylegan2.training import TrainingOptions, train
    from test_stylegan2_training import TINY, discs

    root = tmp_path_factory.mktemp("training_page")
    np.save(root / "discs.npy", discs())
    options = TrainingOptions(**dict(TINY, total_kimg=0.128, data=str(root / "discs.npy")))
    train(options, root / "run", progress=False, stop_after_kimg=0.064)
    return root / "run"


def test_training_page_shows_every_snapshot_and_log_line(training_run):
    log = [json.loads(line) for line in (training_run / "log.jsonl").read_text().splitlines()]
    context = training_page_context(training_run)
    assert [g["src"] for g in context["grids"]] == sorted(p.name for p in training_run.glob("fakes*.png"))
    assert len(context["log"]["rows"]) == len(log) == 2
    assert context["log"]["rows"][1][context["log"]["columns"].index("iteration")] == str(log[1]["iteration"])
    assert [p["title"] for p in context["plots"]] == ["generator loss", "discriminator loss"]  # no KID measured


def test_training_page_draws_kid_from_the_log(tmp_path):
    (tmp_path / "log.jsonl").write_text("".join(json.dumps({"kimg": k, "kid": v, "kid_real_baseline": 0.01}) + "\n"
                                                for k, v in ((0, 0.5), (10, 0.2), (20, 0.1))) + '{"kimg": 3')
    context = training_page_context(tmp_path)                      # a last line cut short is left out
    assert len(context["log"]["rows"]) == 3
    kid = context["plots"][0]
    assert kid["title"] == "KID" and [line["name"] for line in kid["plot"]["lines"]] == ["KID", "real vs real"]
    assert len(kid["plot"]["lines"][0]["points"].split()) == 3


def test_training_page_in_browser(training_run, tmp_path):
    require_browser()
    seen = open_page(training_run / PAGE_FILE, tmp_path / "training.png")
    assert outside(seen["requests"], training_run) == [] and seen["console"] == []
    grids = sorted(p.name for p in training_run.glob("fakes*.png"))  # kimg 0 and 0.064 share fakes000000.png
    assert sorted(image["src"].rsplit("/", 1)[1] for image in seen["images"]) == grids
    assert all(image["naturalWidth"] > 0 for image in seen["images"])
    assert [t["rows"] for t in seen["tables"] if t["className"] == "sortable"] == [2]   # the log
    assert seen["text"].count("generator loss") >= 1
    assert "0 kimg" in seen["text"] and "generator loss" in seen["text"]


# ----- the report linking several runs' pages -----

def test_report_links_every_page_and_puts_edits_side_by_side(edit_folders, evaluation_folder, training_run, tmp_path):
    require_browser()
    with_exclusion, without_exclusion = edit_folders
    out = with_exclusion.parent                                   # the edit folders lie inside the report's
    runs = [with_exclusion, without_exclusion, evaluation_folder, training_run]
    assert report.main([str(d) for d in runs] + ["--out_dir", str(out), "--title", HOSTILE]) == 0
    seen = open_page(out / PAGE_FILE, tmp_path / "report.png")
    assert outside(seen["requests"], out) == [] and seen["console"] == []
    assert seen["title"] == HOSTILE                                  # as text
    targets = [Path(unquote(urlparse(url).path)) for url in seen["links"] if not urlparse(url).fragment]
    assert targets == [d.resolve() / PAGE_FILE for d in runs]        # relative links, each to a run's page
    assert [t["rows"] for t in seen["tables"] if "runs" in t["className"]] == [4]
    # only 'a' was edited in both folders: its two edits, each row with and without exclusion side by side
    assert [t["rows"] for t in seen["tables"] if t["className"] == "edits"] == [N_LATENTS] * 2
    assert len(seen["images"]) == 2 * N_LATENTS * (1 + 2 * 2)
    assert all(image["naturalWidth"] > 0 for image in seen["images"])
    assert "evaluation with the claims report" in seen["text"] and "training run" in seen["text"]


def test_report_refuses_a_folder_without_a_page_and_a_foreign_page(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    foreign = tmp_path / "site"
    foreign.mkdir()
    (foreign / PAGE_FILE).write_text("<html>my own page</html>")
    run = tmp_path / "run"
    run.mkdir()
    (run / PAGE_FILE).write_text("<html></html>")
    for argv, message in (([str(tmp_path / "empty"), "--out_dir", str(tmp_path / "r")], "holds no results page"),
                          ([str(run), "--out_dir", str(foreign)], "not a report's"),
                          ([str(run), "--out_dir", str(run)], "is also a run folder")):
        with pytest.raises(SystemExit) as e:
            report.main(argv)
        err = capsys.readouterr().err
        assert e.value.code == 2 and err.count("\n") == 1 and message in err, err
    assert (foreign / PAGE_FILE).read_text() == "<html>my own page</html>"
    assert report.main([str(run), "--out_dir", str(tmp_path / "r")]) == 0
    assert report.main([str(run), "--out_dir", str(tmp_path / "r")]) == 0      # a report replaces its own page
