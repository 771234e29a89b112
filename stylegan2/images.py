"""NVIDIA's conversion of raw generator output to 8-bit images."""
import io

import numpy as np
from PIL import Image

from .atomic import atomic_write
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


def write_png(path, image, compress_level=6):
    """Write an (H, W, C) uint8 image as PNG at ``path`` atomically (its folder created if missing).

    C = 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA). compress_level: zlib level 0-9; PIL's default 6
    gives the smallest files, 1 encodes about 5x faster for files about 20 % larger (used where encoding
    runs beside rendering). Anything else is an :class:`InputError` and writes nothing.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or not 1 <= image.shape[2] <= 4:
        raise InputError(f"an image to save as PNG must be (H, W, 1|3|4) uint8 (or 2 channels: grey and alpha), "
                         f"got {image.dtype} {image.shape}")
    with atomic_write(path) as file:
        Image.fromarray(image[..., 0] if image.shape[2] == 1 else image).save(file, format="PNG",
                                                                             compress_level=compress_level)


def gif_bytes(frames, frame_ms=200, hold_ms=800):
    """An animated GIF, looping forever, of ``frames`` (F, H, W, 3) uint8 -> bytes: each frame shown
    ``frame_ms`` milliseconds, the first and last held ``hold_ms`` (so a path's ends are seen). Colours are
    reduced to GIF's 256 colours once for all frames (one shared palette, PIL's fast octree), which costs a
    tenth of reducing each frame on its own."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or not len(frames):
        raise InputError(f"GIF frames must be (F, H, W, 3) uint8 with F >= 1, got {frames.dtype} {frames.shape}")
    count, height, width, _ = frames.shape
    shared = Image.fromarray(frames.reshape(count * height, width, 3)).quantize(256, Image.Quantize.FASTOCTREE)
    images = [shared.crop((0, i * height, width, (i + 1) * height)) for i in range(count)]
    durations = [hold_ms if i in (0, len(images) - 1) else frame_ms for i in range(len(images))]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0,
                   disposal=1, optimize=False)  # PIL's palette optimisation triples the time for no smaller file here
    return buffer.getvalue()
