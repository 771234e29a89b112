"""The drawn world: seeds fix every face, each factor controls its part of the picture (on pixels), the
planted correlations hold, the commands write atomically and refuse bad input, and the shipped exact
scorer reads every attribute."""
import colorsys
import json
from pathlib import Path

import numpy as np
import pytest

from gradctrl import world
from gradctrl.commands import world_tools as world_command
from gradctrl.data.scorers import make_scorer
from gradctrl.errors import UserError

R = 32  # px; a face drawn at resolution R has its fractional coordinate y at row y * R
SHIPPED_SCORER = Path(world.__file__).parents[1] / "assets" / "world_scorer.keras"
BASE = dict(eyeglasses=0, smile=0.6, age=0.0, hair_length=0, pose=0.0, hair_colour=2,  # blond
            skin_tone=0.0, background=0.0, face_width=0.0)


def _face(**changes):
    """float64 (R, R, 3) image of the BASE face with ``changes``."""
    return world.draw_face(dict(BASE, **changes), R).astype(np.float64)


def _luma(image):
    return image @ np.array([0.299, 0.587, 0.114])


def test_a_seed_fixes_every_factor_and_face_whatever_the_chunks():
    factors = world.sample_factors(20, seed=3)
    again = world.sample_factors(20, seed=3)
    prefix = world.sample_factors(7, seed=3)
    other = world.sample_factors(20, seed=4)
    assert set(factors) == set(world.FACTORS)
    for name in world.FACTORS:
        np.testing.assert_array_equal(factors[name], again[name])
        np.testing.assert_array_equal(factors[name][:7], prefix[name])
        assert not np.array_equal(factors[name], other[name]), name
    images = world.draw_faces(factors, R)
    assert images.shape == (20, R, R, 3) and images.dtype == np.uint8
    assert images.tobytes() == world.draw_faces(again, R).tobytes()
    chunks = [world.draw_faces({k: v[a:b] for k, v in factors.items()}, R) for a, b in ((0, 7), (7, 8), (8, 20))]
    assert np.concatenate(chunks).tobytes() == images.tobytes()


def test_factor_ranges_and_labels():
    factors = world.sample_factors(2000, seed=5)
    assert set(np.unique(factors["eyeglasses"])) == {0, 1} and set(np.unique(factors["hair_length"])) == {0, 1}
    assert set(np.unique(factors["hair_colour"])) == {0, 1, 2, 3}
    assert np.all(np.abs(factors["smile"]) >= world.MIN_SMILE) and np.all(np.abs(factors["smile"]) <= 1)
    for name in ("age", "skin_tone", "background", "face_width"):
        assert 0 <= factors[name].min() and factors[name].max() <= 1, name
    assert -1 <= factors["pose"].min() < -0.9 and 0.9 < factors["pose"].max() <= 1
    labels = world.label_table(factors)
    np.testing.assert_array_equal(labels["smile"], factors["smile"] > 0)
    np.testing.assert_array_equal(labels["age"], factors["age"] > 0.5)


def test_eyeglasses_darken_the_eye_band_only():
    without, glasses = _face(eyeglasses=0), _face(eyeglasses=1)
    band = slice(int(0.35 * R), int(0.55 * R) + 1)  # the rims: eye row 0.45 +- (radius 0.072 + half width)
    assert _luma(without[band]).mean() - _luma(glasses[band]).mean() > 15
    outside = np.ones(R, bool)
    outside[band] = False
    np.testing.assert_array_equal(without[outside], glasses[outside])
    # a rim crosses each eye's row beside the eye: near-black pixels there only with glasses
    row = _luma(glasses[int(0.45 * R)])
    assert (row < 90).sum() >= (_luma(without[int(0.45 * R)]) < 90).sum() + 6


def _mouth_rows(image):
    """Row centre of the mouth (pixels redder than the skin) in the mouth's centre and corner columns."""
    redness = np.clip(image[..., 0] - image[..., 1] - 35, 0, None)  # light skin: R - G = 30; mouth: 95
    redness[: int(0.55 * R)] = 0
    rows = np.arange(R)[:, None]

    def centre(columns):
        weights = redness[:, columns]
        return float((weights * rows).sum() / weights.sum())

    middle = int(0.5 * R)
    return centre(slice(middle - 1, middle + 1)), centre(np.r_[int(0.41 * R), int(0.59 * R)])


def test_smile_bends_the_mouth_with_its_sign():
    smile_centre, smile_corners = _mouth_rows(_face(smile=1.0))
    frown_centre, frown_corners = _mouth_rows(_face(smile=-1.0))
    # spec: the centre sits 0.04 * smile below the mouth line and the corners as far above (2.6 px apart at 32 px)
    assert smile_centre - smile_corners > 1.0
    assert frown_corners - frown_centre > 1.0
    weak_centre, weak_corners = _mouth_rows(_face(smile=0.25))
    assert weak_centre > weak_corners


def _hair_top(image):
    """Mean RGB of the hair above the forehead (rows 0.16 to 0.24, central columns)."""
    return image[int(0.16 * R):int(0.24 * R) + 1, int(0.4 * R):int(0.6 * R)].reshape(-1, 3).mean(0)


