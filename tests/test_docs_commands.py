"""The README's and docs' command blocks marked runnable (an HTML comment ``<!-- runnable -->`` on the line
before a ```bash block) run as written, in order, on small settings, so the docs cannot drift from the code
(issue 24, item 8). Each block runs with bash in a scratch folder that links the repository's commands and
configs; the small settings are flags appended to each stage command (a later flag wins in argparse)."""
import re
import shlex
import subprocess

from conftest import ROOT

MARKER = "<!-- runnable -->"
# Appended to each stage command: sizes a 2-core test can afford (flags win over the config).
SMALL = {"prepare_data.py": "--n_samples 600 --no_progress", "train.py": "--n_epochs 2 --quiet",
         "manipulate.py": "--n_samples 2 --steps 2 --no_progress",
         "evaluate.py": "--n_samples 4 --steps 2 --attributes smile --no_progress",
         "figures.py": "--n_samples 1 --attributes smile --width 128 --no_progress"}
LINKED = ("prepare_data.py", "train.py", "manipulate.py", "evaluate.py", "figures.py", "configs", "gradctrl",
          "stylegan2", "scripts")


def runnable_blocks():
    """(file, block text) of every ```bash block right after the marker, in README.md then docs/*.md."""
    blocks = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(re.escape(MARKER) + r"\n```bash\n(.*?)```", text, re.S):
            blocks.append((path.name, match.group(1)))
    return blocks


def small(block):
    """``block`` with continuation lines joined and each stage command given its SMALL flags."""
    lines = []
    for line in block.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if len(words) >= 2 and words[0] in ("python", "python3") and words[1] in SMALL:
            line = f"{line} {SMALL[words[1]]}"
        lines.append(line)
    return "\n".join(lines)


def test_every_runnable_block_runs(tmp_path):
    blocks = runnable_blocks()
    assert any(name == "README.md" for name, _ in blocks)     # the README's pipeline is marked
    for entry in LINKED:
        (tmp_path / entry).symlink_to(ROOT / entry)
    for name, block in blocks:
        script = "set -euo pipefail\n" + small(block)
        process = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=900)
        assert process.returncode == 0, f"{name}:\n{script}\n{process.stderr[-3000:]}"


def test_help_gives_the_truncation_default_the_code_uses():
    """--help of evaluate, figures and prepare_data names the config's truncation as the default, and the
    value without a config is the one the code falls back to (it said 0.4 where configs/world.toml has 0.7)."""
    from gradctrl.commands import evaluate, figures, prepare_data
    from gradctrl.formats.config import default_config

    for parser in (evaluate.build_parser(), figures.build_parser(), prepare_data._run_parser()):
        text = " ".join(parser.format_help().split())
        assert "(default: the config's generator.truncation;" in text, text
        assert f"{default_config().generator.truncation} without a config)" in text, text
