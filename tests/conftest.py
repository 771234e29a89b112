"""Shared test fixtures: the reference folder ../shared and one tiny generator for the whole suite."""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def shared_file(relative):
    """Path of a file under ../shared; skips the test when it is missing (fails when GRADCTRL_REQUIRE_FIXTURES=1)."""
    path = SHARED / relative
    if not path.exists():
        message = f"reference file {path} is missing (the read-only ../shared folder beside the checkout)"
        if os.environ.get("GRADCTRL_REQUIRE_FIXTURES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


# The suite's one tiny generator: every size small, so a render costs milliseconds on 2 cores.
TINY_GENERATOR_ARGS = dict(resolution=16, architecture="skip", fmap_base=128, fmap_max=32,
                           z_dim=32, w_dim=32, mapping_layers=2, seed=11)


@pytest.fixture(scope="session")
def tiny_generator_path(tmp_path_factory):
    """An official-format pickle of a tiny random generator (see TINY_GENERATOR_ARGS)."""
    import stylegan2

    path = tmp_path_factory.mktemp("tiny_generator") / "tiny16.pkl"
    stylegan2.save_generator(stylegan2.random_generator(**TINY_GENERATOR_ARGS), path)
    return path


@pytest.fixture(scope="session")
def tiny_generator(tiny_generator_path):
    """The tiny generator, loaded through the official-pickle reader."""
    import stylegan2

    return stylegan2.load_generator(tiny_generator_path)
