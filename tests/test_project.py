"""project.py (gradctrl.commands.project) end to end on the tiny generator: its outputs, the projected latents
edited by manipulate.py and figures.py, the fitting of source images, and its one-line refusals."""
import json

import numpy as np
import pytest
from PIL import Image

import stylegan2
from browser import open_page, outside, require_browser
from gradctrl.classifier.model import LatentClassifier, save_classifier
from gradctrl.commands import figures, manipulate, project
from gradctrl.data import latents
from gradctrl.project.targets import read_targets
from gradctrl.render import render_uint8, wplus


@pytest.fixture(scope="module")
def config(tmp_path_factory, tiny_generator_path):
    path = tmp_path_factory.mktemp("config") / "tiny.toml"
    path.write_text(f'[generator]\nfile = "{tiny_generator_path}"\n\n[attributes.a]\n[attributes.b]\n')
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A random classifier on the tiny generator's 32-wide w: binary 'a' and 'b'."""
    path = tmp_path_factory.mktemp("model") / "m"
    save_classifier(LatentClassifier(32, ["a", "b"], {"a": 1, "b": 1}, hidden_size=8, seed=5), path)
    return path


@pytest.fixture(scope="module")
def sources(tiny_generator, tmp_path_factory):
    """Two generated 16 px images as an .npy of uint8 NHWC."""
    w = latents.sample_w(tiny_generator, 1, range(2), 0.7, latents.STREAM_EDIT)
    images = stylegan2.to_uint8(tiny_generator.synthesis(np.repeat(w[:, None], tiny_generator.num_ws, axis=1)))
    path = tmp_path_factory.mktemp("sources") / "faces.npy"
    np.save(path, images)
    return path, images


def run_project(*flags):
    return project.main([str(f) for f in flags] + ["--no_progress"])


@pytest.fixture(scope="module")
def projected_wplus(tmp_path_factory, config, sources):
    out = tmp_path_factory.mktemp("projected") / "wplus"
    assert run_project("--config", config, "--images", sources[0], "--out_dir", out, "--space", "w+",
                       "--steps", 4, "--seed", 2) == 0
    return out


def test_outputs(projected_wplus, sources, tiny_generator):
    data = np.load(projected_wplus / "latents.npz")
    G = tiny_generator
    assert data["w"].shape == (2, G.num_ws, G.w_dim) and data["w"].dtype == np.float32
    assert list(data["names"]) == ["faces[0]", "faces[1]"]
    np.testing.assert_array_equal(data["sources"], sources[1])
    assert data["distance"].shape == data["noise_penalty"].shape == (2, 4)
    for index, (h, w) in enumerate(G.noise_shapes):
        assert data[f"noise{index}"].shape == (2, h, w)
    sheet = np.asarray(Image.open(projected_wplus / "reconstructions.png"))
    assert sheet.shape == (2 * 16, 3 * 16, 3)
    source, reconstruction, difference = (sheet[:, 16 * k:16 * (k + 1)].astype(int) for k in range(3))
    np.testing.assert_array_equal(source, sources[1].reshape(32, 16, 3))
    np.testing.assert_array_equal(difference, np.abs(source - reconstruction))
    # the reconstruction is the fitted latent rendered with the fitted noise maps
    noise = [data[f"noise{i}"] for i in range(len(G.noise_shapes))]
    expected = stylegan2.to_uint8(G.synthesis(data["w"], noise=noise)).reshape(32, 16, 3)
    assert np.abs(reconstruction - expected.astype(int)).max() <= 1
    settings = json.loads((projected_wplus / "project.json").read_text())
    assert settings["space"] == "w+" and settings["steps"] == 4 and settings["seed"] == 2
    assert not [p for p in projected_wplus.parent.iterdir() if p.name.startswith(".")]


