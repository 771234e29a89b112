"""Figure assembly: cropping to NVIDIA's car frame, downscaling strips, labelled rows, atomic PNG."""
import numpy as np
import pytest
from PIL import Image

from gradctrl import UserError
from gradctrl.figures import (LABEL_WIDTH, assemble_figure, crop_to_aspect, parse_aspect, parse_layers, save_png,
                              strip_image)


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
    assert figure.size == (LABEL_WIDTH + 256, 28 + 3 * 64)
    pixels = np.asarray(figure)
    assert (pixels[28 + 64 + 32, LABEL_WIDTH + 10] == 60).all()       # row 1's band holds row 1's frames
    assert (pixels[28:, :LABEL_WIDTH] < 128).any()                     # some label text was drawn
    path = tmp_path / "sub" / "figure.png"
    save_png(figure, path)
    assert Image.open(path).size == figure.size and [p.name for p in path.parent.iterdir()] == ["figure.png"]
    with pytest.raises(UserError, match="at least one row"):
        assemble_figure([], width=256)


def test_layerwise_flag_is_checked_against_the_generator():
    assert parse_layers("2:10", 18) == (2, 10)
    with pytest.raises(UserError, match=r"--layerwise 2:10: W\+ layers \[2, 10\) must satisfy 0 <= lo < hi <= 8"):
        parse_layers("2:10", 8)
    with pytest.raises(UserError, match="expected lo:hi"):
        parse_layers("2-10", 8)
