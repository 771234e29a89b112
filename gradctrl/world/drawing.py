"""A ground-truth world: aligned cartoon faces drawn from known factors, with planted correlations.

GradCtrl edits one attribute without dragging along the attributes correlated with it in the data. To
measure that without a pretrained GAN, this module draws a small world where every attribute of every
image is known exactly; a StyleGAN2 trained on it (32 px) can then be edited and each edit scored by an
exact scorer (a small CNN trained on the drawn images, see :func:`gradctrl.world.scorer.train_scorer`).

Each face is drawn with Pillow on a canvas ``SUPERSAMPLE`` times the output resolution (128 px for 32 px
output) and box-downscaled (antialiased) to the output. Coordinates below are fractions of the image side.

Factors (one value per image; see ``FACTORS``):

- ``eyeglasses`` (binary): thick near-black round rims around both eyes, a bridge and arms to the face edge.
- ``smile`` (continuous, |smile| in [0.25, 1], sign +/-): the mouth line's curvature; the corners sit
  ``smile * 0.04`` above the mouth's centre line and its middle as far below. Label: smile > 0.
- ``age`` (continuous in [0, 1]): hair greyness; the hair colour is mixed ``0.6 * age`` of the way toward
  light grey, so the hair colour class stays recognisable at every age. Label: old = age > 0.5.
- ``hair_length`` (binary, 1 = long): long hair falls beside the face and neck to the shoulders.
- ``pose`` (continuous yaw in [-1, 1]): the head outline moves 0.03 * pose and the eyes, nose and mouth
  0.10 * pose to the side (so the outline is asymmetric about them); the ear on the side they move away
  from grows, the other shrinks.
- ``hair_colour`` (class): black, brown, blond or red.
- nuisance: ``skin_tone`` (light to dark), ``background`` (pale blue to pale teal), ``face_width``.

Planted correlations (as eyeglasses go with age in FFHQ): P(eyeglasses | old) = 0.70, P(eyeglasses | young)
= 0.15; P(smile > 0 | long hair) = 0.75, P(smile > 0 | short hair) = 0.25. Every other pair is independent;
pose vs eyeglasses and hair colour vs everything are the stated controls. Each factor is drawn from its
own random stream of uniforms, so the first k faces of a seed are the same for every n >= k.

The exact scorer is :mod:`gradctrl.world.scorer`, the commands ``python -m gradctrl.world``
(:mod:`gradctrl.world.__main__`).
"""
import json
import os
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

from stylegan2.atomic import atomic_dir
from stylegan2.errors import check_fits_in_memory
from stylegan2.images import write_png

from ..errors import UserError
from ..options import check_int

SUPERSAMPLE = 4
MIN_RESOLUTION = 16  # drawn at >= 64 px

P_GLASSES_OLD = 0.70
P_GLASSES_YOUNG = 0.15
OLD_AGE = 0.5
P_SMILE_LONG = 0.75
P_SMILE_SHORT = 0.25
P_LONG_HAIR = 0.5
MIN_SMILE = 0.25
MAX_GREY = 0.6

HAIR_COLOURS = ("black", "brown", "blond", "red")
HAIR_RGB = np.array([[35, 30, 30], [115, 70, 40], [230, 195, 110], [190, 70, 30]], np.float64)
GREY_RGB = np.array([215, 215, 215], np.float64)
SKIN_LIGHT, SKIN_DARK = np.array([250, 220, 195], np.float64), np.array([180, 125, 90], np.float64)
BACKGROUND_A, BACKGROUND_B = np.array([150, 175, 220], np.float64), np.array([150, 200, 190], np.float64)
SHIRT_RGB = (85, 110, 85)
FEATURE_RGB = (25, 20, 20)  # eyes and glasses rims
MOUTH_RGB = (120, 25, 35)