@pytest.mark.parametrize("hair_colour", range(4))
def test_age_greys_the_hair(hair_colour):
    young = _hair_top(_face(hair_colour=hair_colour, age=0.0))
    old = _hair_top(_face(hair_colour=hair_colour, age=1.0))
    saturation = [colorsys.rgb_to_hsv(*(c / 255))[1] for c in (young, old)]
    assert saturation[1] < 0.5 * saturation[0]
    assert _luma(old) > _luma(young)
    # the colour stays recognisable: at most 60 % of the way to grey
    np.testing.assert_allclose(young, world.HAIR_RGB[hair_colour], atol=3)
    assert np.linalg.norm(old - young) < 0.65 * np.linalg.norm(world.GREY_RGB - young)


def test_hair_colour_classes_differ_in_hue():
    colours = {name: _hair_top(_face(hair_colour=i)) for i, name in enumerate(world.HAIR_COLOURS)}
    hue = {name: colorsys.rgb_to_hsv(*(c / 255))[0] * 360 for name, c in colours.items()}
    assert hue["red"] < hue["brown"] < hue["blond"] < 60
    assert _luma(colours["black"]) < 50 < _luma(colours["brown"]) < _luma(colours["red"]) < _luma(colours["blond"])


def test_long_hair_falls_beside_the_lower_face():
    hair = world.HAIR_RGB[3]
    beside = (slice(int(0.62 * R), int(0.80 * R)), slice(int(0.25 * R), int(0.30 * R) + 1))  # left of the jaw

    def hair_fraction(image):
        return float((np.linalg.norm(image[beside] - hair, axis=-1) < 30).mean())

    assert hair_fraction(_face(hair_colour=3, hair_length=1)) > 0.9
    assert hair_fraction(_face(hair_colour=3, hair_length=0)) == 0


def test_pose_shifts_the_features_more_than_the_outline():
    def centres(image):
        eyes = _luma(image[int(0.40 * R):int(0.50 * R) + 1]) < 100
        skin = np.linalg.norm(image - world.SKIN_LIGHT, axis=-1) < 20
        return np.nonzero(eyes)[1].mean(), np.nonzero(skin)[1].mean()

    (eyes_left, skin_left), (eyes_mid, skin_mid), (eyes_right, skin_right) = (
        centres(_face(pose=p)) for p in (-1.0, 0.0, 1.0))
    assert abs(eyes_mid - (R - 1) / 2) < 0.5
    # spec: the features move 0.10 * pose (3.2 px at 32 px), the outline 0.03 * pose
    assert eyes_right - eyes_mid > 2.5 and eyes_mid - eyes_left > 2.5
    assert abs(skin_right - skin_mid) < 0.5 * (eyes_right - eyes_mid)
    assert abs(skin_mid - skin_left) < 0.5 * (eyes_mid - eyes_left)


def test_planted_correlations_hold_within_sampling_error():
    n = 8000
    f = world.sample_factors(n, seed=11)
    old, glasses, long_hair = f["age"] > 0.5, f["eyeglasses"] == 1, f["hair_length"] == 1

    def within(event, given, expected):
        p, k = event[given].mean(), given.sum()
        assert abs(p - expected) < 4 * np.sqrt(expected * (1 - expected) / k), (p, expected)

    within(glasses, old, 0.70)
    within(glasses, ~old, 0.15)
    within(f["smile"] > 0, long_hair, 0.75)
    within(f["smile"] > 0, ~long_hair, 0.25)
    within(long_hair, np.ones(n, bool), 0.5)
    # controls: eyeglasses do not depend on pose, hair colour depends on nothing
    p_glasses = 0.5 * (0.70 + 0.15)
    within(glasses, f["pose"] > 0, p_glasses)
    within(glasses, f["pose"] <= 0, p_glasses)
    for colour in range(4):
        for given in (glasses, ~glasses, old, long_hair, f["smile"] > 0):
            within(f["hair_colour"] == colour, given, 0.25)
    measured = {c["name"]: c for c in world.measured_correlations(f)}
    assert abs(measured["P(eyeglasses | old)"]["measured"] - glasses[old].mean()) < 1e-12
    for c in measured.values():
        assert abs(c["measured"] - c["value"]) < 4 * c["standard_error"], c


