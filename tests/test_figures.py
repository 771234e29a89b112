"""Figure assembly: cropping to NVIDIA's car frame, downscaling strips, labelled rows, atomic PNG."""
import numpy as np
import pytest
from PIL import Image

from gradctrl import UserError
from gradctrl.evaluate.paper_figures import LABEL_MIN_WIDTH, assemble_figure, crop_to_aspect, parse_aspect, strip_image
from stylegan2.images import write_png


def test_car_crop_keeps_the_512_by_384_picture():
    frames = np.zeros((2, 512, 512, 3), np.uint8)
    frames[:, 64:448] = 200                               # the picture; NVIDIA pads it with black above and below
    cropped = crop_to_aspect(frames, parse_aspect("4:3"))
    assert cropped.shape == (2, 384, 512, 3) and (cropped == 200).all()
    assert crop_to_aspect(np.zeros((1, 30, 60, 3)), 1.0).shape == (1, 30, 30, 3)    # too wide: width shrinks
    with pytest.raises(UserError, match="expected W:H"):
        parse_aspect("4x3")


def test_strip_is_downscaled_to_the_requested_width():
    frames = np.full((10, 1024, 1024, 3), 90, np.uint8)   # ten FFHQ-sized frames
    frames[3] = 250
    strip = strip_image(frames, 1024)
    assert strip.size == (1024, 102)                       # 10 frames in 1024 px: about 102 px each
    pixels = np.asarray(strip)
    assert abs(int(pixels[50, 3 * 102 + 51, 0]) - 250) <= 2 and abs(int(pixels[50, 700, 0]) - 90) <= 2


def test_figure_has_a_label_column_title_and_one_band_per_row(tmp_path):
    rows = ((f"row {i}", np.full((4, 16, 16, 3), 60 * i, np.uint8)) for i in range(3))   # a generator works
    figure = assemble_figure(rows, width=256, title="edits")
    assert figure.size == (LABEL_MIN_WIDTH + 256, 28 + 3 * 64)
    pixels = np.asarray(figure)
    assert (pixels[28 + 64 + 32, LABEL_MIN_WIDTH + 10] == 60).all()   # row 1's band holds row 1's frames
    assert (pixels[28:, :LABEL_MIN_WIDTH] < 128).any()                 # some label text was drawn
    long_label = assemble_figure([("a much longer label than the column", np.zeros((2, 8, 8, 3), np.uint8))], 64)
    assert long_label.width > LABEL_MIN_WIDTH + 64                     # the label column widens to fit
    path = tmp_path / "sub" / "figure.png"
    write_png(path, np.asarray(figure))
    assert Image.open(path).size == figure.size and [p.name for p in path.parent.iterdir()] == ["figure.png"]
    with pytest.raises(UserError, match="at least one row"):
        assemble_figure([], width=256)


def test_figure_command_on_the_tiny_generator(tmp_path, tiny_generator_path, capsys):
    from gradctrl.classifier.model import LatentClassifier, save_classifier
    from gradctrl.commands import figures

    save_classifier(LatentClassifier(32, ["light", "hue"], {"light": 1, "hue": 3}, seed=1), tmp_path / "model")
    config = tmp_path / "c.toml"
    config.write_text(f'[generator]\nfile = "{tiny_generator_path}"\n[attributes.light]\nexclude = {{ hue = 4 }}\n'
                      'layers = [1, 3]\nsteps = 4\n[attributes.hue]\nclasses = 3\nclass_names = ["r", "g", "b"]\n'
                      'steps = 4\n')
    out = tmp_path / "fig.png"
    figures.main(["--config", str(config), "--model_dir", str(tmp_path / "model"), "--out", str(out),
                  "--n_samples", "2", "--width", "320", "--crop_aspect", "4:3"])
    image = Image.open(out)
    # 2 latents x (light +1, light -1, hue r, g, b) rows; 5 frames of 16 x 12 px in 320 px: 48 px high each.
    assert image.size[1] == 10 * 48 and image.size[0] >= LABEL_MIN_WIDTH + 320
    captured = capsys.readouterr()
    assert "wrote" in captured.out
    # issue 13, item 8: one tick per strip, with rate and ETA; none under --no_progress
    assert "strips: 100%" in captured.err and "10/10 [" in captured.err and "strip/s]" in captured.err, captured.err
    figures.main(["--config", str(config), "--model_dir", str(tmp_path / "model"), "--out", str(out),
                  "--n_samples", "1", "--width", "320", "--no_progress"])
    assert capsys.readouterr().err == ""
    with pytest.raises(SystemExit):
        figures.main(["--config", str(config), "--model_dir", str(tmp_path / "model"), "--out", str(out),
                      "--layerwise", "3:9"])
    assert "--layerwise '3:9': must satisfy 0 <= lo < hi <= 6" in capsys.readouterr().err


@pytest.mark.parametrize("script, variable", [("fig_ffhq.sh", "GRADCTRL_FFHQ_PKL"), ("fig_car.sh", "GRADCTRL_CAR_PKL"),
                                              ("fig_cat.sh", "GRADCTRL_CAT_PKL")])
def test_figure_scripts_say_where_to_download_a_missing_generator(tmp_path, script, variable):
    import os
    import subprocess

    from conftest import ROOT

    name = script[4:-3]
    env = dict(os.environ, GRADCTRL_RELEASED=str(tmp_path))
    (tmp_path / f"model_{name}").mkdir()
    (tmp_path / f"model_{name}" / "model.pth").write_bytes(b"")
    (tmp_path / "model.pth").write_bytes(b"")
    result = subprocess.run(["bash", str(ROOT / "scripts" / script), str(tmp_path / "missing.pkl")], env=env,
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (f"{script}: error: generator pickle '{tmp_path / 'missing.pkl'}' not found: download "
                             "NVIDIA's https://nvlabs-fi-cdn.nvidia.com/stylegan2/networks/"
                             f"stylegan2-{name}-config-f.pkl and pass its path as the first argument "
                             f"(or set {variable})\n")
    env["GRADCTRL_RELEASED"] = str(tmp_path / "nowhere")
    env[variable] = str(tmp_path / "model.pth")              # an existing file: the generator check passes
    result = subprocess.run(["bash", str(ROOT / "scripts" / script)], env=env, capture_output=True, text=True,
                            cwd=tmp_path)
    assert result.returncode == 2 and "set GRADCTRL_RELEASED to the folder holding" in result.stderr