# name -> (kind, range or class names, description)
FACTORS = {
    "eyeglasses": ("binary", [0, 1], "thick dark rims, a bridge and arms across the eye band"),
    "smile": ("continuous", [-1.0, 1.0], f"mouth curvature, |smile| in [{MIN_SMILE}, 1]; label smile > 0"),
    "age": ("continuous", [0.0, 1.0], f"hair greyness: hair mixed {MAX_GREY} * age toward grey; label age > {OLD_AGE}"),
    "hair_length": ("binary", [0, 1], "1: long hair beside the face down to the shoulders"),
    "pose": ("continuous", [-1.0, 1.0], "yaw: features and outline shift sideways, ears unequal"),
    "hair_colour": ("class", list(HAIR_COLOURS), "base hair colour before greying"),
    "skin_tone": ("continuous", [0.0, 1.0], "nuisance: light to dark skin"),
    "background": ("continuous", [0.0, 1.0], "nuisance: pale blue to pale teal"),
    "face_width": ("continuous", [0.0, 1.0], "nuisance: face half-width 0.19 to 0.25 of the image"),
}
ATTRIBUTES = ("eyeglasses", "smile", "age", "hair_length", "pose", "hair_colour")

PLANTED = [
    {"name": "P(eyeglasses | old)", "given": f"age > {OLD_AGE}", "value": P_GLASSES_OLD},
    {"name": "P(eyeglasses | young)", "given": f"age <= {OLD_AGE}", "value": P_GLASSES_YOUNG},
    {"name": "P(smile > 0 | long hair)", "given": "hair_length = 1", "value": P_SMILE_LONG},
    {"name": "P(smile > 0 | short hair)", "given": "hair_length = 0", "value": P_SMILE_SHORT},
    {"name": "P(eyeglasses | pose > 0) - P(eyeglasses | pose <= 0)", "given": "control", "value": 0.0},
    {"name": "P(hair_colour = blond | eyeglasses) - P(hair_colour = blond | no eyeglasses)", "given": "control",
     "value": 0.0},
]

# The attribute pairs the world correlates (the planted pairs) and a pair it leaves independent (the control
# pair), as (target, partner): configs/world.toml's [claims] table restates them for evaluate.py --claims
# (gradctrl.evaluate.claims.measure_claims), and tests/test_claims.py checks that the two agree.
PLANTED_PAIRS = (("eyeglasses", "age"), ("smile", "hair_length"))
CONTROL_PAIRS = (("eyeglasses", "pose"),)

_STREAMS = ("age", "eyeglasses", "hair_length", "smile_sign", "smile_size", "pose", "hair_colour",
            "skin_tone", "background", "face_width")


def sample_factors(n, seed):
    """Draw the factors of ``n`` faces -> dict name -> array (n,) (see ``FACTORS``).

    eyeglasses, hair_length: uint8 0/1; hair_colour: uint8 class index into ``HAIR_COLOURS``; the others
    float32. A seed fixes every value, and the first k values are the same for every n >= k.
    """
    n = int(n)
    streams = np.random.SeedSequence(int(seed)).spawn(len(_STREAMS))
    u = {name: np.random.default_rng(s).random(n) for name, s in zip(_STREAMS, streams)}
    age = u["age"]
    eyeglasses = u["eyeglasses"] < np.where(age > OLD_AGE, P_GLASSES_OLD, P_GLASSES_YOUNG)
    long_hair = u["hair_length"] < P_LONG_HAIR
    smiling = u["smile_sign"] < np.where(long_hair, P_SMILE_LONG, P_SMILE_SHORT)
    size = MIN_SMILE + (1 - MIN_SMILE) * u["smile_size"]
    return {
        "eyeglasses": eyeglasses.astype(np.uint8),
        "smile": np.where(smiling, size, -size).astype(np.float32),
        "age": age.astype(np.float32),
        "hair_length": long_hair.astype(np.uint8),
        "pose": (2 * u["pose"] - 1).astype(np.float32),
        "hair_colour": np.minimum(u["hair_colour"] * len(HAIR_COLOURS), len(HAIR_COLOURS) - 1).astype(np.uint8),
        "skin_tone": u["skin_tone"].astype(np.float32),
        "background": u["background"].astype(np.float32),
        "face_width": u["face_width"].astype(np.float32),
    }