def test_wplus_latents_edited_by_manipulate(tmp_path, projected_wplus, model_dir, tiny_generator, config):
    """manipulate.py --input_dir edits project.py's W+ latents: each through its mean over layers, the
    edit's change added to the base's layers (here 1:4); the strip's first frame is the projected latent."""
    from gradctrl.classifier.model import load_classifier
    from gradctrl.edit.editing import edit_trajectory

    out = tmp_path / "edits"
    assert manipulate.main(["--model_dir", str(model_dir), "--attribute", "a", "--out_dir", str(out), "--config",
                            str(config), "--input_dir", str(projected_wplus), "--steps", "2", "--layerwise", "1:4",
                            "--exclude", "none", "--no_progress"]) == 0
    ws = np.load(projected_wplus / "latents.npz")["w"]
    edits = np.load(out / "a_edits.npz")
    np.testing.assert_array_equal(edits["ws0"], ws)
    np.testing.assert_allclose(edits["w0"], ws.mean(axis=1), atol=1e-6)
    expected = edit_trajectory(load_classifier(model_dir), ws.mean(axis=1), "a", 1, steps=2)
    np.testing.assert_allclose(edits["traj_positive"], expected, atol=1e-6)
    G = tiny_generator
    codes = wplus(edits["w0"], expected, G.num_ws, (1, 4), ws)
    np.testing.assert_allclose(codes[:, :, [0, 4, 5]], np.repeat(ws[:, None], 2, axis=1)[:, :, [0, 4, 5]])
    frames = np.concatenate([render_uint8(G, ws)[:, None], render_uint8(G, codes.reshape(4, G.num_ws, -1))
                             .reshape(2, 2, 16, 16, 3)], axis=1)
    for i in range(2):
        strip = np.asarray(Image.open(out / f"{i:04d}_a_positive.png")).astype(int)
        assert np.abs(strip - np.concatenate(list(frames[i]), axis=1)).max() <= 1

    figure = tmp_path / "figure.png"
    assert figures.main(["--config", str(config), "--model_dir", str(model_dir), "--out", str(figure),
                         "--input_dir", str(projected_wplus), "--n_samples", "1", "--attributes", "a",
                         "--no_progress", "--width", "160"]) == 0
    assert figure.is_file()


def test_figure_strips_start_with_the_source(tmp_path, config, model_dir, projected_wplus, sources, tiny_generator):
    """figures.py --input_dir on project.py's folder: each strip is the source, the reconstruction (the W+
    latent rendered with the stored noise), then the 9 steps; from the same latents in an .npy (no sources)
    the strip starts with the reconstruction."""
    ws = np.load(projected_wplus / "latents.npz")["w"]
    reconstruction = render_uint8(tiny_generator, ws[:1])[0]
    copy = tmp_path / "latents.npy"
    np.save(copy, ws)
    for input_dir, frames, first in ((projected_wplus, 11, sources[1][0]), (copy, 10, reconstruction)):
        figure = tmp_path / f"figure{frames}.png"
        assert figures.main(["--config", str(config), "--model_dir", str(model_dir), "--out", str(figure),
                             "--input_dir", str(input_dir), "--n_samples", "1", "--attributes", "a",
                             "--no_progress", "--width", str(16 * frames)]) == 0
        image = np.asarray(Image.open(figure).convert("RGB")).astype(int)
        strip = image[:16, image.shape[1] - 16 * frames:]   # the first row, right of the label column
        assert np.abs(strip[:, :16] - first.astype(int)).max() <= 1
        if frames == 11:
            assert np.abs(strip[:, 16:32] - reconstruction.astype(int)).max() <= 1


