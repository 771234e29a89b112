"""random_generator has NVIDIA's shapes and init; save_generator -> load_generator gives the same generator."""
import ast
import json

import numpy as np
import pytest

import stylegan2
from stylegan2.official_pickle import NO_CODE_SRC, read_networks

from conftest import shared_file
from test_stylegan2_safety import globals_in

OFFICIAL_GLOBALS = {("dnnlib.tflib.network", "Network"), ("numpy.core.multiarray", "_reconstruct"),
                    ("numpy.core.multiarray", "scalar"), ("numpy", "dtype"), ("numpy", "ndarray")}

CONFIGS = {
    "skip16": dict(resolution=16, architecture="skip", fmap_base=128, fmap_max=32, z_dim=32, w_dim=32,
                   mapping_layers=2, seed=11),
    # Channels halve at every stage (32, 16, 8, 4): every up-sampling conv has in != out channels.
    "orig32_halving": dict(resolution=32, architecture="orig", fmap_base=64, fmap_max=32, z_dim=24, w_dim=20,
                           mapping_layers=3, seed=1),
    "resnet32_gray": dict(resolution=32, architecture="resnet", fmap_base=64, fmap_max=32, z_dim=16, w_dim=24,
                          mapping_layers=1, seed=2, num_channels=1, mapping_fmaps=40),
    "skip8_rgba": dict(resolution=8, architecture="skip", fmap_base=64, fmap_max=16, z_dim=8, w_dim=8,
                       mapping_layers=2, seed=3, num_channels=4),
    "skip4": dict(resolution=4, architecture="skip", fmap_base=32, fmap_max=8, z_dim=8, w_dim=8,
                  mapping_layers=1, seed=4),
}


def randomise(generator, seed):
    """Give every variable (biases, noise strengths, w_avg included) a nonzero random value, as the fixtures do,
    so that a term lost in the round trip would show in the images."""
    rng = np.random.RandomState(seed)
    state = generator.state
    for node in [state] + list(state.components.values()):
        for name, value in node.variables.items():
            if name != "lod":
                node.variables[name] = (value + rng.standard_normal(value.shape) * 0.2).astype(np.float32)
    return stylegan2.Generator(state)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_save_load_gives_the_same_generator(tmp_path, name):
    args = CONFIGS[name]
    G = randomise(stylegan2.random_generator(**args), seed=7)
    path = tmp_path / f"{name}.pkl"
    stylegan2.save_generator(G, path)
    G2 = stylegan2.load_generator(path)
    for attr in ("z_dim", "w_dim", "num_ws", "img_resolution", "img_channels", "architecture"):
        assert getattr(G2, attr) == getattr(G, attr)
    assert (G2.z_dim, G2.w_dim, G2.img_resolution, G2.architecture) == (
        args["z_dim"], args["w_dim"], args["resolution"], args["architecture"])
    assert G2.img_channels == args.get("num_channels", 3)
    assert G2.num_ws == 2 * int(np.log2(args["resolution"])) - 2
    before, after = G.state.all_variables(), G2.state.all_variables()
    assert list(before) == list(after)
    for key in before:
        np.testing.assert_array_equal(before[key], after[key])
    z = np.random.RandomState(0).randn(3, G.z_dim)
    ws = np.asarray(G.mapping(z, truncation_psi=0.7, truncation_cutoff=2))
    np.testing.assert_array_equal(np.asarray(G2.mapping(z, truncation_psi=0.7, truncation_cutoff=2)), ws)
    for mode in ("const", "random"):
        a = np.asarray(G.synthesis(ws, noise_mode=mode, seed=3))
        b = np.asarray(G2.synthesis(ws, noise_mode=mode, seed=3))
        assert a.shape == (3, G.img_resolution, G.img_resolution, G.img_channels)
        np.testing.assert_array_equal(a, b)
        assert np.isfinite(a).all() and a.std() > 1e-3


