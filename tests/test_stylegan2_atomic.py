"""Atomic outputs: nothing appears at the target until the body succeeds; temporaries are findable."""
import pytest

from stylegan2.atomic import atomic_dir, atomic_path


def test_atomic_path_renames_on_success_and_cleans_up_on_failure(tmp_path):
    target = tmp_path / "part_000003.npz"
    with atomic_path(target) as temporary:
        # the name a rerun globs for to remove what a killed process left
        assert temporary.parent == tmp_path and temporary.match(".part_000003.npz.tmp-*")
        temporary.write_bytes(b"whole")
        assert not target.exists()
    assert target.read_bytes() == b"whole"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temporary:
            temporary.write_bytes(b"half")
            raise RuntimeError("killed")
    assert target.read_bytes() == b"whole" and sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_atomic_dir_replaces_a_folder_whole(tmp_path):
    target = tmp_path / "out"
    with atomic_dir(target) as folder:
        (folder / "a").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as folder:
            (folder / "b").write_text("2")
            raise RuntimeError("failed")
    assert sorted(p.name for p in target.iterdir()) == ["a"]
    with atomic_dir(target) as folder:
        (folder / "c").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["c"] and sorted(p.name for p in tmp_path.iterdir()) == ["out"]