def test_w_space_latents_are_plain_w(tmp_path, config, sources, model_dir):
    """--space w writes (N, num_ws, w_dim) with every layer equal; manipulate edits them as plain w."""
    out = tmp_path / "w"
    run_project("--config", config, "--images", sources[0], "--out_dir", out, "--steps", 2)
    ws = np.load(out / "latents.npz")["w"]
    np.testing.assert_array_equal(ws, np.repeat(ws[:, :1], ws.shape[1], axis=1))
    edits_dir = tmp_path / "edits"
    manipulate.main(["--model_dir", str(model_dir), "--attribute", "b", "--out_dir", str(edits_dir), "--config",
                     str(config), "--input_dir", str(out / "latents.npz"), "--steps", "1", "--exclude", "none",
                     "--no_progress"])
    edits = np.load(edits_dir / "b_edits.npz")
    np.testing.assert_array_equal(edits["w0"], ws[:, 0])
    assert "ws0" not in edits.files


def test_wplus_render_of_a_broadcast_base_is_the_w_render():
    """wplus with a base holding w0 in every layer gives the plain w codes."""
    rng = np.random.default_rng(0)
    w0, steps = rng.standard_normal((3, 5)).astype(np.float32), rng.standard_normal((3, 2, 5)).astype(np.float32)
    base = np.repeat(w0[:, None], 4, axis=1)
    np.testing.assert_allclose(wplus(w0, steps, 4, (1, 3), base), wplus(w0, steps, 4, (1, 3)), atol=1e-6)


def test_read_targets_fits_images(tmp_path):
    """A 48 x 32 RGBA image at 16 px: alpha dropped, 2 x 2 area means, the middle 16 columns of 24; a grey
    16 px image repeated into RGB; notes say what was done."""
    rng = np.random.default_rng(1)
    rgba = rng.integers(0, 256, (32, 48, 4), dtype=np.uint8)
    grey = rng.integers(0, 256, (16, 16), dtype=np.uint8)
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(rgba).save(folder / "a.png")
    Image.fromarray(grey).save(folder / "b.png")
    images, names, notes = read_targets(folder, 16)
    assert names == ["a.png", "b.png"] and images.shape == (2, 16, 16, 3) and images.dtype == np.uint8
    means = rgba[..., :3].astype(float).reshape(16, 2, 24, 2, 3).mean(axis=(1, 3))[:, 4:20]
    assert np.abs(images[0] - means).max() <= 1
    np.testing.assert_array_equal(images[1], np.repeat(grey[..., None], 3, axis=2))
    assert notes == ["alpha dropped from RGBA images", "grey images repeated into RGB",
                     "images area-downscaled to 16 px on the shorter side and centre-cropped to a square"]