def test_draw_command_writes_the_set_atomically(tmp_path, capsys):
    out = tmp_path / "set"
    world_command.main(["draw", "--n_samples", "12", "--seed", "9", "--out_dir", str(out), "--resolution", "16"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]
    assert sorted(p.name for p in out.iterdir()) == ["factors.json", "factors.npz", "images.npy"]
    factors = world.sample_factors(12, 9)
    np.testing.assert_array_equal(np.load(out / "images.npy"), world.draw_faces(factors, 16))
    with np.load(out / "factors.npz") as stored:
        for name in world.FACTORS:
            np.testing.assert_array_equal(stored[name], factors[name])
        np.testing.assert_array_equal(stored["label_smile"], factors["smile"] > 0)
    described = json.loads((out / "factors.json").read_text())
    assert (described["n"], described["seed"], described["resolution"]) == (12, 9, 16)
    assert described["factors"]["hair_colour"]["classes"] == ["black", "brown", "blond", "red"]
    assert [c["value"] for c in described["correlations"][:4]] == [0.70, 0.15, 0.75, 0.25]
    capsys.readouterr()

    with pytest.raises(SystemExit) as info:  # an existing non-empty folder is refused
        world_command.main(["draw", "--n_samples", "3", "--out_dir", str(out)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "exists and is not an empty folder" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]


@pytest.mark.parametrize("argv, message", [
    ("draw --n_samples 3 --resolution 8 --out_dir {tmp}/out", "resolution 8 is too small: use --resolution 16 or more"),
    ("draw --n_samples 0 --out_dir {tmp}/out", "--n_samples 0: must be at least 1"),
    ("grid --scale 0 --out {tmp}/grid.png", "--scale 0: must be at least 1"),
    ("train-scorer --out {tmp}/scorer.h5", "must end in .keras"),
    ("train-scorer --out {tmp}/s.keras --data {tmp}/no_such_folder", "holds no images.npy and factors.npz"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        world_command.main(argv.format(tmp=tmp_path).split())
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert list(tmp_path.iterdir()) == []


def test_grid_png(tmp_path):
    from PIL import Image

    path = tmp_path / "grid.png"
    world_command.main(["grid", "--n_samples", "6", "--resolution", "16", "--scale", "2", "--out", str(path)])
    grid = np.asarray(Image.open(path))
    assert grid.shape == (2 * 16 * 2, 3 * 16 * 2, 3)  # 6 faces in 3 columns, each pixel 2 x 2
    first = world.draw_faces(world.sample_factors(1, 0), 16)[0]
    np.testing.assert_array_equal(grid[:32:2, :32:2], first)


def test_shipped_scorer_reads_every_attribute():
    assert SHIPPED_SCORER.stat().st_size < 1_000_000
    import keras

    model = keras.saving.load_model(SHIPPED_SCORER, compile=False)
    assert model.get_layer("features").units == 64
    factors = world.sample_factors(400, seed=2024)  # not a seed the scorer was trained or measured on
    images = world.draw_faces(factors, R)
    scores = world.predict_scores(model, images)
    metrics = world.scorer_metrics(scores, factors)
    for name in ("eyeglasses_accuracy", "hair_length_accuracy", "smile_sign_accuracy", "hair_colour_accuracy"):
        assert metrics[name] >= 0.99, metrics
    for name in ("smile_pearson", "age_pearson", "pose_pearson"):
        assert metrics[name] >= 0.98, metrics
    # the scorer spec reads the same outputs from the pixel values
    smile = make_scorer(f"keras:{SHIPPED_SCORER},output=smile", attribute="smile")(images[:16])
    np.testing.assert_allclose(smile, scores["smile"][:16], atol=1e-4)
    colour = make_scorer(f"keras:{SHIPPED_SCORER},output=hair_colour")(images[:16])
    assert colour.shape == (16, 4)
    # ... and world:ATTRIBUTE names the shipped file wherever the package is installed
    np.testing.assert_array_equal(make_scorer("world:smile")(images[:16]), smile)
    np.testing.assert_array_equal(make_scorer("world:hair_colour")(images[:16]), colour)


def test_train_scorer_command_writes_model_and_metrics(tmp_path, capsys):
    out = tmp_path / "scorer.keras"
    world_command.main(["train-scorer", "--n_samples", "128", "--n_epochs", "1", "--test_n_samples", "32",
                        "--resolution", "16", "--out", str(out)])
    import keras

    model = keras.saving.load_model(out, compile=False)
    assert model.inputs[0].shape[1:] == (16, 16, 3)
    assert sorted(model.output_names) == sorted(world.SCORER_OUTPUTS)
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["train"]["n"] == 128 and record["test"] == {"n": 32, "seed": 1}
    assert set(record["metrics"]) == {"eyeglasses_accuracy", "hair_length_accuracy", "smile_sign_accuracy",
                                      "hair_colour_accuracy", "age_label_accuracy", "smile_pearson",
                                      "age_pearson", "pose_pearson"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scorer.json", "scorer.keras"]


def test_check_resolution_refuses_non_integers():
    with pytest.raises(UserError, match="too small"):
        world.check_resolution(15)
    with pytest.raises(UserError):
        world.check_resolution(32.0)


def test_mouth_pose_reads_the_pose_from_pixels():
    """The scorer-free pose reading follows the drawn pose (any skin, hair, smile) and no other factor."""
    factors = world.sample_factors(400, seed=3)
    images = world.draw_faces(factors)
    pose, found = world.mouth_pose(images)
    assert found.all()
    assert np.corrcoef(pose, factors["pose"])[0, 1] > 0.98
    assert np.mean(np.abs(pose - factors["pose"])) < 0.15
    for name in ("eyeglasses", "smile", "hair_length", "age"):  # independent factors leave it alone
        assert abs(np.corrcoef(pose - factors["pose"], factors[name])[0, 1]) < 0.2, name
