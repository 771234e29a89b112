"""StyleGAN2 in TensorFlow 2: NVIDIA's official network pickles, read safely, giving the official outputs.

Public API: :func:`load_generator`, :func:`save_generator`, :func:`random_generator`, :class:`Generator`
(``mapping``, ``synthesis``), :func:`to_uint8`, :class:`InputError`.
"""
from .errors import InputError
from .generator import Generator, load_generator, save_generator
from .images import to_uint8
from .random_init import random_generator

__all__ = ["Generator", "InputError", "load_generator", "random_generator", "save_generator", "to_uint8"]
