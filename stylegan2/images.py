"""NVIDIA's conversion of raw generator output to 8-bit images."""
import numpy as np

from .errors import InputError


def to_uint8(images):
    """Raw images (any shape, nominally [-1, 1], e.g. (N, H, W, C)) -> np.uint8 of the same shape.

    NVIDIA's ``convert_images_to_uint8``: saturate_cast(x * 127.5 + 128) in float32, i.e. clip to
    [0, 255], then truncate toward zero. NaN is refused.
    """
    x = np.asarray(images, dtype=np.float32)
    if np.isnan(x).any():
        raise InputError("images contain NaN values: they cannot be converted to uint8")
    x = x * np.float32(127.5) + np.float32(128.0)
    return np.clip(x, 0.0, 255.0).astype(np.uint8)
