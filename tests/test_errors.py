"""gradctrl.errors: the library's UserError is the generator package's InputError, so every command of both
packages reports it the same way (one line ``prog: error: message`` on stderr, exit code 2, no traceback)."""
import argparse

import pytest

from gradctrl.commands import prepare_data
from gradctrl.errors import UserError
from stylegan2.command_line import run_command
from stylegan2.errors import InputError


def test_a_user_error_raised_in_a_command_body_is_one_line_and_exit_2(capsys):
    def body(args):
        raise UserError(f"--size {args.size}: must be at least 1")

    parser = argparse.ArgumentParser(prog="cmd")
    parser.add_argument("--size", type=int)
    with pytest.raises(SystemExit) as exit_info:
        run_command(parser, body, ["--size", "0"])
    captured = capsys.readouterr()
    assert exit_info.value.code == 2 and captured.out == ""
    assert captured.err == "cmd: error: --size 0: must be at least 1\n"
    assert issubclass(UserError, InputError)


def test_a_stage_command_reports_its_user_error_in_one_line(tmp_path, capsys):
    """A real gradctrl command: a config file that does not exist is a UserError of the library layer."""
    with pytest.raises(SystemExit) as exit_info:
        prepare_data.main(["--config", str(tmp_path / "missing.toml"), "--out_dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("prepare_data.py: error: ") and "missing.toml" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
