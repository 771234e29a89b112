"""Opening the generator a command works on: a flag's path or the config's, or the demo's random one."""
import json
import sys
from pathlib import Path

import stylegan2
from stylegan2.download import fetch, file_sha256, is_url  # noqa: F401  (file_sha256: gradctrl's name for it)
from stylegan2.official_pickle import DOWNLOAD_URL

from .errors import UserError


def generator_file(path, config):
    """The generator file a command works on: ``path`` (a flag) or else ``config.generator.file`` -> Path,
    checked without loading it (no TensorFlow), so a command refuses a missing file at once.

    A missing file is a UserError saying where NVIDIA's pickles are downloaded from, unless the config
    describes it as a random generator (its ``random`` table, the demo), which :func:`open_generator` builds.
    An http(s) URL is downloaded once into the cache (:func:`stylegan2.download.fetch`; the config's
    ``sha256`` pin checked when the URL is its ``file``) and the cached file returned.
    """
    generator = config.generator
    path = path or generator.file
    if not path:
        raise UserError("no generator given: pass --generator PKL (an official StyleGAN2 pickle) "
                        "or a --config whose [generator] table names a file")
    if is_url(path):
        return fetch(path, generator.sha256 if path == generator.file else None)
    path = Path(path)
    if not path.exists() and not _is_random(path, generator):
        where = generator.url or DOWNLOAD_URL
        raise UserError(f"generator pickle '{path}' not found: download it from {where} and pass its path")
    return path


def _is_random(path, generator):
    """True when ``path`` is the file the config's ``random`` table builds."""
    return generator.random is not None and generator.file is not None and path == Path(generator.file)


def open_generator(path, config):
    """Load the generator from ``path`` (a flag) or else ``config.generator.file`` -> stylegan2 Generator:
    :func:`load_generator_file` of :func:`generator_file`. A command that also needs the file's path (to
    refuse a missing one early, to record its SHA-256) calls those two itself, so it resolves the path once.
    """
    return load_generator_file(generator_file(path, config), config)


def load_generator_file(path, config):
    """Load the generator at ``path``, as :func:`generator_file` resolved it -> stylegan2 Generator.

    A missing file that the config describes as a random generator (its ``random`` table, the demo) is
    built and saved there first, atomically. The config's ``num_ws``, if set, must match the generator's.
    """
    generator = config.generator
    path = Path(path)
    if not path.exists():
        save_random_generator(path, generator.random)
    G = stylegan2.load_generator(path)
    if generator.num_ws is not None and G.num_ws != generator.num_ws:
        raise UserError(f"config {config.path}: key 'generator.num_ws': is {generator.num_ws} "
                        f"but '{path}' has {G.num_ws} W+ layers")
    return G


def save_random_generator(path, kwargs):
    """Build ``stylegan2.random_generator(**kwargs)`` and save it to ``path`` (atomically, its folder created)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    stylegan2.save_generator(stylegan2.random_generator(**kwargs), path)


def trained_generator_sha256(model_dir):
    """The SHA-256 of the generator a model directory's classifier was trained on, as train.py recorded it
    (``metrics.json`` -> ``data_manifest`` -> ``generator_sha256``), or None when nothing records one (the
    authors' released models, data directories built from their latents)."""
    try:
        record = json.loads((Path(model_dir) / "metrics.json").read_text(encoding="utf-8"))
        sha256 = record["data_manifest"]["generator_sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return sha256 if isinstance(sha256, str) else None


def check_trained_generator(generator_path, model_dir, allow_other=False):
    """Refuse (UserError) a generator file other than the one the classifier in ``model_dir`` was trained on,
    as its ``metrics.json`` records it; ``allow_other``: a warning on stderr instead. No record: no check."""
    recorded = trained_generator_sha256(model_dir)
    if recorded is None:
        return
    actual = file_sha256(generator_path)
    if actual == recorded:
        return
    problem = (f"generator '{generator_path}' (sha256 {actual[:12]}...) is not the one the classifier in "
               f"'{model_dir}' was trained on (its metrics.json records sha256 {recorded[:12]}...)")
    if allow_other:
        print(f"warning: {problem}; editing with it anyway (--allow_other_generator)", file=sys.stderr)
        return
    raise UserError(f"{problem}: pass that generator (--generator or the config's generator.file), "
                    "or --allow_other_generator to use this one anyway")
