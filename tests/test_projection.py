"""gradctrl.project.projection: NVIDIA's projector recipe. A generated image's latent is recovered in W and W+ on a
tiny generator, the schedule and the noise regulariser match hand computations, the loss terms match
independent computations."""
import math

import numpy as np
import pytest
import tensorflow as tf

import stylegan2
from gradctrl.data import latents
from gradctrl.errors import UserError
from gradctrl.project import projection

# An 8 px generator (4 W+ layers, w_dim 16): a projection step costs a few milliseconds.
PROJECTION_GENERATOR_ARGS = dict(resolution=8, architecture="skip", fmap_base=64, fmap_max=16, z_dim=16, w_dim=16,
                                 mapping_layers=2, seed=3)


@pytest.fixture(scope="module")
def generator():
    return stylegan2.random_generator(**PROJECTION_GENERATOR_ARGS)


@pytest.fixture(scope="module")
def generated(generator):
    """Two generated images with known w (truncation 0.7 of the edit stream), the start statistics and the
    start image's pixel error."""
    w_true = latents.sample_w(generator, 5, range(2), 0.7, latents.STREAM_EDIT)
    ws_true = np.repeat(w_true[:, None], generator.num_ws, axis=1)
    targets = generator.synthesis(ws_true).numpy()
    stats = projection.w_statistics(generator, 0, n=2000)
    start = generator.synthesis(np.broadcast_to(stats[0], ws_true.shape)).numpy()
    return dict(w=w_true, ws=ws_true, targets=targets, stats=stats,
                start_distance=np.linalg.norm(w_true - stats[0], axis=1),
                start_mse=((start - targets) ** 2).mean(axis=(1, 2, 3)))


def test_w_space_recovers_w(generator, generated):
    """Space w (200 steps): every layer holds one w within 5 % of the start's distance from the true w, the
    pixel error is under 1 % of the mean-w start's, and the image distance falls."""
    result = projection.project(generator, generated["targets"], "w", steps=200, seed=0, w_stats=generated["stats"])
    assert result.ws.shape == generated["ws"].shape
    np.testing.assert_array_equal(result.ws, np.repeat(result.ws[:, :1], generator.num_ws, axis=1))
    error = np.linalg.norm(result.ws[:, 0] - generated["w"], axis=1)
    assert (error < 0.05 * generated["start_distance"]).all(), (error, generated["start_distance"])
    mse = ((result.images - generated["targets"]) ** 2).mean(axis=(1, 2, 3))
    assert (mse < 0.01 * generated["start_mse"]).all(), (mse, generated["start_mse"])
    assert result.distance.shape == result.noise_penalty.shape == (2, 200)
    assert (result.distance[:, -10:].mean(axis=1) < 0.1 * result.distance[:, :10].mean(axis=1)).all()
    # the noise maps are renormalised after every step
    for maps, (h, w) in zip(result.noise, generator.noise_shapes):
        assert maps.shape == (2, h, w)
        np.testing.assert_allclose(maps.mean(axis=(1, 2)), 0, atol=1e-5)
        np.testing.assert_allclose(maps.std(axis=(1, 2)), 1, atol=1e-4)


def test_w_plus_space_recovers_w(generator, generated):
    """Space w+ (400 steps): W+ has more freedom than the image pins down, so the per-layer latents are
    recovered loosely: mean per-layer error under 60 % of the start's distance; pixel error under 1 % of
    the start's."""
    result = projection.project(generator, generated["targets"], "w+", steps=400, seed=0,
                                w_stats=generated["stats"])
    error = np.linalg.norm(result.ws - generated["ws"], axis=2).mean(axis=1)
    assert (error < 0.6 * generated["start_distance"]).all(), (error, generated["start_distance"])
    mse = ((result.images - generated["targets"]) ** 2).mean(axis=(1, 2, 3))
    assert (mse < 0.01 * generated["start_mse"]).all(), (mse, generated["start_mse"])
    assert not np.array_equal(result.ws[:, 0], result.ws[:, 1])         # one w per layer


def test_projection_is_seeded_and_per_image(generator, generated):
    """An image's result depends only on (seed, its index, its image): the same alone as in a batch, and
    another seed gives another result."""
    targets, stats = generated["targets"], generated["stats"]
    both = projection.project(generator, targets, "w+", steps=5, seed=4, w_stats=stats)
    first = projection.project(generator, targets[:1], "w+", steps=5, seed=4, w_stats=stats)
    np.testing.assert_allclose(first.ws[0], both.ws[0], atol=1e-5)
    np.testing.assert_allclose(first.distance[0], both.distance[0], rtol=1e-5)
    other = projection.project(generator, targets, "w+", steps=5, seed=5, w_stats=stats)
    assert not np.allclose(other.ws, both.ws)


