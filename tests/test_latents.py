"""Seeded latent sampling and latent files."""
import pickle

import numpy as np
import pytest

from gradctrl.data import latents
from gradctrl.errors import UserError
from stylegan2.errors import InputError


def test_sample_depends_only_on_seed_stream_and_index():
    all_rows = latents.sample_z(3, np.arange(10), 16, latents.STREAM_DATA)
    some_rows = latents.sample_z(3, [7, 2], 16, latents.STREAM_DATA)
    np.testing.assert_array_equal(some_rows, all_rows[[7, 2]])
    assert not np.allclose(latents.sample_z(3, [2], 16, latents.STREAM_EDIT), all_rows[2])
    assert not np.allclose(latents.sample_z(4, [2], 16, latents.STREAM_DATA), all_rows[2])


def test_z_is_standard_gaussian_not_uniform():
    z = latents.sample_z(0, np.arange(400), 64, latents.STREAM_DATA).ravel()
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02
    assert (np.abs(z) > 2.5).mean() > 0.005  # a uniform draw on [-1, 1] or [0, 1] never gets there


def test_sample_w_is_the_truncated_mapping(tiny_generator):
    G = tiny_generator
    w = latents.sample_w(G, 5, [0, 1, 2], 0.4, latents.STREAM_EDIT, batch_size=2)
    z = latents.sample_z(5, [0, 1, 2], G.z_dim, latents.STREAM_EDIT)
    ws = np.asarray(G.mapping(z, truncation_psi=1.0))[:, 0]
    np.testing.assert_allclose(w, G.w_avg + 0.4 * (ws - G.w_avg), atol=1e-5)


def test_latent_files(tmp_path):
    w = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
    np.save(tmp_path / "w.npy", w)
    np.testing.assert_array_equal(latents.load_latents(tmp_path / "w.npy"), w)
    with open(tmp_path / "w.pkl", "wb") as f:
        pickle.dump(w.astype(np.float64), f)
    np.testing.assert_array_equal(latents.load_latents(tmp_path / "w.pkl", w_dim=8), w)
    with open(tmp_path / "batches.pkl", "wb") as f:
        pickle.dump([w[:3], w[3:]], f)
    np.testing.assert_array_equal(latents.load_latents(tmp_path / "batches.pkl"), w)
    with pytest.raises(UserError, match="width 8, but 16 is needed"):
        latents.load_latents(tmp_path / "w.npy", w_dim=16)
    np.save(tmp_path / "w3.npy", w[None])
    with pytest.raises(UserError, match=r"shape \(1, 4, 8\): expected \(N, w_dim\)"):
        latents.load_latents(tmp_path / "w3.npy")
    w[1, 1] = np.nan
    np.save(tmp_path / "nan.npy", w)
    with pytest.raises(UserError, match="NaN"):
        latents.load_latents(tmp_path / "nan.npy")
    with pytest.raises(UserError, match="not found"):
        latents.load_latents(tmp_path / "missing.npy")
    with pytest.raises(UserError, match="unknown extension '.txt'"):
        latents.load_latents(tmp_path / "w.txt")


class Exploit:
    def __reduce__(self):
        import os
        return (os.system, ("echo pwned",))


def test_pickled_latents_cannot_run_code(tmp_path):
    with open(tmp_path / "evil.pkl", "wb") as f:
        pickle.dump(Exploit(), f)
    with pytest.raises(InputError, match=r"global '(posix|os|nt)\.system', which is not on the allow-list"):
        latents.load_latents(tmp_path / "evil.pkl")
    with open(tmp_path / "strings.pkl", "wb") as f:
        pickle.dump(["a", "b"], f)
    with pytest.raises(UserError, match="not a numeric array"):
        latents.load_latents(tmp_path / "strings.pkl")


def test_wplus_and_npz_latents(tmp_path):
    """W+ (N, num_ws, w_dim) latents load only where num_ws is given and matches; project.py's .npz is read by
    its 'w'; split_wplus collapses equal layers to w and keeps other W+ latents with their layer mean."""
    rng = np.random.default_rng(0)
    ws = rng.standard_normal((3, 4, 5)).astype(np.float32)
    np.save(tmp_path / "ws.npy", ws)
    np.testing.assert_array_equal(latents.load_latents(tmp_path / "ws.npy", w_dim=5, num_ws=4), ws)
    with pytest.raises(UserError, match="expected \\(N, w_dim\\), one w per row"):
        latents.load_latents(tmp_path / "ws.npy", w_dim=5)
    with pytest.raises(UserError, match="num_ws = 6"):
        latents.load_latents(tmp_path / "ws.npy", w_dim=5, num_ws=6)
    np.savez(tmp_path / "latents.npz", w=ws, names=np.array(["a", "b", "c"]))
    np.testing.assert_array_equal(latents.load_latents(tmp_path / "latents.npz", num_ws=4), ws)
    assert latents.latents_file(tmp_path) == tmp_path / "latents.npz"
    np.savez(tmp_path / "other.npz", v=ws)
    with pytest.raises(UserError, match="holds no array 'w'"):
        latents.load_latents(tmp_path / "other.npz", num_ws=4)
    w, base = latents.split_wplus(ws)
    np.testing.assert_allclose(w, ws.mean(axis=1))
    np.testing.assert_array_equal(base, ws)
    w, base = latents.split_wplus(np.repeat(ws[:, :1], 4, axis=1))
    assert base is None and np.array_equal(w, ws[:, 0])