def label_table(factors):
    """The class labels of the attributes -> dict name -> int64 (n,): eyeglasses and hair_length 0/1,
    smile 1 if smile > 0, age 1 if old (age > 0.5), hair_colour its class index."""
    return {
        "eyeglasses": factors["eyeglasses"].astype(np.int64),
        "smile": (factors["smile"] > 0).astype(np.int64),
        "age": (factors["age"] > OLD_AGE).astype(np.int64),
        "hair_length": factors["hair_length"].astype(np.int64),
        "hair_colour": factors["hair_colour"].astype(np.int64),
    }


def hair_rgb(hair_colour, age):
    """Hair colour of class index ``hair_colour`` at ``age`` in [0, 1] -> float (3,) RGB in [0, 255]."""
    grey = MAX_GREY * float(age)
    return (1 - grey) * HAIR_RGB[int(hair_colour)] + grey * GREY_RGB


def _rgb(value):
    return tuple(int(round(v)) for v in value)


def draw_face(factor_values, resolution=32):
    """Draw one face -> uint8 (resolution, resolution, 3). ``factor_values``: dict name -> scalar, every
    name in ``FACTORS``. Drawn at ``SUPERSAMPLE * resolution`` px and box-downscaled."""
    side = SUPERSAMPLE * resolution
    f = {name: float(factor_values[name]) for name in FACTORS}
    pose = f["pose"]
    skin = _rgb((1 - f["skin_tone"]) * SKIN_LIGHT + f["skin_tone"] * SKIN_DARK)
    shade = _rgb(((1 - f["skin_tone"]) * SKIN_LIGHT + f["skin_tone"] * SKIN_DARK) * 0.82)
    hair = _rgb(hair_rgb(f["hair_colour"], f["age"]))
    background = _rgb((1 - f["background"]) * BACKGROUND_A + f["background"] * BACKGROUND_B)

    def px(*xy):
        return [v * side for v in xy]

    def width(w):
        return max(1, round(w * side))

    image = Image.new("RGB", (side, side), background)
    draw = ImageDraw.Draw(image)
    cx = 0.5 + 0.03 * pose  # head outline centre
    fx = 0.5 + 0.10 * pose  # centre of eyes, nose and mouth
    half_width = 0.19 + 0.06 * f["face_width"]
    top, chin = 0.20, 0.74

    draw.ellipse(px(0.10, 0.82, 0.90, 1.30), fill=SHIRT_RGB)
    if f["hair_length"] >= 0.5:
        draw.rounded_rectangle(px(cx - half_width - 0.07, top - 0.05, cx + half_width + 0.07, 0.90),
                               radius=0.12 * side, fill=hair)
    draw.rectangle(px(cx - 0.075, 0.62, cx + 0.075, 0.86), fill=skin)  # neck
    draw.ellipse(px(cx - half_width - 0.03, top - 0.05, cx + half_width + 0.03, 0.58), fill=hair)  # back of head
    for side_sign in (-1, 1):  # the ear on the side the features move away from shows more
        ear = 0.035 * (1 - 0.8 * side_sign * pose)
        edge = cx + side_sign * half_width
        draw.ellipse(px(edge - ear, 0.42, edge + ear, 0.55), fill=skin)
    draw.ellipse(px(cx - half_width, top, cx + half_width, chin), fill=skin)
    draw.chord(px(cx - half_width - 0.02, top - 0.06, cx + half_width + 0.02, top + 0.22), 180, 360, fill=hair)

    eye_y, eye_dx, eye_r = 0.45, 0.085, 0.028
    for side_sign in (-1, 1):
        ex = fx + side_sign * eye_dx
        draw.ellipse(px(ex - eye_r, eye_y - eye_r, ex + eye_r, eye_y + eye_r), fill=FEATURE_RGB)
    if f["eyeglasses"] >= 0.5:
        rim_r, rim_w = 0.072, width(0.038)
        for side_sign in (-1, 1):
            ex = fx + side_sign * eye_dx
            draw.ellipse(px(ex - rim_r, eye_y - rim_r, ex + rim_r, eye_y + rim_r), outline=FEATURE_RGB, width=rim_w)
            outer = ex + side_sign * rim_r
            draw.line(px(outer, eye_y, cx + side_sign * half_width, eye_y), fill=FEATURE_RGB, width=rim_w)
        draw.line(px(fx - eye_dx + rim_r, eye_y, fx + eye_dx - rim_r, eye_y), fill=FEATURE_RGB, width=rim_w)
    draw.ellipse(px(fx - 0.025, 0.52, fx + 0.025, 0.575), fill=shade)  # nose

    mouth_y, mouth_dx, bend = 0.635, 0.10, 0.04 * f["smile"]
    t = np.linspace(-1, 1, 17)
    points = [(x * side, y * side) for x, y in zip(fx + mouth_dx * t, mouth_y + bend * (1 - 2 * t ** 2))]
    mouth_w = width(0.04)
    draw.line(points, fill=MOUTH_RGB, width=mouth_w, joint="curve")
    for x, y in (points[0], points[-1]):
        draw.ellipse([x - mouth_w / 2, y - mouth_w / 2, x + mouth_w / 2, y + mouth_w / 2], fill=MOUTH_RGB)
    return np.asarray(image.reduce(SUPERSAMPLE))


