"""A classifier meets the generator it was trained on: manipulate.py, evaluate.py and figures.py compare the
generator file with the sha256 train.py recorded in the model's metrics.json (issue 24, item 1)."""
import hashlib
import json
import shutil

import pytest

from gradctrl.classifier.model import LatentClassifier, save_classifier
from gradctrl.commands import evaluate, figures, manipulate


def _model_with_record(path, generator_bytes):
    """A tiny classifier (w_dim 32: the tiny generator's) whose metrics.json records sha256(generator_bytes)."""
    metrics = {"data_manifest": {"generator_sha256": hashlib.sha256(generator_bytes).hexdigest()}}
    save_classifier(LatentClassifier(32, ["a", "b"], {"a": 1, "b": 1}, hidden_size=4, seed=1), path,
                    extra_json={"metrics.json": metrics})
    return path


def _argv(command, tmp_path, model_dir, generator):
    config = tmp_path / "c.toml"
    config.write_text(f'[generator]\nfile = "{generator}"\n\n[attributes.a]\nsteps = 1\n\n[attributes.b]\nsteps = 1\n')
    common = ["--model_dir", model_dir, "--generator", generator, "--no_progress"]
    argv = {manipulate: ["--attribute", "a", "--out_dir", tmp_path / "edits", "--n_samples", 1, "--steps", 1],
            evaluate: ["--config", config, "--out_dir", tmp_path / "eval", "--latent_only", "--methods", "gradctrl",
                       "--n_samples", 2, "--steps", 1],
            figures: ["--config", config, "--out", tmp_path / "f.png", "--n_samples", 1, "--width", 32]}[command]
    return [str(x) for x in common + argv]


@pytest.mark.parametrize("command", [manipulate, evaluate, figures], ids=["manipulate", "evaluate", "figures"])
def test_another_generator_is_refused_in_one_line_naming_both_files(command, tmp_path, tiny_generator_path, capsys):
    other = tmp_path / "other.pkl"
    shutil.copyfile(tiny_generator_path, other)
    with open(other, "ab") as f:      # a different file: the recorded generator is not this one
        f.write(b"\0")
    model_dir = _model_with_record(tmp_path / "model", other.read_bytes())
    with pytest.raises(SystemExit) as exit_info:
        command.main(_argv(command, tmp_path, model_dir, tiny_generator_path))
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1, err
    assert str(tiny_generator_path) in err and str(model_dir) in err and "--allow_other_generator" in err
    assert hashlib.sha256(other.read_bytes()).hexdigest()[:12] in err
    assert not any(p.name in ("edits", "eval", "f.png") for p in tmp_path.iterdir())

    assert command.main(_argv(command, tmp_path, model_dir, tiny_generator_path) + ["--allow_other_generator"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: ") and str(model_dir) in err


@pytest.mark.parametrize("command", [manipulate, figures], ids=["manipulate", "figures"])
def test_the_recorded_generator_runs_without_a_warning(command, tmp_path, tiny_generator_path, capsys):
    model_dir = _model_with_record(tmp_path / "model", tiny_generator_path.read_bytes())
    assert command.main(_argv(command, tmp_path, model_dir, tiny_generator_path)) == 0
    assert "warning" not in capsys.readouterr().err
