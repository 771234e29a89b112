"""The data directory: what prepare_data writes and train reads, in plain numpy and JSON (no pickle).

Layout of a data directory ``D`` holding N samples of a generator whose w has ``w_dim`` channels::

    D/latents.npy          (N, w_dim) float32   the w each sample was rendered from
    D/scores/<attr>.npy    (N,) float32 for a binary attribute, (N, K) float32 for a K-class one
    D/labels/<attr>.npy    (N,) int64: binary 1 = high-score group, 0 = low-score group, -1 = not selected;
                           K-class: the argmax of the scores (every sample)
    D/splits.json          {attr: {"train": [sample indices], "val": [sample indices]}}, ascending
    D/manifest.json        what determines the data: generator hash, seed, truncation, scorers,
                           p_perclass, p_val, n_samples (never batch size, shard count or time)

The attributes of a directory are the keys of ``splits.json``, in order. A directory is written to a
temporary sibling and renamed into place, so readers never see a half-written one.
"""
import dataclasses
import json
import os
import re
from pathlib import Path

import numpy as np

from stylegan2.atomic import atomic_dir

from ..errors import UserError
from ..files import check_output_dir, json_bytes
from .selection import label_array, select, split

DATA_FORMAT = "gradctrl-data/1"
ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


@dataclasses.dataclass
class DataDir:
    """The contents of a data directory (see the module docstring for shapes and meanings).

    ``latents``: (N, w_dim) float32; ``scores`` / ``labels``: {attr: array}; ``splits``:
    {attr: {"train": [int], "val": [int]}}; ``manifest``: a JSON-serialisable dict.
    """

    latents: np.ndarray
    scores: dict
    labels: dict
    splits: dict
    manifest: dict

    @property
    def attributes(self):
        """Attribute names, in the order of ``splits``."""
        return list(self.splits)

    @property
    def n_samples(self):
        """N, the number of samples (rows of ``latents``)."""
        return int(self.latents.shape[0])

    @property
    def w_dim(self):
        """Width of each latent w."""
        return int(self.latents.shape[1])

    def num_classes(self, attr):
        """1 for a binary attribute ((N,) scores), else K ((N, K) scores)."""
        if attr not in self.scores:
            raise UserError(f"unknown attribute '{attr}': the data directory holds {', '.join(self.attributes)}")
        scores = self.scores[attr]
        return 1 if scores.ndim == 1 else int(scores.shape[1])

    def validate(self, where):
        """Check shapes, dtypes, lengths and index ranges; raise :class:`UserError` naming ``where`` otherwise."""
        latents = self.latents
        if not isinstance(latents, np.ndarray) or latents.ndim != 2 or latents.dtype != np.float32:
            raise UserError(f"{where}: latents must be a (N, w_dim) float32 array, got "
                            f"{_describe(latents)}: write it again with prepare_data.py")
        n = latents.shape[0]
        if n == 0 or latents.shape[1] == 0:
            raise UserError(f"{where}: latents are empty ({_describe(latents)}): write it again with prepare_data.py")
        if not np.all(np.isfinite(latents)):
            raise UserError(f"{where}: latents hold NaN or infinite values: write it again with prepare_data.py")
        if not isinstance(self.manifest, dict):
            raise UserError(f"{where}: the manifest must be a JSON object")
        if not isinstance(self.splits, dict) or not self.splits:
            raise UserError(f"{where}: splits must map at least one attribute to its train and val indices")
        for table, name in ((self.scores, "scores"), (self.labels, "labels")):
            extra = sorted(set(table) - set(self.splits))
            if extra:
                raise UserError(f"{where}: {name} for {', '.join(extra)} but no split for it in splits.json: "
                                "the files do not belong together, write the directory again")
        for attr in self.splits:
            self._validate_attribute(attr, n, where)

    def _validate_attribute(self, attr, n, where):
        """Check one attribute's scores, labels and split against N samples."""
        if not isinstance(attr, str) or not ATTRIBUTE_NAME.match(attr):
            raise UserError(f"{where}: attribute name {attr!r} is not usable as a file name "
                            "(letters, digits, '_', '-', '.')")
        for table, name in ((self.scores, "scores"), (self.labels, "labels")):
            if attr not in table:
                raise UserError(f"{where}: missing {name}/{attr}.npy for attribute '{attr}' named in splits.json")
        scores, labels = self.scores[attr], self.labels[attr]
        if (not isinstance(scores, np.ndarray) or scores.dtype != np.float32 or scores.ndim not in (1, 2)
                or scores.shape[0] != n or (scores.ndim == 2 and scores.shape[1] < 2)):
            raise UserError(f"{where}: scores/{attr}.npy must be float32 of shape ({n},) or ({n}, K >= 2) to match "
                            f"{n} latents, got {_describe(scores)}")
        if not np.all(np.isfinite(scores)):
            raise UserError(f"{where}: scores/{attr}.npy holds NaN or infinite values")
        if not isinstance(labels, np.ndarray) or labels.dtype != np.int64 or labels.shape != (n,):
            raise UserError(f"{where}: labels/{attr}.npy must be int64 of shape ({n},) to match {n} latents, "
                            f"got {_describe(labels)}")
        k = 2 if scores.ndim == 1 else scores.shape[1]
        split = self.splits[attr]
        if not isinstance(split, dict) or set(split) != {"train", "val"}:
            raise UserError(f"{where}: splits.json entry '{attr}' must be {{\"train\": [...], \"val\": [...]}}")
        seen = set()
        for part in ("train", "val"):
            indices = split[part]
            if not isinstance(indices, list) or not all(type(i) is int for i in indices):
                raise UserError(f"{where}: splits.json '{attr}'.{part} must be a list of integer sample indices")
            bad = [i for i in indices if not 0 <= i < n]
            if bad:
                raise UserError(f"{where}: splits.json '{attr}'.{part} holds index {bad[0]} outside [0, {n}): "
                                "the split does not belong to these latents")
            if len(set(indices)) != len(indices) or seen.intersection(indices):
                raise UserError(f"{where}: splits.json '{attr}' repeats a sample index (within or across train/val)")
            seen.update(indices)
            chosen = labels[np.asarray(indices, dtype=np.int64)]
            if np.any((chosen < 0) | (chosen >= k)):
                raise UserError(f"{where}: labels/{attr}.npy gives a selected sample a label outside [0, {k})")
        if not split["train"]:
            raise UserError(f"{where}: attribute '{attr}' has no training samples: prepare the data with a larger "
                            "--n_samples or --p_perclass")


