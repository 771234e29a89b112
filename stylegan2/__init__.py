"""StyleGAN2 in TensorFlow 2: NVIDIA's official network pickles, read safely, giving the official outputs.

Public API: :func:`load_generator`, :func:`save_generator`, :func:`random_generator`, :class:`Generator`
(``mapping``, ``synthesis``), :func:`to_uint8`, :class:`InputError`, and NVIDIA's attribute classifiers:
:func:`load_classifier` -> :class:`Classifier`. The TensorFlow-backed names are
imported on first use, so ``python -m stylegan2 --help`` and tools importing only the errors stay instant.
"""
import importlib

from .errors import InputError
from .images import to_uint8

_LAZY = {"Generator": "generator", "load_generator": "generator", "save_generator": "generator",
         "random_generator": "random_init", "Classifier": "classifier", "load_classifier": "classifier"}

__all__ = ["Classifier", "Generator", "InputError", "load_classifier", "load_generator", "random_generator",
           "save_generator", "to_uint8"]


def __getattr__(name):
    """Import the TensorFlow-backed public names lazily (PEP 562)."""
    if name not in _LAZY:
        raise AttributeError(f"module 'stylegan2' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)


def __dir__():
    return sorted(set(globals()) | set(__all__))
