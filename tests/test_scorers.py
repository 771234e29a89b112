"""Scorer specs: built-ins against hand-computed values, python, Keras and NVIDIA-classifier scorers (the
latter against an independent float64 implementation), and one-line errors."""
import textwrap

import numpy as np
import pytest

from gradctrl.data.scorers import make_scorer, make_scorers
from gradctrl.errors import UserError

from conftest import shared_file
from d_paper_helpers import random_d_paper, reference_logits, write_classifier


def _solid(colors, size=4):
    """uint8 (N, size, size, 3) images, image i filled with colors[i] (an RGB triple)."""
    colors = np.asarray(colors, np.uint8)
    return np.broadcast_to(colors[:, None, None, :], (len(colors), size, size, 3)).copy()


def test_builtin_scorers_on_solid_colours():
    images = _solid([[255, 0, 0], [0, 0, 255], [0, 255, 0], [255, 255, 255]])
    brightness = make_scorer("builtin:brightness")(images)
    np.testing.assert_allclose(brightness, [0.299, 0.114, 0.587, 1.0], atol=1e-6)
    warmth = make_scorer("builtin:warmth")(images)
    np.testing.assert_allclose(warmth, [1.0, -1.0, 0.0, 0.0], atol=1e-6)
    color = make_scorer("builtin:color3")(images)
    assert color.shape == (4, 3) and color.dtype == np.float32
    np.testing.assert_array_equal(color[:3].argmax(1), [0, 2, 1])
    np.testing.assert_allclose(color[0], [2 / 3, -1 / 3, -1 / 3], atol=1e-6)
    np.testing.assert_allclose(color[3], 0, atol=1e-6)