def draw_faces(factors, resolution=32, progress=False):
    """Draw the faces of ``factors`` (dict name -> array (N,), as from :func:`sample_factors`) ->
    uint8 (N, resolution, resolution, 3), RGB, NHWC. Each face depends on its own factors only."""
    check_resolution(resolution)
    n = len(factors["age"])
    images = np.empty((n, resolution, resolution, 3), np.uint8)
    _draw_into(images, factors, resolution, progress)
    return images


def _draw_into(images, factors, resolution, progress):
    names = list(FACTORS)
    for i in tqdm(range(len(images)), desc="drawing", unit="face", disable=not progress, mininterval=1.0):
        images[i] = draw_face({name: factors[name][i] for name in names}, resolution)


def check_draw_flags(n, seed, resolution, pixels_held):
    """UserError unless ``--n_samples`` (>= 1), ``--seed`` (>= 0) and ``--resolution`` are valid and ``n`` faces fit in
    memory: their factors and labels, and ``pixels_held`` RGB pixels each (what the command keeps in memory)."""
    check_resolution(resolution)
    check_int(n, "--n_samples")
    check_int(seed, "--seed", low=0)
    factor_bytes = 2 * sum(value.nbytes for value in sample_factors(1, 0).values())  # factors and labels
    check_fits_in_memory("--n_samples", n, lambda k: k * (factor_bytes + 3 * pixels_held), "the faces")


def check_resolution(resolution):
    """UserError unless ``resolution`` is an int >= MIN_RESOLUTION."""
    if not isinstance(resolution, (int, np.integer)) or resolution < MIN_RESOLUTION:
        raise UserError(f"resolution {resolution!r} is too small: use --resolution {MIN_RESOLUTION} or more "
                        f"(faces are drawn at {SUPERSAMPLE}x and downscaled)")


def measured_correlations(factors):
    """The planted correlations measured on ``factors`` -> list of dicts like ``PLANTED`` with ``measured``
    (a fraction or a difference of fractions), ``n_given`` (samples in the conditioning set) and
    ``standard_error`` (binomial, of the measured value)."""
    old = factors["age"] > OLD_AGE
    glasses = factors["eyeglasses"] == 1
    long_hair = factors["hair_length"] == 1
    smiling = factors["smile"] > 0
    facing_right = factors["pose"] > 0
    blond = factors["hair_colour"] == HAIR_COLOURS.index("blond")

    def fraction(event, given):
        k = int(given.sum())
        p = float(event[given].mean()) if k else float("nan")
        return p, k, float(np.sqrt(p * (1 - p) / k)) if k else float("nan")

    def difference(event, given):
        (p1, k1, s1), (p0, k0, s0) = fraction(event, given), fraction(event, ~given)
        return p1 - p0, min(k1, k0), float(np.hypot(s1, s0))

    values = [fraction(glasses, old), fraction(glasses, ~old), fraction(smiling, long_hair),
              fraction(smiling, ~long_hair), difference(glasses, facing_right), difference(blond, glasses)]
    return [dict(planted, measured=m, n_given=k, standard_error=se) for planted, (m, k, se) in zip(PLANTED, values)]


