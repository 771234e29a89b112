"""stylegan2.command_line: the one command convention of both packages, and the old flag spellings kept for one
release as hidden aliases that print a one-line deprecation note (issue 26, item 1)."""
import argparse

import pytest

from gradctrl import report
from gradctrl.commands import world_tools as world_command
from stylegan2 import cli
from stylegan2.command_line import deprecation_note, keep_old_spellings, parse_args


def _parser():
    parser = argparse.ArgumentParser(prog="toy")
    parser.add_argument("--out_dir", required=True)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--no_progress", action="store_true")
    keep_old_spellings(parser, {"--outdir": "--out_dir", "--batch-size": "--batch_size", "--no-progress": "--no_progress"})
    return parser


def test_an_old_spelling_acts_as_the_new_flag_with_one_note_per_use(capsys):
    new = parse_args(_parser(), ["--out_dir", "d", "--batch_size", "3", "--no_progress"])
    assert capsys.readouterr().err == ""
    old = parse_args(_parser(), ["--outdir", "d", "--batch-size", "3", "--no-progress"])
    assert vars(old) == vars(new) == {"out_dir": "d", "batch_size": 3, "no_progress": True}
    assert capsys.readouterr().err.splitlines() == [deprecation_note("--outdir", "--out_dir"),
                                                    deprecation_note("--batch-size", "--batch_size"),
                                                    deprecation_note("--no-progress", "--no_progress")]
    assert deprecation_note("--outdir", "--out_dir").count("\n") == 0 and "--out_dir" in deprecation_note("--outdir", "--out_dir")


def test_a_required_flag_is_still_required_under_either_spelling(capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(_parser(), ["--batch_size", "3"])
    assert exit_info.value.code == 2 and "required: --out_dir" in capsys.readouterr().err
    assert parse_args(_parser(), ["--outdir", "d"]).out_dir == "d"


def test_old_spellings_are_hidden_from_help():
    text = _parser().format_help()
    assert "--out_dir" in text and "--batch_size" in text
    assert "--outdir" not in text and "--batch-size" not in text and "--no-progress" not in text


@pytest.mark.parametrize("parser, old, new", [
    (cli.build_parser(), ["train", "--data", "x.npy", "--outdir", "r", "--total-kimg", "2", "--kid-samples", "0",
                          "--no-progress", "--peer-timeout", "5"],
     ["train", "--data", "x.npy", "--out_dir", "r", "--total_kimg", "2", "--kid_samples", "0", "--no_progress",
      "--peer_timeout", "5"]),
    (cli.build_parser(), ["generate", "--network", "g.pkl", "--seeds", "0", "--outdir", "o", "--trunc", "0.7",
                          "--trunc-cutoff", "4", "--noise-mode", "const", "--batch-size", "2"],
     ["generate", "--network", "g.pkl", "--seeds", "0", "--out_dir", "o", "--truncation", "0.7",
      "--truncation_cutoff", "4", "--noise_mode", "const", "--batch_size", "2"]),
    (world_command.build_parser(), ["quality", "--network", "g.pkl", "--data", "d", "--out", "q", "--trunc", "0.5",
                                    "--n", "9"],
     ["quality", "--generator", "g.pkl", "--data", "d", "--out_dir", "q", "--truncation", "0.5", "--n_samples", "9"]),
    (world_command.build_parser(), ["draw", "--n", "4", "--out", "w"], ["draw", "--n_samples", "4", "--out_dir", "w"]),
    (world_command.build_parser(), ["grid", "--n", "4", "--out", "g.png"],
     ["grid", "--n_samples", "4", "--out", "g.png"]),
    (world_command.build_parser(), ["train-scorer", "--out", "s.keras", "--n", "8", "--epochs", "2", "--test_n", "3"],
     ["train-scorer", "--out", "s.keras", "--n_samples", "8", "--n_epochs", "2", "--test_n_samples", "3"]),
    (world_command.build_parser(), ["snapshots", "--run", "r", "--data", "d", "--out", "o", "--n", "5"],
     ["snapshots", "--run", "r", "--data", "d", "--out_dir", "o", "--n_samples", "5"]),
    (report.build_parser(), ["run", "--out", "page"], ["run", "--out_dir", "page"]),
])
def test_every_renamed_flag_of_the_commands_parses_as_its_new_spelling(capsys, parser, old, new):
    assert vars(parse_args(parser, old)) == vars(parse_args(parser, new))
    notes = capsys.readouterr().err.splitlines()
    assert len(notes) == sum(word.startswith("--") and word not in new for word in old)
    assert all(line.startswith("note: ") and "deprecated" in line for line in notes)
