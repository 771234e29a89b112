"""Bad input gives one line naming the problem (InputError), and exit code 2 from the command line."""
import pickle

import numpy as np
import pytest
from PIL import Image

import stylegan2
from stylegan2.cli import main
from stylegan2.official_pickle import read_networks, write_networks

from conftest import shared_file


def one_line_error(func, *args, **kwargs):
    """Call func, expect an InputError, return its (single-line) message."""
    with pytest.raises(stylegan2.InputError) as info:
        func(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message
    return message


def cli_error(capsys, argv):
    """Run the CLI, expect exit code 2, return stderr (one line)."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 or err.startswith("usage:")
    return err


@pytest.fixture
def bad_files(tmp_path, tiny_generator_path):
    """name -> (path, expected message fragment) for every kind of bad network file."""
    data = tiny_generator_path.read_bytes()
    text = tmp_path / "notes.txt"
    text.write_text("this is not a pickle\n")
    empty = tmp_path / "empty.pkl"
    empty.write_bytes(b"")
    truncated = tmp_path / "truncated.pkl"
    truncated.write_bytes(data[: len(data) // 2])
    a_dict = tmp_path / "dict.pkl"
    a_dict.write_bytes(pickle.dumps({"G": 1}, protocol=4))
    pair = tmp_path / "pair.pkl"
    pair.write_bytes(pickle.dumps((np.zeros(3, np.float32), np.zeros(2, np.float32)), protocol=4))
    foreign = tmp_path / "foreign.pkl"
    foreign.write_bytes(pickle.dumps(__import__("collections").OrderedDict(a=1), protocol=4))
    return {
        "missing": (tmp_path / "nope.pkl", "does not exist"),
        "directory": (tmp_path, "is a directory"),
        "text": (text, "is not a readable pickle"),
        "empty": (empty, "is truncated or empty"),
        "truncated": (truncated, "truncated"),
        "dict": (a_dict, "holds a dict, not NVIDIA's networks"),
        "pair": (pair, "holds a tuple of 2 items, not NVIDIA's networks"),
        "foreign": (foreign, "'collections.OrderedDict', which is not on the allow-list"),
    }


KINDS = ["missing", "directory", "text", "empty", "truncated", "dict", "pair", "foreign"]


@pytest.mark.parametrize("kind", KINDS)
def test_bad_network_files(bad_files, kind):
    path, fragment = bad_files[kind]
    message = one_line_error(stylegan2.load_generator, path)
    assert fragment in message and str(path) in message


def test_missing_file_message_says_where_to_download(tmp_path):
    assert "https://nvlabs-fi-cdn.nvidia.com/stylegan2/networks/" in one_line_error(
        stylegan2.load_generator, tmp_path / "stylegan2-ffhq-config-f.pkl")


@pytest.mark.parametrize("kind", KINDS)
def test_cli_bad_network_files_exit_2(capsys, tmp_path, bad_files, kind):
    path, fragment = bad_files[kind]
    err = cli_error(capsys, ["generate", "--network", str(path), "--seeds", "0", "--out_dir", str(tmp_path / "out")])
    assert err.startswith("python -m stylegan2: error: ") and fragment in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def _modified(tmp_path, source_path, edit):
    """Write a copy of a network pickle after ``edit(Gs state)``; return its path."""
    gs = read_networks(source_path)
    edit(gs)
    path = tmp_path / "modified.pkl"
    write_networks(path, (gs.clone("G"), gs.clone("D"), gs))
    return path


@pytest.mark.parametrize("edit,fragment", [
    (lambda gs: gs.static_kwargs.update(label_size=10), "conditional networks (label_size = 10) are not supported yet"),
    (lambda gs: gs.components["mapping"].static_kwargs.update(label_size=4), "label_size = 4"),
    (lambda gs: setattr(gs, "build_func_name", "G_style"), "built by 'G_style', not StyleGAN2's 'G_main'"),
    (lambda gs: setattr(gs.components["synthesis"], "build_func_name", "G_synthesis"),
     "built by 'G_synthesis', not 'G_synthesis_stylegan2'"),
    (lambda gs: gs.components.pop("mapping"), "Gs has no 'mapping' component"),
    (lambda gs: gs.components["synthesis"].variables.pop("8x8/Conv1/weight"), "lacks the variable '8x8/Conv1/weight'"),
    (lambda gs: gs.components["synthesis"].variables.update({"8x8/Conv1/bias": np.zeros(5, np.float32)}),
     "variable '8x8/Conv1/bias' has shape (5,), expected (32,)"),
    (lambda gs: gs.components["synthesis"].variables.update({"8x8/Extra/weight": np.zeros(1, np.float32)}),
     "unexpected variable '8x8/Extra/weight'"),
    (lambda gs: gs.components["synthesis"].static_kwargs.update(architecture="resnet"),
     "lacks the variable '8x8/Skip/weight'"),
    (lambda gs: gs.components["synthesis"].static_kwargs.update(resolution=32), "lacks the variable 'noise5'"),
    (lambda gs: gs.components["synthesis"].static_kwargs.update(resolution=24), "resolution 24 is not a power of two"),
    (lambda gs: gs.components["mapping"].static_kwargs.update(dlatent_broadcast=9), "broadcasts to 9 layers"),
    (lambda gs: gs.components["synthesis"].static_kwargs.update(resolution="big"),
     "the stored kwarg resolution = 'big' is not an integer"),
    (lambda gs: gs.components["synthesis"].static_kwargs.update(resample_kernel="x"), "is not a usable FIR filter"),
    (lambda gs: gs.components["synthesis"].static_kwargs.update(nonlinearity="gelu"), "unsupported nonlinearity 'gelu'"),
    (lambda gs: gs.variables.pop("dlatent_avg"), "lacks the variable 'dlatent_avg'"),
])
def test_unsupported_or_damaged_networks(tmp_path, tiny_generator_path, edit, fragment):
    path = _modified(tmp_path, tiny_generator_path, edit)
    message = one_line_error(stylegan2.load_generator, path)
    assert fragment in message and str(path) in message


def test_bad_latents(tiny_generator):
    G = tiny_generator
    assert "z has shape (3, 7), expected (N, 32)" in one_line_error(G.mapping, np.zeros((3, 7)))
    assert "z has shape (32,), expected (N, 32)" in one_line_error(G.mapping, np.zeros(32))
    z = np.zeros((2, 32))
    z[1, 3] = np.nan
    assert "z contains NaN or infinite values" in one_line_error(G.mapping, z)
    assert "z must be a numeric array" in one_line_error(G.mapping, "zzz")
    assert "truncation_psi must be a finite number" in one_line_error(G.mapping, np.zeros((1, 32)), float("nan"))
    assert "truncation_cutoff must be None or an integer >= 0" in one_line_error(
        G.mapping, np.zeros((1, 32)), 0.5, -1)
    ws = np.zeros((2, G.num_ws, G.w_dim))
    assert "ws has shape (2, 32), expected (N, 6, 32)" in one_line_error(G.synthesis, ws[:, 0])
    assert "ws has shape (2, 5, 32), expected (N, 6, 32)" in one_line_error(G.synthesis, ws[:, :5])
    ws[0, 0, 0] = np.inf
    assert "ws contains NaN or infinite values" in one_line_error(G.synthesis, ws)
    assert "noise_mode must be one of const, random" in one_line_error(
        G.synthesis, np.zeros((1, 6, 32)), noise_mode="fresh")
    assert "noise must be a list of 5 arrays" in one_line_error(G.synthesis, np.zeros((1, 6, 32)), noise=[])
    assert "images contain NaN" in one_line_error(stylegan2.to_uint8, np.full((1, 2, 2, 3), np.nan))


def test_inputs_accept_numpy_and_tensors_of_any_float_type(tiny_generator):
    import tensorflow as tf

    G = tiny_generator
    z = np.random.RandomState(1).randn(2, G.z_dim)
    a = np.asarray(G.mapping(z))
    b = np.asarray(G.mapping(tf.constant(z.astype(np.float32))))
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and a.shape == (2, G.num_ws, G.w_dim)
    img = G.synthesis(tf.constant(a))
    assert np.asarray(img).shape == (2, 16, 16, 3)


@pytest.mark.parametrize("seeds,fragment", [("a-b", "is not a list of seeds"), ("7-3", "is empty"),
                                            ("1,,2", "is not a list of seeds"), ("99999999999", "beyond")])
def test_cli_bad_seeds(capsys, tiny_generator_path, tmp_path, seeds, fragment):
    err = cli_error(capsys, ["generate", "--network", str(tiny_generator_path), "--seeds", seeds,
                             "--out_dir", str(tmp_path)])
    assert fragment in err


def test_cli_missing_arguments_exit_2(capsys):
    err = cli_error(capsys, ["generate", "--seeds", "0"])
    assert "--network" in err


def test_cli_writes_pngs_of_the_seeds(tiny_generator_path, tiny_generator, tmp_path, capsys):
    out = tmp_path / "images"
    assert main(["generate", "--network", str(tiny_generator_path), "--seeds", "0-2,7", "--truncation", "0.5",
                 "--out_dir", str(out), "--batch_size", "3"]) == 0
    assert "wrote 4 images" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["seed0000.png", "seed0001.png", "seed0002.png", "seed0007.png"]
    G = tiny_generator
    for seed in (0, 1, 2, 7):
        z = np.random.RandomState(seed).randn(1, G.z_dim)
        expected = stylegan2.to_uint8(G.synthesis(G.mapping(z, truncation_psi=0.5)))[0]
        np.testing.assert_array_equal(np.asarray(Image.open(out / f"seed{seed:04d}.png")), expected)


def test_cli_noise_follows_run_generator(tmp_path):
    """NVIDIA's run_generator.py draws z, then every noise buffer, from RandomState(seed)."""
    path = shared_file("fixtures/stylegan2/skip32.pkl")
    out = tmp_path / "out"
    main(["generate", "--network", str(path), "--seeds", "3-4", "--truncation", "0.7", "--out_dir", str(out)])
    main(["generate", "--network", str(path), "--seeds", "3", "--truncation", "0.7", "--noise_mode", "const",
          "--out_dir", str(tmp_path / "const")])
    G = stylegan2.load_generator(path)
    for seed in (3, 4):
        rnd = np.random.RandomState(seed)
        z = rnd.randn(1, G.z_dim)
        noise = [rnd.randn(1, 1, h, w)[0] for h, w in G.noise_shapes]
        expected = stylegan2.to_uint8(G.synthesis(G.mapping(z, truncation_psi=0.7), noise=noise))[0]
        np.testing.assert_array_equal(np.asarray(Image.open(out / f"seed{seed:04d}.png")), expected)
    const = stylegan2.to_uint8(G.synthesis(G.mapping(np.random.RandomState(3).randn(1, G.z_dim), 0.7)))[0]
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "const" / "seed0003.png")), const)
    assert not np.array_equal(const, np.asarray(Image.open(out / "seed0003.png")))
