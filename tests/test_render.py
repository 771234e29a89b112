"""W+ codes of edits, batched rendering, strips and atomic PNG files."""
import numpy as np
import pytest

import stylegan2
from gradctrl import UserError
from gradctrl.render import compose_strip, render_strips, render_uint8, wplus


def test_wplus_layers():
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((2, 5)).astype(np.float32)
    steps = rng.standard_normal((2, 3, 5)).astype(np.float32)
    ws = wplus(w0, steps, 7, (2, 4))
    assert ws.shape == (2, 3, 7, 5) and ws.dtype == np.float32
    for i in range(2):
        for s in range(3):
            for layer in range(7):
                expected = steps[i, s] if 2 <= layer < 4 else w0[i]
                np.testing.assert_array_equal(ws[i, s, layer], expected)
    np.testing.assert_array_equal(wplus(w0, steps, 7, (0, 7)), np.repeat(steps[:, :, None], 7, axis=2))


@pytest.mark.parametrize("layers", [(0, 8), (-1, 3), (4, 4), (5, 2)])
def test_wplus_rejects_layers_outside(layers):
    with pytest.raises(UserError, match=r"must satisfy 0 <= lo < hi <= 7"):
        wplus(np.zeros((1, 5)), np.zeros((1, 2, 5)), 7, layers)


def _latents(G, n, seed):
    z = np.random.default_rng(seed).standard_normal((n, G.z_dim)).astype(np.float32)
    return np.asarray(G.mapping(z, truncation_psi=0.7))[:, 0]


def test_render_uint8_matches_generator(tiny_generator):
    G = tiny_generator
    ws = np.repeat(_latents(G, 5, 1)[:, None], G.num_ws, axis=1)
    images = render_uint8(G, ws, batch_size=2)
    assert images.shape == (5, 16, 16, 3) and images.dtype == np.uint8
    expected = stylegan2.to_uint8(G.synthesis(ws, noise_mode="const"))
    assert np.abs(images.astype(int) - expected.astype(int)).max() <= 1       # batching may round differently
    assert render_uint8(G, ws[:0]).shape == (0, 16, 16, 3)


def test_render_strips(tiny_generator):
    G = tiny_generator
    w0 = _latents(G, 2, 2)
    traj = w0[:, None] + np.random.default_rng(3).standard_normal((2, 3, G.w_dim)).astype(np.float32)
    strips = render_strips(G, w0, traj, (1, 4), batch_size=3)
    assert strips.shape == (2, 16, 4 * 16, 3)
    original = render_uint8(G, np.repeat(w0[:, None], G.num_ws, axis=1))
    for i in range(2):
        frames = np.split(strips[i], 4, axis=1)
        assert np.abs(frames[0].astype(int) - original[i].astype(int)).max() <= 1
        for s in range(3):
            code = np.repeat(w0[i][None], G.num_ws, axis=0)
            code[1:4] = traj[i, s]
            expected = render_uint8(G, code[None])[0]
            assert np.abs(frames[s + 1].astype(int) - expected.astype(int)).max() <= 1
    # an edit confined to W+ layers outside [lo, hi) leaves every frame equal to the original
    unchanged = render_strips(G, w0, np.repeat(w0[:, None], 3, axis=1), (0, 2))
    for frame in np.split(unchanged[0], 4, axis=1):
        assert np.abs(frame.astype(int) - original[0].astype(int)).max() <= 1


def test_compose_strip():
    frames = np.arange(2 * 3 * 4 * 1, dtype=np.uint8).reshape(2, 3, 4, 1)
    strip = compose_strip(frames)
    assert strip.shape == (3, 8, 1)
    np.testing.assert_array_equal(strip[:, :4], frames[0])
    np.testing.assert_array_equal(strip[:, 4:], frames[1])
