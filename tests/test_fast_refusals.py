"""Bad input is refused before TensorFlow is imported (issue 24, item 4): every command checks its flags,
paths and attributes first, and TensorFlow, imported only for the work, is never loaded for a refusal or
for --help. Checked in a fresh interpreter by ``'tensorflow' in sys.modules`` after each command returns."""
import json
import subprocess
import sys

from gradctrl.classifier.model import LatentClassifier, save_classifier

from conftest import ROOT

_RUN_CASES = """
import contextlib, importlib, io, json, sys
results = []
for module, argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = importlib.import_module(module).main(argv)
        except SystemExit as e:
            code = e.code
    results.append([code, err.getvalue(), "tensorflow" in sys.modules])
print(json.dumps(results))
"""


def test_bad_input_and_help_are_answered_without_importing_tensorflow(tmp_path, tiny_generator_path):
    model = tmp_path / "model"
    save_classifier(LatentClassifier(32, ["a", "b"], {"a": 1, "b": 1}, hidden_size=4), model)
    config = tmp_path / "c.toml"
    config.write_text(f'[generator]\nfile = "{tiny_generator_path}"\n[attributes.a]\nscorer = "builtin:brightness"\n'
                      '[attributes.b]\nscorer = "builtin:warmth"\n')
    missing = str(tmp_path / "missing.pkl")
    m, g = str(model), str(tiny_generator_path)
    manipulate = ["--model_dir", m, "--out_dir", str(tmp_path / "e"), "--generator", g]
    cases = [  # (module, argv, what the one-line error names)
        ("gradctrl.commands.manipulate", manipulate + ["--attribute", "zz"], "--attribute 'zz'"),
        ("gradctrl.commands.manipulate", manipulate + ["--attribute", "a", "--steps", "0"], "--steps 0"),
        ("gradctrl.commands.manipulate", ["--model_dir", missing, "--attribute", "a", "--out_dir", "e"], missing),
        ("gradctrl.commands.manipulate", manipulate[:-1] + [missing, "--attribute", "a"], missing),
        ("gradctrl.commands.manipulate", manipulate + ["--attribute", "a", "--input_dir", missing], missing),
        ("gradctrl.commands.manipulate", manipulate + ["--attribute", "a", "--seed", "-1"], "--seed -1"),
        ("gradctrl.commands.manipulate", manipulate + ["--attribute", "a", "--bogus"], "--bogus"),
        ("gradctrl.commands.evaluate", ["--config", str(config), "--model_dir", m, "--out_dir", str(tmp_path / "v"),
                                        "--attributes", "zz", "--methods", "gradctrl"], "'zz'"),
        ("gradctrl.commands.evaluate", ["--config", str(config), "--model_dir", m, "--out_dir", str(tmp_path / "v"),
                                        "--generator", missing, "--methods", "gradctrl"], missing),
        ("gradctrl.commands.figures", ["--config", str(config), "--model_dir", m, "--out", str(tmp_path / "f.png"),
                                       "--attributes", "zz"], "'zz'"),
        ("gradctrl.commands.prepare_data", ["--config", str(config), "--generator", missing, "--out_dir",
                                            str(tmp_path / "d"), "--n_samples", "100"], missing),
        ("gradctrl.commands.train", ["--data_dir", missing, "--out_dir", str(tmp_path / "t")], missing),
        ("stylegan2.cli", ["generate", "--network", g, "--seeds", "7-2", "--out_dir", str(tmp_path / "o")], "7-2"),
        ("stylegan2.cli", ["generate", "--network", missing, "--seeds", "0", "--out_dir", str(tmp_path / "o")],
         missing),
        ("stylegan2.cli", ["train", "--out_dir", str(tmp_path / "r"), "--batch_size", "0", "--data", missing],
         "--batch_size"),
    ]
    helps = [(module, [*sub, "--help"]) for module, sub in (
        ("stylegan2.cli", []), ("stylegan2.cli", ["generate"]), ("stylegan2.cli", ["train"]),
        ("gradctrl.commands.manipulate", []), ("gradctrl.commands.evaluate", []), ("gradctrl.commands.figures", []),
        ("gradctrl.commands.prepare_data", []), ("gradctrl.commands.prepare_data", ["merge"]),
        ("gradctrl.commands.train", []))]
    runs = [[module, argv] for module, argv, _ in cases] + [list(h) for h in helps]
    process = subprocess.run([sys.executable, "-c", _RUN_CASES, json.dumps(runs)], cwd=ROOT, capture_output=True,
                             text=True, timeout=300)
    assert process.returncode == 0, process.stderr
    results = json.loads(process.stdout.strip().splitlines()[-1])
    for (module, argv, named), (code, err, tensorflow) in zip(cases, results):
        assert code == 2 and named in err.strip().splitlines()[-1], (module, argv, err)   # argparse: usage first
        assert len(err.strip().splitlines()) == 1 or argv[-1] == "--bogus", (module, argv, err)
        assert not tensorflow, f"{module} {argv}: TensorFlow imported before the refusal ({err.strip()})"
    for (module, argv), (code, err, tensorflow) in zip(helps, results[len(cases):]):
        assert code == 0 and not tensorflow, (module, argv, err)
