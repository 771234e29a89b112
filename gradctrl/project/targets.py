"""Target images for projection (``project.py --images``): read, converted and fitted to the generator's size.

A source is a folder of PNG / JPEG files (read in name order) or an ``.npy`` array of uint8 images (N, H, W, C)
with C = 1 (grey), 3 (RGB) or 4 (RGBA). Each image is converted to the generator's channels (grey -> RGB by
repeating the channel, RGBA -> RGB by dropping alpha, RGB -> grey by luminance for a one-channel generator),
resized with area averaging (PIL's box filter) so that its shorter side is the generator's resolution, and
centre-cropped to a square. What was done is returned as notes, one line per kind of change.
"""
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MIN_SIDE = 8  # px: a smaller source holds too little of a face to fit


def read_targets(path, resolution, channels=3):
    """The images at ``path`` fitted to the generator -> (images uint8 (N, R, R, channels), names list of str,
    notes list of str). ``names``: the file names, or ``<stem>[i]`` for an .npy array. UserError (naming the
    file and the fix) for a missing path, an empty folder, a file that is not a readable PNG / JPEG, an .npy
    not uint8 (N, H, W, 1|3|4), or an image under :data:`MIN_SIDE` px."""
    path = Path(path)
    if path.is_dir():
        sources, names = _read_folder(path)
    elif path.is_file() and path.suffix == ".npy":
        sources, names = _read_npy(path)
    elif path.exists():
        raise UserError(f"--images '{path}': expected a folder of PNG / JPEG files or an .npy of uint8 (N, H, W, C) "
                        "images")
    else:
        raise UserError(f"--images '{path}' not found")
    for image, name in zip(sources, names):
        if min(image.shape[:2]) < MIN_SIDE:
            raise UserError(f"--images: '{name}' is {image.shape[1]} x {image.shape[0]} px: images need at least "
                            f"{MIN_SIDE} px on each side; remove it")
    notes = set()
    fitted = np.stack([_fit(image, resolution, channels, notes) for image in sources])
    return fitted, names, sorted(notes)


def _read_folder(folder):
    """Every non-hidden file of ``folder``, decoded -> (list of uint8 (H, W, C), names)."""
    files = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    if not files:
        raise UserError(f"--images '{folder}' is empty: put PNG or JPEG images in it")
    images = []
    for file in files:
        if not file.is_file() or file.suffix.lower() not in IMAGE_SUFFIXES:
            raise UserError(f"--images: '{file}' is not a PNG or JPEG file: the folder must hold only images "
                            f"({', '.join(IMAGE_SUFFIXES)}); move it out")
        try:
            with Image.open(file) as image:
                image.load()
                images.append(_as_array(image))
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
            raise UserError(f"--images: '{file}' cannot be decoded ({' '.join(str(e).split())[:200]}): "
                            "replace or remove it") from None
    return images, [file.name for file in files]


def _as_array(image):
    """A PIL image -> uint8 (H, W, 1 | 3 | 4): grey, RGB, or RGBA (palettes and other modes via RGB / RGBA)."""
    if image.mode in ("L", "RGB", "RGBA"):
        array = np.asarray(image)
    elif image.mode in ("LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        array = np.asarray(image.convert("RGBA"))
    elif image.mode in ("I", "I;16", "F"):
        array = np.asarray(image.convert("L"))
    else:
        array = np.asarray(image.convert("RGB"))
    return array[..., None] if array.ndim == 2 else array


def _read_npy(path):
    """An .npy of uint8 (N, H, W, 1|3|4) -> (list of images, names)."""
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise UserError(f"--images '{path}' is not a readable .npy array ({' '.join(str(e).split())[:200]})") from None
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[3] not in (1, 3, 4) or len(array) == 0:
        raise UserError(f"--images '{path}' holds {array.dtype} {array.shape}: expected uint8 images "
                        "(N >= 1, H, W, C) with C = 1, 3 or 4")
    return list(array), [f"{path.stem}[{i}]" for i in range(len(array))]


def _fit(image, resolution, channels, notes):
    """One uint8 (H, W, C) image -> (R, R, channels): channels converted, area-resized so the shorter side is R,
    centre-cropped; each change adds a note."""
    if image.shape[2] == 4:
        image = image[..., :3]
        notes.add("alpha dropped from RGBA images")
    if image.shape[2] == 1 and channels == 3:
        image = np.repeat(image, 3, axis=2)
        notes.add("grey images repeated into RGB")
    elif image.shape[2] == 3 and channels == 1:
        image = np.asarray(Image.fromarray(image).convert("L"))[..., None]
        notes.add("RGB images converted to grey (luminance)")
    h, w = image.shape[:2]
    if (h, w) != (resolution, resolution):
        scale = resolution / min(h, w)
        size = (max(resolution, round(w * scale)), max(resolution, round(h * scale)))
        pil = Image.fromarray(image[..., 0] if channels == 1 else image)
        image = np.asarray(pil.resize(size, Image.Resampling.BOX))
        image = image[..., None] if image.ndim == 2 else image
        top, left = (size[1] - resolution) // 2, (size[0] - resolution) // 2
        image = image[top:top + resolution, left:left + resolution]
        verb = "area-downscaled" if scale < 1 else "upscaled (box filter)"
        notes.add(f"images {verb} to {resolution} px on the shorter side"
                  + (" and centre-cropped to a square" if h != w else ""))
    return image