def _describe(array):
    """'float64 (3, 4)' for an array, the type name otherwise (for messages)."""
    if isinstance(array, np.ndarray):
        return f"{array.dtype} {tuple(array.shape)}"
    return type(array).__name__


def _write_bytes(path, data):
    """Write ``data`` to a new file and flush it to disk."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _write_npy(path, array):
    """Write an array as a new .npy file (no pickle, no in-memory copy) and flush it to disk."""
    with open(path, "wb") as f:
        np.save(f, array, allow_pickle=False)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path):
    """Flush a directory entry to disk where the platform allows it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def check_output_path(path):
    """Refuse an output path holding something other than a data directory (it would be replaced)."""
    check_output_dir(path, "manifest.json", "a data directory")


def write_data_dir(path, data):
    """Validate ``data`` (a :class:`DataDir`) and write it to directory ``path`` atomically.

    Files go to a temporary sibling directory that is renamed into place; an existing data directory at
    ``path`` is replaced. A non-empty ``path`` that is not a data directory (no manifest.json) is refused.
    """
    path = Path(path)
    data.validate(f"data directory '{path}'")
    check_output_path(path)
    with atomic_dir(path) as tmp:
        (tmp / "scores").mkdir()
        (tmp / "labels").mkdir()
        _write_npy(tmp / "latents.npy", data.latents)
        for attr in data.splits:
            _write_npy(tmp / "scores" / f"{attr}.npy", data.scores[attr])
            _write_npy(tmp / "labels" / f"{attr}.npy", data.labels[attr])
        _write_bytes(tmp / "splits.json", json_bytes(data.splits))
        _write_bytes(tmp / "manifest.json", json_bytes(data.manifest))
        for folder in (tmp / "scores", tmp / "labels", tmp):
            _fsync_dir(folder)
    _fsync_dir(path.parent)