def mouth_pose(images):
    """Pose read from pixels, independent of the scorer: the horizontal centre of the mouth's red.

    images uint8 (N, R, R, 3) -> (pose (N,) float32, on the factor's scale: the mouth's centre sits at
    0.5 + 0.10 pose of the width; found (N,) bool: at least 3 mouth pixels). Mouth pixels: red exceeding
    green and blue by more than 55 and darker than 175 (MOUTH_RGB and its antialiased edge, not the skin,
    not red hair), in the band the mouth can occupy (rows 0.55-0.72, columns 0.25-0.75 of the image). A
    smile bends the line symmetrically, so it leaves the centre in place. On drawn faces r = 0.99 with the
    true pose (tests/test_world.py)."""
    images = np.asarray(images, np.float32)
    r = images.shape[1]
    cols = np.arange(int(0.25 * r), int(np.ceil(0.75 * r)))
    band = images[:, int(0.55 * r):int(np.ceil(0.72 * r)), cols]
    red, other = band[..., 0], np.maximum(band[..., 1], band[..., 2])
    mask = (red - other > 55) & (red < 175)
    count = mask.sum(axis=(1, 2))
    centre = (mask * ((cols + 0.5) / r)).sum(axis=(1, 2)) / np.maximum(count, 1)
    return ((centre - 0.5) / 0.10).astype(np.float32), count >= 3


def describe(factors, seed, resolution):
    """The JSON-able description of a drawn set: factors (kind, range/classes, drawing), planted and
    measured correlations, seed, resolution, n."""
    return {
        "n": int(len(factors["age"])),
        "seed": int(seed),
        "resolution": int(resolution),
        "drawn_at": int(SUPERSAMPLE * resolution),
        "images": "images.npy: uint8 (N, R, R, 3) RGB, NHWC",
        "factors": {name: {"kind": kind, ("classes" if kind == "class" else "range"): values, "drawing": text}
                    for name, (kind, values, text) in FACTORS.items()},
        "labels": {"eyeglasses": "label_eyeglasses = eyeglasses", "smile": "label_smile = smile > 0",
                   "age": f"label_age = age > {OLD_AGE}", "hair_length": "label_hair_length = hair_length",
                   "hair_colour": "label_hair_colour = hair_colour"},
        "correlations": measured_correlations(factors),
    }


def write_world(out, n, seed, resolution=32, progress=True):
    """Draw ``n`` faces of ``seed`` into the new folder ``out``: images.npy, factors.npz (each factor and
    ``label_<attribute>``) and factors.json (see :func:`describe`). Written under a temporary sibling name,
    then renamed; an existing non-empty ``out`` is refused."""
    out = Path(out)
    check_draw_flags(n, seed, resolution, 0)  # the images go to a file, not to memory
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out_dir '{out}' exists and is not an empty folder: choose another path or remove it")
    factors = sample_factors(n, seed)
    with atomic_dir(out) as tmp:
        images = np.lib.format.open_memmap(tmp / "images.npy", mode="w+", dtype=np.uint8,
                                           shape=(n, resolution, resolution, 3))
        with open(tmp / "images.npy", "r+b") as file:  # a full disk fails here, not as SIGBUS on a page of the map
            os.posix_fallocate(file.fileno(), 0, os.fstat(file.fileno()).st_size)
        _draw_into(images, factors, resolution, progress)
        images.flush()
        del images
        labels = {f"label_{name}": value for name, value in label_table(factors).items()}
        np.savez(tmp / "factors.npz", **factors, **labels)
        (tmp / "factors.json").write_text(json.dumps(describe(factors, seed, resolution), indent=2) + "\n")
    return out


