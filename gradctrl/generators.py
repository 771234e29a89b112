"""Opening the generator a command works on: a flag's path or the config's, or the demo's random one."""
import hashlib
from pathlib import Path

import stylegan2
from stylegan2.official_pickle import DOWNLOAD_URL

from .errors import UserError


def open_generator(path, config):
    """Load the generator from ``path`` (a flag) or else ``config.generator.file`` -> stylegan2 Generator.

    A missing file that the config describes as a random generator (its ``random`` table, the demo) is
    built and saved there first, atomically. Any other missing file is a UserError saying where NVIDIA's
    pickles are downloaded from. The config's ``num_ws``, if set, must match the generator's.
    """
    generator = config.generator
    path = path or generator.file
    if not path:
        raise UserError("no generator given: pass --generator PKL (an official StyleGAN2 pickle) "
                        "or a --config whose [generator] table names a file")
    path = Path(path)
    if not path.exists():
        if generator.random is not None and generator.file and path == Path(generator.file):
            save_random_generator(path, generator.random)
        else:
            where = generator.url or DOWNLOAD_URL
            raise UserError(f"generator pickle '{path}' not found: download it from {where} and pass its path")
    G = stylegan2.load_generator(path)
    if generator.num_ws is not None and G.num_ws != generator.num_ws:
        raise UserError(f"config {config.path}: key 'generator.num_ws': is {generator.num_ws} "
                        f"but '{path}' has {G.num_ws} W+ layers")
    return G


def save_random_generator(path, kwargs):
    """Build ``stylegan2.random_generator(**kwargs)`` and save it to ``path`` (atomically, its folder created)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    stylegan2.save_generator(stylegan2.random_generator(**kwargs), path)


def file_sha256(path):
    """Hex SHA-256 of a file's bytes (the generator's identity in data manifests)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
