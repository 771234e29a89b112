"""Training images for :mod:`stylegan2.training`: a folder of PNGs or a uint8 array file, checked and held in memory."""
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import InputError

MIN_IMAGES = 16


def load_images(path):
    """Read a training set -> uint8 ndarray (N, R, R, C), NHWC, C in {1, 3, 4}.

    path: a folder of ``.png`` files (sorted by name; all the same size and mode), a ``.npy`` file holding
    a uint8 (N, R, R, C) array, or a ``.npz`` file with one such array (named ``images`` when it has
    several). R must be a power of two >= 8, N >= 16. InputError (one line) for anything else. PNG pixels are
    read as they are seen: palette PNGs as their colours, 16-bit grey as round(v * 255 / 65535); modes
    without an 8-bit reading (floating point) are refused.
    """
    path = Path(path)
    what = f"--data '{path}'"
    if not path.exists():
        raise InputError(f"{what} does not exist: give a folder of PNG files or a .npy/.npz uint8 array (N, H, W, C)")
    if path.is_dir():
        images = _read_png_folder(path, what)
    elif path.suffix in (".npy", ".npz"):
        images = _read_array(path, what)
    else:
        raise InputError(f"{what} is neither a folder nor a .npy/.npz file: give a folder of PNG files or an array file")
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if images.ndim != 4 or images.shape[1] != images.shape[2]:
        raise InputError(f"{what} holds an array of shape {images.shape}: expected square images (N, R, R, C)")
    n, r, _, c = images.shape
    if r < 8 or 2 ** int(np.round(np.log2(r))) != r:
        raise InputError(f"{what}: image size {r}x{r} is not a power of two >= 8: resize the images (e.g. to 32 or 64)")
    if c not in (1, 3, 4):
        raise InputError(f"{what}: images have {c} channels; expected 1, 3 or 4")
    if n < MIN_IMAGES:
        raise InputError(f"{what} holds {n} images; training needs at least {MIN_IMAGES}")
    return images


def _read_array(path, what):
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise InputError(f"{what} cannot be read as a numpy array file ({' '.join(str(e).split())[:120]}): "
                         "save it with numpy.save / numpy.savez") from None
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            names = data.files
            if len(names) != 1 and "images" not in names:
                raise InputError(f"{what} holds arrays {names}: name the images array 'images'")
            array = data["images" if "images" in names else names[0]]
    else:
        array = data
    if array.dtype != np.uint8:
        raise InputError(f"{what} holds {array.dtype} values; expected uint8 pixels (0-255)")
    return array


def _read_png_folder(path, what):
    files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".png")
    if not files:
        raise InputError(f"{what} holds no .png files: give a folder of PNG images or an array file")
    images = []
    for file in files:
        try:
            with Image.open(file) as image:
                array = _eight_bit(image, f"{what}: '{file.name}'")
        except (OSError, UnidentifiedImageError):
            raise InputError(f"{what}: '{file.name}' is not a readable PNG image: remove or replace it") from None
        if images and array.shape != images[0].shape:
            raise InputError(f"{what}: '{file.name}' has shape {array.shape} but '{files[0].name}' has "
                             f"{images[0].shape}: all images must have the same size and channels")
        images.append(array)
    return np.stack(images)


# PNG modes read as they are (uint8 per channel), and those Pillow converts to one of them without loss
# of meaning: palette colours (with their transparency), 1-bit, and colour spaces other than RGB.
_EIGHT_BIT_MODES = ("L", "LA", "RGB", "RGBA")
_CONVERSIONS = {"P": "RGB", "PA": "RGBA", "1": "L", "CMYK": "RGB", "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB"}
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")  # Pillow reads 16-bit grey PNGs as one of them


def _eight_bit(image, what):
    """A PIL image -> uint8 (R, R) or (R, R, C), each pixel as it is seen: palette indices as their colours,
    16-bit grey as round(v * 255 / 65535); InputError (``what`` names the file) for a mode without such a
    reading (floating point, or integers beyond 16 bits)."""
    if image.mode in _EIGHT_BIT_MODES:
        return np.asarray(image)
    if image.mode in _CONVERSIONS:
        target = _CONVERSIONS[image.mode]
        if image.mode == "P" and "transparency" in image.info:
            target = "RGBA"
        return np.asarray(image.convert(target))
    if image.mode in _SIXTEEN_BIT_MODES:
        values = np.asarray(image).astype(np.int64)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise InputError(f"{what} has pixels of mode {image.mode} outside 0-65535: save it as 8- or 16-bit PNG")
        return ((values * 255 + 32767) // 65535).astype(np.uint8)  # round(v * 255 / 65535), halves up
    kind = " (32-bit floating point)" if image.mode == "F" else ""
    raise InputError(f"{what} has pixels of mode {image.mode}{kind}, which have no 8-bit reading: save it as an "
                     "8-bit (or 16-bit) grey, RGB or RGBA PNG")