def test_schedule_hand_values():
    """NVIDIA's schedule at hand-computed points of 1000 steps."""
    assert projection.learning_rate(0, 1000) == 0
    assert projection.learning_rate(25, 1000) == pytest.approx(0.05)          # half way up the 5 % ramp
    assert projection.learning_rate(500, 1000) == pytest.approx(0.1)
    assert projection.learning_rate(875, 1000) == pytest.approx(0.05)         # half way down the cosine
    assert projection.learning_rate(950, 1000) == pytest.approx(0.1 * (0.5 - 0.5 * math.cos(0.2 * math.pi)))
    assert projection.w_noise_strength(0, 1000, 2.0) == pytest.approx(0.1)
    assert projection.w_noise_strength(375, 1000, 2.0) == pytest.approx(0.1 * 0.25)
    assert projection.w_noise_strength(750, 1000, 2.0) == 0 == projection.w_noise_strength(900, 1000, 2.0)


def test_w_statistics_hand_values(generator):
    """The start latent and spread are the mean and root-mean-square distance of the mapped w."""
    w = latents.sample_w(generator, 2, range(300), 1.0, latents.STREAM_PROJECT)
    mean, spread = projection.w_statistics(generator, 2, n=300)
    np.testing.assert_allclose(mean, w.mean(axis=0), atol=1e-5)
    assert spread == pytest.approx(np.sqrt(np.mean(np.sum((w - w.mean(axis=0)) ** 2, axis=1))), rel=1e-5)


def test_noise_penalty_hand_values():
    """2x2 map [[1, 2], [3, 4]]: one scale, lag-1 products' means 7 (x) and 5.5 (y): 49 + 30.25. A constant
    map of 2 at 16 px: scales 16 and 8, each (4^2) x 2 -> 64. A constant 1 at 32 px: scales 32, 16, 8 -> 6.
    Stripes (-1)^row at 16 px: 1 + 1 at 16 px, zero at 8 px -> 2."""
    small = np.array([[1, 2], [3, 4]], np.float32)
    stripes = np.repeat(((-1.0) ** np.arange(16))[:, None], 16, axis=1).astype(np.float32)
    maps = [np.stack([small, small * 0]), np.stack([np.full((16, 16), 2.0), stripes]),
            np.stack([np.ones((32, 32)), np.zeros((32, 32))])]
    maps = [tf.constant(np.asarray(m, np.float32)[..., None]) for m in maps]
    penalty = projection.noise_penalty(maps).numpy()
    np.testing.assert_allclose(penalty, [49 + 30.25 + 64 + 6, 2], rtol=1e-6)


def test_renormalise_hand_values():
    """[[1, 2], [3, 4]] -> (v - 2.5) / sqrt(1.25), per image and map."""
    v = np.array([[[1, 2], [3, 4]], [[0, 0], [0, 2]]], np.float32)[..., None]
    (result,) = projection.renormalise_noise([tf.constant(v)])
    expected0 = (np.array([[1, 2], [3, 4]]) - 2.5) / np.sqrt(1.25)
    expected1 = (np.array([[0, 0], [0, 2]]) - 0.5) / np.sqrt(0.75)
    np.testing.assert_allclose(result.numpy()[..., 0], [expected0, expected1], rtol=1e-6)


def test_image_loss_terms_by_resolution(tmp_path):
    """Pixel L2 plus 1 - SSIM (single-scale below 176 px, none under 11 px) plus the feature model's L2."""
    import keras

    rng = np.random.default_rng(0)
    a, b = (rng.uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32) for _ in range(2))
    loss = projection.ImageLoss(16)
    expected = ((a - b) ** 2).mean(axis=(1, 2, 3)) + 1 - tf.image.ssim(a, b, max_val=2.0).numpy()
    np.testing.assert_allclose(loss(tf.constant(a), tf.constant(b)).numpy(), expected, rtol=1e-5)
    assert "single-scale" in loss.describe()
    assert projection.ImageLoss(8).structure is None and projection.ImageLoss(256).structure == "ms-ssim"

    inputs = keras.Input((16, 16, 3))
    model = keras.Model(inputs, keras.layers.Dense(2, use_bias=False)(keras.layers.Flatten()(inputs)))
    path = tmp_path / "features.keras"
    model.save(path)
    kernel = model.get_weights()[0]
    features = projection.load_features(path)
    loss = projection.ImageLoss(8, features=features, features_weight=0.5, features_name="f")
    fa, fb = ((x * 127.5 + 127.5).reshape(2, -1) @ kernel for x in (a, b))     # fed pixels in [0, 255]
    expected = ((a - b) ** 2).mean(axis=(1, 2, 3)) + 0.5 * ((fa - fb) ** 2).mean(axis=1)
    np.testing.assert_allclose(loss(tf.constant(a), tf.constant(b)).numpy(), expected, rtol=1e-4)
    (tmp_path / "bad.keras").write_bytes(b"not a model")
    with pytest.raises(UserError, match="bad.keras"):
        projection.load_features(tmp_path / "bad.keras")


