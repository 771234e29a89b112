"""The config file format: what it reads, and the one-line errors naming file, key and problem."""
from pathlib import Path

import pytest

from gradctrl.errors import UserError
from gradctrl.formats import config as config_module

GOOD = """
[generator]
file = "g.pkl"
url = "https://example.org/g.pkl"
truncation = 0.5
num_ws = 8

[data]
n_samples = 500
p_perclass = 0.1

[train]
hidden_size = "none"
lr = 0.01

[attributes.gender]
exclude = { smile = 250, age = 100 }
layers = [2, 8]

[attributes.smile]
scorer = "builtin:brightness"
steps = 5
step_size = 0.25

[attributes.age]

[attributes.color]
classes = 3
class_names = ["red", "green", "blue"]
"""


def write(tmp_path, text):
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_reads_every_table(tmp_path):
    cfg = config_module.load_config(write(tmp_path, GOOD))
    assert cfg.generator.file == str(tmp_path / "g.pkl") and cfg.generator.truncation == 0.5 and cfg.generator.num_ws == 8
    assert cfg.data.n_samples == 500 and cfg.data.p_perclass == 0.1 and cfg.data.p_val == 0.3
    assert cfg.train.hidden_size is None and cfg.train.lr == 0.01 and cfg.train.batch_size == 32
    gender = cfg.attribute("gender")
    assert gender.exclude == {"smile": 250, "age": 100} and gender.layers == (2, 8)
    assert gender.steps == 9 and gender.step_size == 4 / 9 and gender.classes == 1
    assert cfg.attribute("smile").steps == 5 and cfg.attribute("smile").scorer == "builtin:brightness"
    assert cfg.attribute("color").classes == 3 and cfg.attribute("color").class_names == ("red", "green", "blue")
    assert list(cfg.attributes) == ["gender", "smile", "age", "color"]


def test_defaults_without_a_file():
    cfg = config_module.default_config()
    assert cfg.generator.truncation == 0.4
    assert cfg.attribute("anything").steps == 9 and cfg.attribute("anything").layers is None


@pytest.mark.parametrize("text, key, problem", [
    ('[generator]\nfile = "g.pkl"\ntruncaton = 0.4\n', "generator.truncaton", "unknown key"),
    ('[generatr]\n', "generatr", "unknown table"),
    ('[generator]\ntruncation = "0.4"\n', "generator.truncation", "expected a finite number"),
    ('[generator]\ntruncation = 0\n', "generator.truncation", "greater than 0"),
    ('[data]\np_val = 1.0\n', "data.p_val", "below 1"),
    ('[data]\nn_samples = 0\n', "data.n_samples", "at least 1"),
    ('[data]\nseed = true\n', "data.seed", "expected an integer"),
    ('[train]\nhidden_size = "big"\n', "train.hidden_size", "expected an integer or \"none\""),
    ('[attributes.a]\nlayers = [4, 2]\n', "attributes.a.layers", "0 <= lo < hi"),
    ('[attributes.a]\nlayers = [1]\n', "attributes.a.layers", "0 <= lo < hi"),
    ('[attributes.a]\nexclude = { b = 10 }\n', "attributes.a.exclude.b", "unknown attribute"),
    ('[attributes.a]\nexclude = { a = 10 }\n', "attributes.a.exclude.a", "cannot exclude itself"),
    ('[attributes.a]\nexclude = { b = -1 }\n[attributes.b]\n', "attributes.a.exclude.b", "at least 0"),
    ('[attributes.a]\nsteps = 2.5\n', "attributes.a.steps", "expected an integer"),
    ('[attributes.a]\ncolour = 3\n', "attributes.a.colour", "unknown key"),
    ('[attributes.a]\nclasses = 2\nclass_names = ["x"]\n', "attributes.a.class_names", "1 names but classes = 2"),
    ('[generator]\nrandom = { resolution = 32 }\n', "generator.random", "needs generator.file"),
    ('[generator]\nfile = "g"\nrandom = { size = 32 }\n', "generator.random.size", "unknown key"),
    ('attributes = 3\n', "attributes", "expected a table"),
    ('[attributes.a]\nclasses = 2\nclass_names = ["x", "x"]\n', "attributes.a.class_names", "names a class twice"),
    ('[generator]\nnum_ws = 6\n[attributes.a]\nlayers = [2, 8]\n', "attributes.a.layers",
     "[2, 8] reaches past the 6 W+ layers of generator.num_ws"),
])
def test_errors_name_file_key_and_problem(tmp_path, text, key, problem):
    path = write(tmp_path, text)
    with pytest.raises(UserError) as e:
        config_module.load_config(path)
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith(f"config {path}: key '{key}': ") and problem in message


