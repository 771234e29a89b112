"""stylegan2.images.write_png: the one PNG writer (atomic, its folder created, bad images refused)."""
import numpy as np
import pytest
from PIL import Image

from stylegan2 import InputError
from stylegan2.images import write_png


@pytest.mark.parametrize("channels", [1, 3])
def test_write_png_roundtrip(tmp_path, channels):
    image = np.random.default_rng(4).integers(0, 256, (5, 7, channels), dtype=np.uint8)
    write_png(tmp_path / "sub" / "x.png", image)
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["x.png"]
    read = np.asarray(Image.open(tmp_path / "sub" / "x.png"))
    np.testing.assert_array_equal(read.reshape(image.shape), image)


def test_write_png_refuses_bad_images(tmp_path):
    with pytest.raises(InputError, match=r"\(H, W, 1\|3\|4\) uint8"):
        write_png(tmp_path / "x.png", np.zeros((4, 4, 3), np.float32))
    assert list(tmp_path.iterdir()) == []