def _vgg16_shaped(width, rename=None):
    """Keras' VGG16 topology without its top at ``width`` channels in block 1 (64 in ImageNet's VGG16), random
    weights; ``rename`` {old: new} renames a layer (a network that is not VGG16)."""
    import keras

    inputs = keras.Input((None, None, 3))
    x = inputs
    for block, (convs, factor) in enumerate(zip(projection.VGG16_BLOCK_CONVS, projection.VGG16_BLOCK_WIDTHS), 1):
        for index in range(1, convs + 1):
            name = f"block{block}_conv{index}"
            x = keras.layers.Conv2D(width * factor, 3, padding="same", activation="relu",
                                    name=(rename or {}).get(name, name))(x)
        x = keras.layers.MaxPooling2D(name=f"block{block}_pool")(x)
    return keras.Model(inputs, x)


def test_vgg16_lpips_loading_and_values(tmp_path):
    """A VGG16-shaped model (width 2) saved as .keras loads; the distance equals an independent computation
    from its layers' outputs: unit-normalised channels, squared differences summed over channels, averaged
    over positions, summed over the five layers; images under 32 px are upscaled to 32."""
    import keras

    keras.utils.set_random_seed(0)
    model = _vgg16_shaped(2)
    path = tmp_path / "vgg.keras"
    model.save(path)
    lpips = projection.load_vgg16(path, width=2)
    rng = np.random.default_rng(0)
    a, b = (rng.uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32) for _ in range(2))
    probe = keras.Model(model.inputs[0], [model.get_layer(n).output for n in projection.LPIPS_LAYERS])

    def features(x):
        x = tf.image.resize(x, (32, 32), method="bilinear").numpy()
        return [f.numpy() for f in probe((x[..., ::-1] + 1) * 127.5 - np.array([103.939, 116.779, 123.68]))]

    expected = 0
    for fa, fb in zip(features(a), features(b)):
        fa = fa / np.sqrt((fa ** 2).sum(-1, keepdims=True) + 1e-10)
        fb = fb / np.sqrt((fb ** 2).sum(-1, keepdims=True) + 1e-10)
        expected = expected + ((fa - fb) ** 2).sum(-1).mean(axis=(1, 2))
    np.testing.assert_allclose(lpips(tf.constant(a), tf.constant(b)).numpy(), expected, rtol=1e-4)
    np.testing.assert_allclose(lpips(tf.constant(a), tf.constant(a)).numpy(), 0, atol=1e-6)
    loss = projection.ImageLoss(16, vgg16=lpips)
    assert "VGG16" in loss.describe() and "SSIM" not in loss.describe()


def test_vgg16_refusals(tmp_path):
    """A file that is not VGG16 is refused with one line naming it: another layout, another width, a
    renamed layer, a non-Keras file."""
    from gradctrl.world import SCORER_PATH

    with pytest.raises(UserError, match="is not VGG16"):
        projection.load_vgg16(SCORER_PATH)
    narrow = tmp_path / "narrow.keras"
    _vgg16_shaped(2).save(narrow)
    with pytest.raises(UserError, match="is not VGG16: layer 'block1_conv1'"):
        projection.load_vgg16(narrow)                       # width 2, not ImageNet's 64
    renamed = tmp_path / "renamed.keras"
    _vgg16_shaped(2, rename={"block3_conv3": "block3_convX"}).save(renamed)
    with pytest.raises(UserError, match="block3_conv3"):
        projection.load_vgg16(renamed, width=2)
    (tmp_path / "x.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"0" * 100)
    with pytest.raises(UserError, match="x.h5"):
        projection.load_vgg16(tmp_path / "x.h5")


def test_pivotal_tuning_fits_and_stays_local(generator, generated):
    """Tuning toward a changed target (the generated image, brighter) lowers the fit at the pivot, and the
    locality term keeps random w's images nearer the original than tuning without it."""
    import stylegan2 as sg

    ws = generated["ws"][:1]
    targets = np.clip(generated["targets"][:1] + 0.3, -1, 1)
    z = np.random.default_rng(9).standard_normal((8, generator.z_dim)).astype(np.float32)
    random_ws = generator.mapping(z).numpy()
    before_pivot, before_random = generator.synthesis(ws).numpy(), generator.synthesis(random_ws).numpy()
    drift = {}
    for weight in (0.0, 10.0):
        G = sg.Generator(generator.state)                  # a copy: tuning changes weights in place
        history = projection.tune_generator(G, targets, ws, 30, seed=0, locality_weight=weight)
        assert history.shape == (30, 2) and history[0, 1] == pytest.approx(0, abs=1e-6)  # nothing moved yet
        after_pivot = G.synthesis(ws).numpy()
        assert ((after_pivot - targets) ** 2).mean() < 0.8 * ((before_pivot - targets) ** 2).mean()
        drift[weight] = np.abs(G.synthesis(random_ws).numpy() - before_random).mean()
    assert drift[10.0] < 0.7 * drift[0.0], drift
    np.testing.assert_array_equal(generator.synthesis(ws).numpy(), before_pivot)    # the original is untouched