def sweep_factors(seed, columns=8):
    """Factors of a sweep grid -> dict name -> array (rows * columns,): row r varies one attribute across
    the columns from a base face of ``seed`` (rows: eyeglasses, smile, age, hair_length, pose, hair_colour)."""
    base = {name: value[0] for name, value in sample_factors(1, seed).items()}
    base.update(eyeglasses=0, smile=0.6, age=0.0, hair_length=0, pose=0.0)
    sweeps = {
        "eyeglasses": np.arange(columns) % 2,
        "smile": np.linspace(-1, 1, columns),
        "age": np.linspace(0, 1, columns),
        "hair_length": np.arange(columns) % 2,
        "pose": np.linspace(-1, 1, columns),
        "hair_colour": np.arange(columns) % len(HAIR_COLOURS),
    }
    rows = []
    for name, values in sweeps.items():
        for value in values:
            rows.append(dict(base, **{name: value}))
    return {name: np.array([row[name] for row in rows], np.float32) for name in FACTORS}


def tile(images, columns, scale=1):
    """uint8 (N, H, W, 3) -> one uint8 (rows * H * scale, columns * W * scale, 3) grid (nearest upscaling)."""
    n, h, w, c = images.shape
    rows = -(-n // columns)
    padded = np.full((rows * columns, h, w, c), 255, np.uint8)
    padded[:n] = images
    grid = padded.reshape(rows, columns, h, w, c).transpose(0, 2, 1, 3, 4).reshape(rows * h, columns * w, c)
    return grid.repeat(scale, axis=0).repeat(scale, axis=1)


def write_grid(out, n, seed, resolution=32, scale=4, sweep=False):
    """Write a preview PNG: ``n`` faces of ``seed`` in a square-ish grid, or (``sweep``) one row per
    attribute varied from a base face. Each pixel is shown as ``scale`` x ``scale`` pixels."""
    check_int(scale, "--scale")
    check_draw_flags(n, seed, resolution, resolution ** 2)
    check_fits_in_memory("--scale", scale, lambda s: 3 * n * (resolution * s) ** 2, "the grid")
    if sweep:
        images, columns = draw_faces(sweep_factors(seed), resolution), 8
    else:
        images, columns = draw_faces(sample_factors(n, seed), resolution), int(np.ceil(np.sqrt(n)))
    write_png(out, tile(images, columns, scale))
    return out


def read_world(folder, n=None):
    """The first ``n`` (default all) images and factors of a folder written by ``draw`` -> (uint8 images
    (n, R, R, 3), dict name -> (n,) factors)."""
    folder = Path(folder)
    if not (folder / "images.npy").is_file() or not (folder / "factors.npz").is_file():
        raise UserError(f"--data '{folder}' holds no images.npy and factors.npz: draw one with "
                        "'python -m gradctrl.world draw'")
    redraw = "draw the folder again with 'python -m gradctrl.world draw'"
    try:
        images = np.load(folder / "images.npy", mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise UserError(f"--data '{folder}': images.npy is not a readable array ({' '.join(str(e).split())[:100]}): "
                        f"{redraw}") from None
    if images.ndim != 4 or images.shape[1] != images.shape[2] or images.shape[3] != 3 or images.dtype != np.uint8:
        raise UserError(f"--data '{folder}': images.npy holds {images.dtype} {images.shape}, not uint8 RGB faces "
                        f"(N, R, R, 3): {redraw}")
    n = len(images) if n is None else n
    if n > len(images):
        raise UserError(f"--n_samples {n} is more than the {len(images)} faces in '{folder}': "
                        f"use --n_samples {len(images)} or fewer")
    factors = {}
    try:
        with np.load(folder / "factors.npz", allow_pickle=False) as stored:
            for name in FACTORS:
                if name not in stored.files:
                    raise UserError(f"--data '{folder}': factors.npz lacks the factor '{name}': {redraw}")
                factors[name] = stored[name]
                if factors[name].shape != (len(images),) or factors[name].dtype.kind not in "biuf":
                    raise UserError(f"--data '{folder}': factor '{name}' of factors.npz holds {factors[name].dtype} "
                                    f"{factors[name].shape}, not one number per face ({len(images)},): {redraw}")
                factors[name] = factors[name][:n]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        if isinstance(e, UserError):
            raise
        raise UserError(f"--data '{folder}': factors.npz is not readable ({' '.join(str(e).split())[:100]}): "
                        f"{redraw}") from None
    return np.ascontiguousarray(images[:n]), factors