def test_written_file_has_the_official_layout_and_no_code(tmp_path, tiny_generator_path):
    data = tiny_generator_path.read_bytes()
    assert data[:2] == b"\x80\x04"  # protocol 4, as NVIDIA's files
    assert globals_in(data) == OFFICIAL_GLOBALS
    gs = read_networks(tiny_generator_path)
    assert (gs.name, gs.build_func_name, gs.version) == ("Gs", "G_main", 4)
    assert {c: s.build_func_name for c, s in gs.components.items()} == {
        "synthesis": "G_synthesis_stylegan2", "mapping": "G_mapping"}
    for node in [gs] + list(gs.components.values()):
        assert node.build_module_src == NO_CODE_SRC and ast.parse(node.build_module_src).body == []
    # 0-d variables are numpy float32 scalars in the file, as NVIDIA writes them.
    assert gs.components["synthesis"].variables["4x4/Conv/noise_strength"].shape == ()


@pytest.mark.parametrize("name", ["skip32", "resnet16"])
def test_random_generator_has_nvidias_variables_and_kwargs(name):
    """Names, order and shapes of every variable and the stored kwargs equal those NVIDIA's code made for the fixture."""
    info = json.loads(shared_file(f"fixtures/stylegan2/{name}.json").read_text())
    g_args = info["construction"]["G_args"]
    resolution = info["output_shape_nchw"][2]
    G = stylegan2.random_generator(resolution=resolution, architecture=g_args.get("architecture", "skip"),
                                   fmap_base=g_args["fmap_base"], fmap_max=g_args["fmap_max"], seed=0)
    states = info["pickle"]["states"]
    for key, node in (("Gs", G.state), ("Gs.components.mapping", G.state.components["mapping"]),
                      ("Gs.components.synthesis", G.state.components["synthesis"])):
        expected = states[key]
        assert node.static_kwargs == expected["static_kwargs"]
        assert node.name == expected["name"] and node.build_func_name == expected["build_func_name"]
        assert [[k, list(v.shape)] for k, v in node.variables.items()] == expected["variables"]
    assert list(G.state.components) == states["Gs"]["components"]


def test_random_generator_uses_the_official_init_and_w_avg(tiny_generator):
    G = tiny_generator
    synthesis = G.state.components["synthesis"].variables
    mapping = G.state.components["mapping"].variables
    for key, value in synthesis.items():
        if key.endswith(("bias", "noise_strength")):
            assert not value.any(), key
    assert not any(v.any() for k, v in mapping.items() if k.endswith("bias"))
    mapping_weights = np.concatenate([v.ravel() for k, v in mapping.items() if k.endswith("weight")])
    assert 80 < mapping_weights.std() < 120  # stored N(0, (1 / lrmul)^2), lrmul = 0.01
    conv_weights = np.concatenate([v.ravel() for k, v in synthesis.items() if k.endswith("/weight")])
    assert 0.9 < conv_weights.std() < 1.1
    # w_avg is the mean mapping output: a fresh sample of z agrees within sampling error.
    w = np.asarray(G.mapping(np.random.RandomState(99).randn(10_000, G.z_dim)))[:, 0]
    assert np.abs(w.mean(axis=0) - G.w_avg).max() < 6 * w.std(axis=0).max() / np.sqrt(5_000)
    assert np.abs(G.w_avg).max() > 0


def test_random_generator_is_seeded():
    args = dict(CONFIGS["skip4"])
    a = stylegan2.random_generator(**args).state.all_variables()
    b = stylegan2.random_generator(**args).state.all_variables()
    c = stylegan2.random_generator(**dict(args, seed=5)).state.all_variables()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["synthesis/4x4/Conv/weight"], c["synthesis/4x4/Conv/weight"])


def test_saving_is_atomic_with_normal_permissions(tmp_path, tiny_generator):
    path = tmp_path / "g.pkl"
    stylegan2.save_generator(tiny_generator, path)
    (tmp_path / "plain").write_bytes(b"")
    assert path.stat().st_mode & 0o777 == (tmp_path / "plain").stat().st_mode & 0o777  # the umask applies
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.pkl", "plain"]  # no temporary file left
    with pytest.raises(stylegan2.InputError, match="the folder .* does not exist"):
        stylegan2.save_generator(tiny_generator, tmp_path / "missing" / "g.pkl")
    with pytest.raises(stylegan2.InputError, match="needs a stylegan2.Generator"):
        stylegan2.save_generator("G", path)
