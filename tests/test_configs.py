"""The paper configs (configs/ffhq.toml, car.toml, cat.toml): they parse, fit their generators, hold the
authors' settings, and broken copies of them fail with one line naming file, key and problem."""
import ast
import json
import re
from pathlib import Path

import pytest

from gradctrl import UserError
from gradctrl.formats.config import check_against_generator, load_config
from stylegan2 import safe_pickle

from conftest import ROOT, shared_file

# Official generator shapes: W+ layers = 2 log2(resolution) - 2, w_dim 512.
PAPER = {"ffhq": dict(num_ws=18, model="model_ffhq"), "car": dict(num_ws=16, model="model_car"),
         "cat": dict(num_ws=14, model="model_cat")}
NVIDIA = "https://nvlabs-fi-cdn.nvidia.com/stylegan2/networks/"


def _released_params(model):
    """The authors' model_params.pkl: a dict of strings and ints, so it loads with an empty allow-list."""
    with open(shared_file(f"released/{model}/model_params.pkl"), "rb") as f:
        return safe_pickle.load(f, {}, "model_params.pkl")


@pytest.mark.parametrize("name", sorted(PAPER))
def test_paper_config_parses_and_fits_its_generator(name):
    cfg = load_config(ROOT / "configs" / f"{name}.toml")
    check_against_generator(cfg, num_ws=PAPER[name]["num_ws"], w_dim=512)
    assert cfg.generator.file == str(ROOT / f"stylegan2-{name}-config-f.pkl")   # relative to the config
    assert cfg.generator.url == NVIDIA + f"stylegan2-{name}-config-f.pkl"
    assert cfg.generator.truncation == 0.4 and cfg.generator.num_ws == PAPER[name]["num_ws"]
    for attribute in cfg.attributes.values():
        assert attribute.steps == 9 and attribute.step_size == pytest.approx(4 / 9, abs=1e-15)


@pytest.mark.parametrize("name", sorted(PAPER))
def test_paper_config_attributes_match_the_released_classifiers(name):
    params = _released_params(PAPER[name]["model"])
    names = params["attributes"].split(",")
    classes = [int(k) for k in params.get("multiclass_classes", ",".join("1" * len(names))).split(",")]
    cfg = load_config(ROOT / "configs" / f"{name}.toml")
    assert list(cfg.attributes) == names
    assert [cfg.attribute(a).classes for a in names] == classes


def test_ffhq_defaults_are_the_authors_exclude_dict():
    """EXCLUDE_DICT_FFHQ as recorded from the authors' manipulate.py in the fixture's JSON."""
    meta = json.loads(shared_file("fixtures/gradctrl/ffhq_ref.json").read_text())
    source = meta["exclude_settings_source"]
    table = ast.literal_eval(re.search(r"=\s*(\{.*?\]\]\})", source).group(1))
    branches = meta["attributes"]
    cfg = load_config(ROOT / "configs" / "ffhq.toml")
    for index, (excluded, top_k, layers) in table.items():
        attribute = cfg.attribute(branches[int(index)])
        assert attribute.exclude == {branches[e]: k for e, k in zip(excluded, top_k)}
        assert attribute.layers == tuple(layers)
    pose = cfg.attribute("pose")                       # our choice (no authors' entry): coarse layers
    assert "pose" not in [branches[int(i)] for i in table] and pose.layers == (0, 4)


def test_ffhq_scorers_are_nvidias_public_classifiers():
    """gender, smile, eyeglasses, age: NVIDIA's CelebA-HQ classifiers 00-male, 01-smiling, 19-eyeglasses and
    04-young negated (age is young's opposite); pose has none. Every file's download address is in the config."""
    path = ROOT / "configs" / "ffhq.toml"
    cfg = load_config(path)
    at_root = f"nvidia:{ROOT}/celebahq-classifier"      # the paths are relative to the config: the repository root
    assert {name: a.scorer for name, a in cfg.attributes.items()} == {
        "gender": f"{at_root}-00-male.pkl", "smile": f"{at_root}-01-smiling.pkl",
        "eyeglasses": f"{at_root}-19-eyeglasses.pkl", "age": f"{at_root}-04-young.pkl,neg", "pose": None}
    text = path.read_text()
    for attribute in ("gender", "smile", "eyeglasses", "age"):
        file = Path(cfg.attribute(attribute).scorer.split(":", 1)[1].split(",")[0]).name
        assert f"https://nvlabs-fi-cdn.nvidia.com/stylegan/networks/metrics/{file}\n" in text


@pytest.mark.parametrize("name", ["car", "cat"])
def test_car_and_cat_edit_layers_6_to_14_without_exclusion(name):
    cfg = load_config(ROOT / "configs" / f"{name}.toml")
    for attribute in cfg.attributes.values():
        assert attribute.layers == (6, 14) and attribute.exclude == {}


def _broken_copy(tmp_path, old, new):
    text = (ROOT / "configs" / "ffhq.toml").read_text()
    assert old in text
    path = tmp_path / "ffhq.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize("old, new, key, problem", [
    ("steps = 9\n", "steps = 9\nstrength = 2\n", "attributes.gender.strength", "unknown key"),
    ("num_ws = 18", "num_ws = 18\nnum_layers = 18", "generator.num_layers", "unknown key"),
    ("truncation = 0.4", 'truncation = "0.4"', "generator.truncation", "expected a finite number"),
    ("layers = [2, 10]", 'layers = "2:10"', "attributes.gender.layers", "expected [lo, hi]"),
    ("exclude = { smile = 250,", "exclude = { smile = 2.5,", "attributes.gender.exclude.smile",
     "expected an integer"),
    ("exclude = { smile = 250,", "exclude = { smiling = 250,", "attributes.gender.exclude.smiling",
     "unknown attribute (known: gender, smile, eyeglasses, age, pose)"),
])
def test_broken_paper_config_names_file_key_and_problem(tmp_path, old, new, key, problem):
    path = _broken_copy(tmp_path, old, new)
    with pytest.raises(UserError) as e:
        load_config(path)
    message = str(e.value)
    assert "\n" not in message and message.startswith(f"config {path}: key '{key}': ")
    assert problem in message


def test_paper_config_on_a_smaller_generator_names_the_layer_range(tmp_path):
    """FFHQ's layer ranges, top-k counts and W+ size checked against a generator they do not fit."""
    path = _broken_copy(tmp_path, "num_ws = 18          #", "#")
    cfg = load_config(path)
    with pytest.raises(UserError) as e:
        check_against_generator(cfg, num_ws=8, w_dim=512)
    assert str(e.value) == (f"config {path}: key 'attributes.gender.layers': [2, 10] reaches past the "
                            "8 W+ layers of the generator (hi <= 8)")
    with pytest.raises(UserError, match=rf"config {re.escape(str(ROOT))}.*key 'generator.num_ws': is 18 but"):
        check_against_generator(load_config(ROOT / "configs" / "ffhq.toml"), num_ws=14, w_dim=512)
    with pytest.raises(UserError, match=r"'attributes.gender.exclude.smile': top-k 250 exceeds the latent width 128"):
        check_against_generator(cfg, num_ws=18, w_dim=128)