def _read_npy(root, relative, where):
    """Load ``root/relative`` (a .npy file) without pickle; a missing or unreadable file is a UserError."""
    path = root / relative
    if not path.is_file():
        raise UserError(f"{where}: missing {relative}: write the directory again with prepare_data.py")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise UserError(f"{where}: {relative} is not a readable .npy file ({e}): write the directory again") from None


def _read_json(path, where):
    """Load one JSON file; a missing or unreadable file is a UserError."""
    if not path.is_file():
        raise UserError(f"{where}: missing {path.name}: write the directory again with prepare_data.py")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise UserError(f"{where}: {path.name} is not valid JSON ({e}): write the directory again") from None


def read_data_dir(path):
    """Read and validate the data directory at ``path`` -> :class:`DataDir`.

    Every missing file, unreadable file, wrong shape or dtype, length mismatch or out-of-range split
    index is a one-line :class:`UserError` naming the directory and the file.
    """
    path = Path(path)
    where = f"data directory '{path}'"
    if not path.is_dir():
        raise UserError(f"{where} does not exist: create it with prepare_data.py")
    manifest = _read_json(path / "manifest.json", where)
    splits = _read_json(path / "splits.json", where)
    if not isinstance(splits, dict):
        raise UserError(f"{where}: splits.json must be a JSON object {{attr: {{\"train\": [...], \"val\": [...]}}}}")
    for attr in splits:
        if not isinstance(attr, str) or not ATTRIBUTE_NAME.match(attr):
            raise UserError(f"{where}: splits.json names attribute {attr!r}, which is not a usable file name")
    latents = _read_npy(path, "latents.npy", where)
    scores = {attr: _read_npy(path, f"scores/{attr}.npy", where) for attr in splits}
    labels = {attr: _read_npy(path, f"labels/{attr}.npy", where) for attr in splits}
    for folder in ("scores", "labels"):
        if (path / folder).is_dir():
            extra = sorted(p.stem for p in (path / folder).glob("*.npy") if p.stem not in splits)
            if extra:
                raise UserError(f"{where}: {folder}/{extra[0]}.npy has no entry in splits.json: the files do not "
                                "belong together, write the directory again")
    data = DataDir(latents=latents, scores=scores, labels=labels, splits=splits, manifest=manifest)
    data.validate(where)
    return data


def recorded_truncation(data_dir=None, model_dir=None, default=0.4):
    """(psi, where it comes from in words): the truncation the data were sampled at, as ``data_dir``'s manifest
    records it, else as the data manifest that train.py copied into ``model_dir``/metrics.json, else ``default``."""
    sources = []
    if data_dir:
        sources.append((Path(data_dir) / "manifest.json", (), f"recorded in --data_dir '{data_dir}'"))
    if model_dir:
        sources.append((Path(model_dir) / "metrics.json", ("data_manifest",),
                        f"recorded by train.py in --model_dir '{model_dir}'"))
    for path, keys, origin in sources:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            for key in keys:
                record = record[key]
            psi = record["truncation"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if isinstance(psi, (int, float)) and not isinstance(psi, bool) and 0 < psi <= 1:
            return float(psi), origin
    return default, "the default: no data directory or model records one"


def build_data_dir(latents, scores, manifest, seed, p_perclass, p_val):
    """Select and split every attribute -> :class:`DataDir`.

    ``latents`` (N, w_dim) float32; ``scores`` {attr: (N,) or (N, K) float32}; ``manifest``: the keys that
    identify the data source, completed here with p_perclass, p_val and n_samples.
    """
    labels, splits = {}, {}
    for attr, attr_scores in scores.items():
        indices, chosen = select(attr_scores, p_perclass, attr)
        labels[attr] = label_array(attr_scores, indices, chosen)
        train, val = split(indices, p_val, seed, labels=chosen)
        splits[attr] = {"train": train.tolist(), "val": val.tolist()}
    manifest = dict(manifest, p_perclass=p_perclass, p_val=p_val, n_samples=int(latents.shape[0]))
    return DataDir(latents=latents, scores=dict(scores), labels=labels, splits=splits, manifest=manifest)