def _bad_inputs(tmp_path):
    """Each bad --images source (or flag) and a word its message must hold."""
    cases = []
    empty = tmp_path / "empty"
    empty.mkdir()
    cases.append(("empty folder", ["--images", empty], "is empty"))
    text = tmp_path / "text"
    text.mkdir()
    (text / "notes.txt").write_text("hello")
    cases.append(("non-image file", ["--images", text], "not a PNG or JPEG"))
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    good = tmp_path / "good.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(good)
    (corrupt / "broken.png").write_bytes(good.read_bytes()[:len(good.read_bytes()) // 2])  # cut mid-stream
    cases.append(("corrupt PNG", ["--images", corrupt], "cannot be decoded"))
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tiny / "dot.png")
    cases.append(("1x1 image", ["--images", tiny], "1 x 1 px"))
    np.save(tmp_path / "shape.npy", np.zeros((2, 16, 16), np.uint8))
    cases.append((".npy of the wrong shape", ["--images", tmp_path / "shape.npy"], "expected uint8"))
    np.save(tmp_path / "dtype.npy", np.zeros((2, 16, 16, 3), np.float32))
    cases.append((".npy of the wrong dtype", ["--images", tmp_path / "dtype.npy"], "float32"))
    cases.append(("--steps 0", ["--images", tmp_path / "dtype.npy", "--steps", 0], "--steps 0"))
    return cases


def test_bad_inputs_one_line_exit_2(tmp_path, config, capsys):
    for what, flags, word in _bad_inputs(tmp_path):
        out = tmp_path / "out"
        with pytest.raises(SystemExit) as exit_info:
            run_project("--config", config, "--out_dir", out, *flags)
        assert exit_info.value.code == 2, what
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and word in err, (what, err)
        assert not out.exists() and not [p for p in tmp_path.iterdir() if ".out" in p.name], what


def test_refuses_a_foreign_out_dir(tmp_path, config, sources, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis.txt").write_text("keep me")
    with pytest.raises(SystemExit):
        run_project("--config", config, "--images", sources[0], "--out_dir", out, "--steps", 1)
    assert "not project.py output" in capsys.readouterr().err
    assert (out / "thesis.txt").read_text() == "keep me"


def test_tuned_generator_loads_and_edits(tmp_path, config, sources, model_dir):
    """--tune_generator writes tuned_generator.pkl: it loads through the safe reader, renders the latents as the
    reconstructions show them (stored noise), and manipulate.py --generator edits with it."""
    out = tmp_path / "tuned"
    run_project("--config", config, "--images", sources[0], "--out_dir", out, "--steps", 2, "--tune_generator", 3)
    G = stylegan2.load_generator(out / "tuned_generator.pkl")
    ws = np.load(out / "latents.npz")["w"]
    assert np.load(out / "latents.npz")["tune_loss"].shape == (3, 2)
    sheet = np.asarray(Image.open(out / "reconstructions.png"))
    np.testing.assert_array_equal(sheet[:, 16:32], render_uint8(G, ws).reshape(32, 16, 3))
    settings = json.loads((out / "project.json").read_text())
    assert settings["tuned_generator"] == "tuned_generator.pkl" and settings["tune_generator"] == 3
    edits = tmp_path / "edits"
    assert manipulate.main(["--model_dir", str(model_dir), "--attribute", "a", "--out_dir", str(edits),
                            "--generator", str(out / "tuned_generator.pkl"), "--input_dir", str(out),
                            "--steps", "1", "--exclude", "none", "--no_progress"]) == 0
    strip = np.asarray(Image.open(edits / "0000_a_positive.png"))
    assert np.abs(strip[:, :16].astype(int) - sheet[:16, 16:32]).max() <= 1


def test_refuses_a_vgg16_file_that_is_not_vgg16(tmp_path, config, sources, capsys):
    from gradctrl.world import SCORER_PATH

    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        run_project("--config", config, "--images", sources[0], "--out_dir", out, "--vgg16", SCORER_PATH)
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and len(err.splitlines()) == 1 and "is not VGG16" in err
    assert not out.exists()


def test_the_folder_has_a_page_made_from_its_files(projected_wplus):
    """index.html: the reconstructions, a row per image with project.json's pixel errors and latents.npz's
    distances, the settings, and a link to every other file of the folder."""
    page = (projected_wplus / "index.html").read_text()
    settings = json.loads((projected_wplus / "project.json").read_text())
    data = np.load(projected_wplus / "latents.npz")
    assert 'src="reconstructions.png"' in page
    for name, error, distance in zip(settings["names"], settings["pixel_mean_abs_error"], data["distance"]):
        assert f"<td>{name}</td><td>{error:.4f}</td><td>{error:.4f}</td><td>{distance[0]:.4f}</td>" \
               f"<td>{distance[-1]:.4f}</td>" in page
    for name in ("latents.npz", "project.json", "reconstructions.png"):
        assert f'href="{name}"' in page
    assert page.count("<polyline") == 2                    # the mean distance and the first image's


def test_the_page_in_a_browser(projected_wplus, tmp_path):
    require_browser()
    seen = open_page(projected_wplus / "index.html", tmp_path / "projection.png")
    assert seen["images"] and all(i["naturalWidth"] > 0 for i in seen["images"])
    assert not outside(seen["requests"], projected_wplus) and not seen["console"]
    assert seen["tables"][0]["rows"] == 2                  # the per-image table: one row per source image
    assert (tmp_path / "projection.png").stat().st_size > 0