def test_unreadable_files(tmp_path):
    with pytest.raises(UserError, match="not found"):
        config_module.load_config(tmp_path / "missing.toml")
    with pytest.raises(UserError, match="not valid TOML"):
        config_module.load_config(write(tmp_path, "[generator\n"))


def test_unknown_attribute_lists_the_known_ones(tmp_path):
    cfg = config_module.load_config(write(tmp_path, GOOD))
    with pytest.raises(UserError, match=r"no \[attributes.pose\] table \(known attributes: gender, smile, age, color\)"):
        cfg.attribute("pose")


def test_checks_against_the_generator(tmp_path):
    cfg = config_module.load_config(write(tmp_path, GOOD))
    config_module.check_against_generator(cfg, num_ws=8, w_dim=512)
    with pytest.raises(UserError, match=r"key 'generator.num_ws': is 8 but the generator has 10"):
        config_module.check_against_generator(cfg, num_ws=10, w_dim=512)
    cfg = config_module.load_config(write(tmp_path, GOOD.replace("num_ws = 8\n", "")))
    with pytest.raises(UserError, match=r"key 'attributes.gender.layers': \[2, 8\] reaches past the 6 W\+ layers of the generator"):
        config_module.check_against_generator(cfg, num_ws=6, w_dim=512)
    with pytest.raises(UserError, match=r"key 'attributes.gender.exclude.smile': top-k 250 exceeds the latent width 32"):
        config_module.check_against_generator(cfg, num_ws=8, w_dim=32)


def test_check_compatible_names_the_mismatch():
    import types

    cfg = config_module.Config(attributes={"a": config_module.AttributeConfig(name="a", layers=(0, 8))})
    generator = types.SimpleNamespace(w_dim=16, num_ws=6)
    with pytest.raises(UserError, match=r"--generator 'g.pkl': its w has 16 channels but the classifier in 'm' takes 8"):
        config_module.check_compatible(generator, types.SimpleNamespace(w_dim=8), cfg, "g.pkl", "m")
    with pytest.raises(UserError, match=r"key 'attributes.a.layers'"):
        config_module.check_compatible(generator, types.SimpleNamespace(w_dim=16), cfg, "g.pkl", "m")
    config_module.check_compatible(generator, types.SimpleNamespace(w_dim=16), cfg, "g.pkl", "m", check_layers=False)


def test_paths_resolve_relative_to_the_config_file_from_any_folder(tmp_path, monkeypatch):
    """generator.file and the PATH of keras:/nvidia: scorers from the config's folder; package: inside the
    installed package; absolute paths and URLs as written; code specs untouched."""
    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "c.toml").write_text(
        '[generator]\nfile = "../models/g.pkl"\n\n'
        '[attributes.a]\nscorer = "keras:scorers/s.keras,output=a"\n'
        '[attributes.b]\nscorer = "nvidia:/abs/c.pkl,neg"\n'
        '[attributes.c]\nscorer = "python:mod:fn"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = config_module.load_config("../configs/c.toml")
    assert cfg.generator.file == "../models/g.pkl"              # from elsewhere/: tmp_path/models/g.pkl
    assert (elsewhere / cfg.generator.file).resolve() == tmp_path / "models" / "g.pkl"
    assert cfg.attribute("a").scorer == "keras:../configs/scorers/s.keras,output=a"
    assert cfg.attribute("b").scorer == "nvidia:/abs/c.pkl,neg" and cfg.attribute("c").scorer == "python:mod:fn"
    (folder / "c.toml").write_text('[generator]\nfile = "package:assets/world32.pkl"\n')
    assert config_module.load_config(folder / "c.toml").generator.file == str(
        Path(config_module.__file__).parents[1] / "assets" / "world32.pkl")   # gradctrl/assets
    (folder / "c.toml").write_text('[generator]\nfile = "https://example.org/g.pkl"\n')
    assert config_module.load_config(folder / "c.toml").generator.file == "https://example.org/g.pkl"


def test_the_world_config_runs_manipulate_outside_the_repository(tmp_path, monkeypatch):
    """The shipped configs/world.toml names the shipped generator through the package: manipulate.py finds
    it from another folder (issue 24: it said world32.pkl was missing and to download it from NVIDIA)."""
    import numpy as np

    from conftest import ROOT
    from gradctrl.classifier.model import LatentClassifier, save_classifier
    from gradctrl.commands import manipulate

    save_classifier(LatentClassifier(128, ["smile"], {"smile": 1}, hidden_size=4, seed=0), tmp_path / "model")
    monkeypatch.chdir(tmp_path)
    assert manipulate.main(["--config", str(ROOT / "configs" / "world.toml"), "--model_dir", "model",
                            "--attribute", "smile", "--out_dir", "edits", "--n_samples", "1", "--steps", "1",
                            "--exclude", "none", "--no_progress"]) == 0
    assert np.load(tmp_path / "edits" / "smile_edits.npz")["traj_positive"].shape == (1, 1, 128)
