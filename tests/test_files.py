"""gradctrl.files: the JSON writer, the output-folder check and the background writer."""
import json

import pytest

from gradctrl.errors import UserError
from gradctrl.files import BackgroundWriter, check_output_dir, json_bytes, write_json


def test_write_json_is_deterministic_and_atomic(tmp_path):
    path = tmp_path / "sub" / "settings.json"
    write_json(path, {"b": [1, 2], "a": "é"})
    assert path.read_bytes() == json_bytes({"b": [1, 2], "a": "é"}) and path.read_text(encoding="utf-8").endswith("}\n")
    assert json.loads(path.read_text(encoding="utf-8")) == {"b": [1, 2], "a": "é"}
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]


def test_check_output_dir_refuses_foreign_folders(tmp_path):
    assert check_output_dir(tmp_path / "absent", "marker.json", "a thing") == tmp_path / "absent"
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "marker.json").write_text("{}")
    check_output_dir(tmp_path / "mine", "marker.json", "a thing")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("keep")
    with pytest.raises(UserError, match="exists and is not a thing"):
        check_output_dir(tmp_path / "other", "marker.json", "a thing")


def test_background_writer_runs_every_write_and_raises_failures(tmp_path):
    with BackgroundWriter(max_pending=2) as writer:
        for i in range(5):
            writer.submit(write_json, tmp_path / f"{i}.json", i)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{i}.json" for i in range(5)]
    with pytest.raises(ZeroDivisionError):
        with BackgroundWriter() as writer:
            writer.submit(lambda: 1 / 0)