def test_brightness_of_a_half_lit_image():
    images = np.zeros((1, 4, 4, 3), np.uint8)
    images[0, :2] = 255
    np.testing.assert_allclose(make_scorer("builtin:brightness")(images), [0.5], atol=1e-6)


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """A module 'user_scorers' on sys.path with good and bad scorer functions."""
    (tmp_path / "user_scorers.py").write_text(textwrap.dedent("""
        import numpy as np

        def red_fraction(images):
            return images[..., 0].mean(axis=(1, 2)) / 255.0

        def two_classes(images):
            m = images.mean(axis=(1, 2, 3))
            return np.stack([m, -m], axis=1)

        def one_column(images):
            return images.mean(axis=(1, 2, 3))[:, None]

        def wrong_shape(images):
            return np.zeros((len(images), 2, 2))

        def wrong_length(images):
            return np.zeros(len(images) + 1)

        def with_nan(images):
            out = np.zeros(len(images))
            out[-1] = np.nan
            return out

        def crashes(images):
            raise RuntimeError("out of memory\\non the GPU")
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    return "user_scorers"


def test_python_scorers(user_module):
    images = _solid([[255, 0, 0], [51, 0, 0]])
    np.testing.assert_allclose(make_scorer(f"python:{user_module}:red_fraction")(images), [1.0, 0.2], atol=1e-6)
    assert make_scorer(f"python:{user_module}:two_classes")(images).shape == (2, 2)
    assert make_scorer(f"python:{user_module}:one_column")(images).shape == (2,)


@pytest.mark.parametrize("function, message", [
    ("wrong_shape", r"scorer 'python:user_scorers:wrong_shape' of attribute 'smile' returned shape \(3, 2, 2\) "
                    r"for 3 images: it must return \(3,\) or \(3, K\)"),
    ("wrong_length", r"returned shape \(4,\) for 3 images"),
    ("with_nan", r"returned NaN or infinite scores for 1 of 3 images"),
    ("crashes", r"failed on a batch of shape \(3, 4, 4, 3\) \(RuntimeError: out of memory on the GPU\)"),
])
def test_bad_scorer_output_is_a_one_line_error(user_module, function, message):
    scorer = make_scorer(f"python:{user_module}:{function}", attribute="smile")
    with pytest.raises(UserError, match=message) as info:
        scorer(_solid([[1, 2, 3]] * 3))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("spec, message", [
    ("torch:model.pt", r"unknown scorer 'torch:model.pt' for attribute 'smile': use keras:PATH, "
                       r"nvidia:PATH\[,prob\]\[,neg\], world:ATTRIBUTE, python:module:function or "
                       r"builtin:brightness\|warmth\|color3"),
    ("world:beard", r"unknown world scorer 'world:beard': use world:eyeglasses\|smile\|age\|hair_length\|pose\|"
                    r"hair_colour"),
    ("brightness", r"unknown scorer 'brightness'"),
    ("builtin:hue", r"unknown built-in scorer 'builtin:hue': use builtin:brightness\|warmth\|color3"),
    ("python:no_such_module_xyz:f", r"cannot import module 'no_such_module_xyz'"),
    ("python:user_scorers:missing", r"module 'user_scorers' has no function 'missing'"),
    ("python:justone", r"malformed: use python:module:function"),
    ("keras:/no/such/model.keras", r"model '/no/such/model.keras' not found"),
    ("keras:m.keras,size=0", r"bad option size='0'"),
    ("keras:m.keras,range=1:1", r"bad option range='1:1'"),
    # issue 13, item 11: a misspelt option or a space is named, not reported as a missing model
    ("keras:m.keras,rnge=0:1", r"unknown option 'rnge=0:1' \(the options are size=\.\.\., range=\.\.\., output=\.\.\.;"),
    ("keras:m.keras, range=0:1", r"option ' range=0:1' has a space beside its comma"),
    ("keras:m.keras,size=32 ,range=0:1", r"option 'size=32 ' has a space beside its comma"),
    ("keras:m.keras,range", r"unknown option 'range'"),
    ("nvidia:c.pkl,prb", r"unknown option 'prb' \(the options are prob, neg; use nvidia:PATH\[,prob\]\[,neg\]\)"),
    ("nvidia:c.pkl,prob=1", r"unknown option 'prob=1'"),
    ("nvidia:c.pkl, neg", r"option ' neg' has a space beside its comma"),
])
def test_bad_specs_are_one_line_errors(user_module, spec, message):
    with pytest.raises(UserError, match=message):
        make_scorer(spec, attribute="smile")


def test_builtin_refuses_grey_images_for_colour():
    with pytest.raises(UserError, match=r"builtin:warmth needs RGB images"):
        make_scorer("builtin:warmth")(np.zeros((2, 4, 4, 1), np.uint8))


def _mean_model(keras, size, classes):
    """A Keras model on (size, size, 3) inputs: classes x the mean input value (plus 0, 1, ... per class)."""
    inputs = keras.Input((size, size, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    x = keras.layers.Dense(classes, kernel_initializer="ones", bias_initializer="zeros")(x)
    model = keras.Model(inputs, x)
    dense = model.layers[-1]
    dense.set_weights([np.full((3, classes), 1 / 3, np.float32), np.arange(classes, dtype=np.float32)])
    return model


def test_keras_file_resizes_and_maps_the_range(tmp_path):
    import keras

    path = tmp_path / "m.keras"
    _mean_model(keras, 8, 2).save(path)
    images = _solid([[255, 255, 255], [0, 0, 0]], size=16)  # resized to the model's 8 x 8
    scores = make_scorer(f"keras:{path},range=-1:1")(images)
    np.testing.assert_allclose(scores, [[1, 2], [-1, 0]], atol=1e-5)
    scores = make_scorer(f"keras:{path}")(images)  # default range: the pixel values
    np.testing.assert_allclose(scores, [[255, 256], [0, 1]], atol=1e-3)


def test_keras_h5_binary_and_explicit_size(tmp_path):
    import keras

    path = tmp_path / "m.h5"
    _mean_model(keras, 4, 1).save(path)
    scores = make_scorer(f"keras:{path},size=4,range=0:1")(_solid([[255, 0, 0], [0, 0, 0]], size=12))
    assert scores.shape == (2,)
    np.testing.assert_allclose(scores, [1 / 3, 0], atol=1e-5)


@pytest.mark.parametrize("name", ["m.keras", "m.h5"])
def test_a_truncated_keras_file_is_reported_as_truncated(tmp_path, name):
    """Issue 13, item 7: a cut-off download is named as such, with a fix, whatever Keras would have said."""
    import keras

    path = tmp_path / name
    _mean_model(keras, 4, 1).save(path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) * 2 // 3])
    with pytest.raises(UserError, match=rf"scorer 'keras:{path}': model '{path}' is truncated or corrupt "
                                        r"\(.+\): copy or download it again$"):
        make_scorer(f"keras:{path}")


def test_saved_model_folder_through_its_serving_signature(tmp_path):
    import tensorflow as tf

    class Scorer(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 6, 6, 3], tf.float32, name="pixels")])
        def __call__(self, x):
            mean = tf.reduce_mean(x, axis=[1, 2])
            return {"warm": mean[:, 0] - mean[:, 2], "other": mean}

    folder = tmp_path / "saved"
    module = Scorer()
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.__call__})
    images = _solid([[255, 0, 0], [0, 0, 255]], size=12)
    scores = make_scorer(f"keras:{folder},range=0:1,output=warm")(images)
    np.testing.assert_allclose(scores, [1, -1], atol=1e-5)
    with pytest.raises(UserError, match=r"the serving signature has outputs .*: pick one with output=NAME"):
        make_scorer(f"keras:{folder}")


def test_keras_multi_output_model_picks_an_output_by_name(tmp_path):
    import keras

    inputs = keras.Input((4, 4, 3))
    mean = keras.layers.GlobalAveragePooling2D()(inputs)
    red = keras.layers.Dense(1, name="red")(mean)
    channels = keras.layers.Dense(3, name="channels")(mean)
    model = keras.Model(inputs, {"red": red, "channels": channels})
    model.get_layer("red").set_weights([np.array([[1], [0], [0]], np.float32), np.zeros(1, np.float32)])
    model.get_layer("channels").set_weights([np.eye(3, dtype=np.float32), np.zeros(3, np.float32)])
    path = tmp_path / "multi.keras"
    model.save(path)
    images = _solid([[255, 0, 0], [0, 0, 255]])
    np.testing.assert_allclose(make_scorer(f"keras:{path},range=0:1,output=red")(images), [1, 0], atol=1e-5)
    np.testing.assert_allclose(make_scorer(f"keras:{path},range=0:1,output=channels")(images),
                               [[1, 0, 0], [0, 0, 1]], atol=1e-5)
    names = r"(channels, red|red, channels)"  # Keras may sort a dict's outputs
    with pytest.raises(UserError, match=rf"the model has outputs {names}: pick one with output=NAME"):
        make_scorer(f"keras:{path}")
    with pytest.raises(UserError, match=rf"the model has no output 'blue' \(it has {names}\)"):
        make_scorer(f"keras:{path},output=blue")


def test_make_scorers_share_one_model_pass_per_batch(tmp_path, monkeypatch):
    """Scorers naming one Keras file with the same size and range load it once and run it once per batch, and
    give what separately built scorers give; a batch refilled in place, or a different range, is scored anew."""
    import keras

    inputs = keras.Input((4, 4, 3))
    mean = keras.layers.GlobalAveragePooling2D()(inputs)
    model = keras.Model(inputs, {"red": keras.layers.Dense(1, name="red")(mean),
                                 "channels": keras.layers.Dense(3, name="channels")(mean)})
    path = tmp_path / "multi.keras"
    model.save(path)
    loads, passes = [], []
    load_model = keras.saving.load_model

    def counting_load(*args, **kwargs):
        loaded = load_model(*args, **kwargs)
        loads.append(loaded)
        call = loaded.__call__

        class Counted:  # the loaded model, counting its forward passes
            inputs, output_names = loaded.inputs, loaded.output_names

            def __call__(self, x, training=False):
                passes.append(x.shape[0])
                return call(x, training=training)
        return Counted()

    specs = {"red": f"keras:{path},range=0:1,output=red", "channels": f"keras:{path},range=0:1,output=channels",
             "red255": f"keras:{path},output=red"}
    expected_images = _solid([[255, 0, 0], [0, 0, 255], [0, 255, 0]])
    separate = {attr: make_scorer(spec, attr)(expected_images) for attr, spec in specs.items()}
    monkeypatch.setattr(keras.saving, "load_model", counting_load)
    scorers = make_scorers(specs)
    assert list(scorers) == list(specs) and len(loads) == 2  # range=0:1 shared, the default range its own
    images = expected_images.copy()
    for attr, scorer in scorers.items():
        np.testing.assert_allclose(scorer(images), separate[attr], rtol=1e-6)
    assert passes == [3, 3]  # one pass for red and channels, one for red255
    images[:] = images[::-1].copy()  # the same buffer, refilled
    np.testing.assert_allclose(scorers["red"](images), separate["red"][::-1], rtol=1e-6)
    np.testing.assert_allclose(scorers["channels"](images), separate["channels"][::-1], rtol=1e-6)
    assert passes == [3, 3, 3]


# ---- nvidia: NVIDIA's CelebA-HQ attribute classifiers -----------------------------------------------------

@pytest.fixture(scope="module")
def d64():
    """The fixture classifier's path and stored state (for the independent float64 reference)."""
    from stylegan2.official_pickle import read_network

    path = shared_file("fixtures/nvidia_classifiers/d64.pkl")
    return path, read_network(path, "d64", "", "classifier")


def _reference(state, images_uint8):
    """Independent float64 logits of uint8 NHWC images mapped to [-1, 1] as x / 127.5 - 1."""
    x = np.transpose(images_uint8.astype(np.float64) / 127.5 - 1, (0, 3, 1, 2))
    return reference_logits(state.variables, state.static_kwargs, x)


def test_nvidia_scorer_logits_probabilities_and_negation(d64):
    path, state = d64
    images = np.random.RandomState(0).randint(0, 256, (4, 64, 64, 3)).astype(np.uint8)
    logits = _reference(state, images)
    scale = np.maximum(1, np.abs(logits))
    scores = make_scorer(f"nvidia:{path}")(images)
    assert scores.shape == (4,) and scores.dtype == np.float32
    assert np.max(np.abs(scores - logits) / scale) < 1e-4
    assert np.max(np.abs(make_scorer(f"nvidia:{path},neg")(images) + logits) / scale) < 1e-4
    p = 1 / (1 + np.exp(-2 * logits))  # NVIDIA's softmax([logit, -logit])[0]
    np.testing.assert_allclose(make_scorer(f"nvidia:{path},prob")(images), p, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(make_scorer(f"nvidia:{path},prob,neg")(images), 1 - p, rtol=1e-3, atol=1e-6)


def test_nvidia_scorer_box_averages_multiples_and_resizes_other_sizes(d64):
    import tensorflow as tf

    path, state = d64
    scorer = make_scorer(f"nvidia:{path}")
    rng = np.random.RandomState(1)
    big = rng.randint(0, 256, (2, 128, 128, 3)).astype(np.uint8)  # 2 x 64: each 2 x 2 block averaged
    logits = _reference(state, big)
    assert np.max(np.abs(scorer(big) - logits) / np.maximum(1, np.abs(logits))) < 1e-4
    # other sizes are resized: a solid colour stays that colour, so its score is the 64 px image's
    solid = _solid([[200, 30, 90], [10, 250, 128]], size=48)
    np.testing.assert_allclose(scorer(solid), scorer(_solid([[200, 30, 90], [10, 250, 128]], size=64)),
                               rtol=1e-4, atol=1e-4)
    # ... with bilinear, antialiased resizing of the mapped values
    odd = rng.randint(0, 256, (2, 80, 80, 3)).astype(np.uint8)
    resized = np.asarray(tf.image.resize(odd.astype(np.float32) / 127.5 - 1, (64, 64), antialias=True))
    expected = reference_logits(state.variables, state.static_kwargs, np.transpose(resized, (0, 3, 1, 2)))
    assert np.max(np.abs(scorer(odd) - expected) / np.maximum(1, np.abs(expected))) < 1e-4


def test_nvidia_scorer_splits_batches_that_minibatch_stddev_cannot_group(tmp_path):
    variables, kwargs = random_d_paper(seed=4, resolution=8, mbstd_group_size=4)
    path = write_classifier(tmp_path / "mbstd.pkl", variables, kwargs)
    images = np.random.RandomState(2).randint(0, 256, (6, 8, 8, 3)).astype(np.uint8)
    x = np.transpose(images / 127.5 - 1, (0, 3, 1, 2))
    expected = np.concatenate([reference_logits(variables, kwargs, x[:4]), reference_logits(variables, kwargs, x[4:])])
    np.testing.assert_allclose(make_scorer(f"nvidia:{path}")(images), expected, rtol=1e-4, atol=1e-4)


def test_nvidia_scorer_errors(d64, tiny_generator_path):
    path, _ = d64
    with pytest.raises(UserError, match=r"^scorer 'nvidia:/no/such.pkl': classifier pickle '/no/such.pkl' does not "
                                        r"exist: check the path \(NVIDIA's networks are at https://nvlabs-fi-cdn"):
        make_scorer("nvidia:/no/such.pkl")
    with pytest.raises(UserError, match=r"scorer 'nvidia:,prob' names no classifier file"):
        make_scorer("nvidia:,prob")
    with pytest.raises(UserError, match=r"holds a tuple of 3 items, not one NVIDIA network"):
        make_scorer(f"nvidia:{tiny_generator_path}")
    with pytest.raises(UserError, match=r"reads images with 3 channels, got a batch of shape \(2, 64, 64, 1\)"):
        make_scorer(f"nvidia:{path}", attribute="smile")(np.zeros((2, 64, 64, 1), np.uint8))
