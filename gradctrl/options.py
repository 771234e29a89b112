"""Settings from the command line and the config: the one flag-over-config resolver and the one set of
number checks that the config reader, training, editing and every command share.

A flag given on the command line wins over the config (:func:`flags_over_config`). A number is checked by
:func:`number_problem`, which says what is wrong in words shared by every message; a command reports
``--flag VALUE: <problem>`` (:func:`check_number`), the config ``config FILE: key 'KEY': <problem>, got VALUE``.
"""
import math
import types

import numpy as np

from stylegan2.errors import check_fits_in_memory

from .errors import UserError

# psi of the truncation trick, the one rule of every command and the config: in (0, 1].
TRUNCATION_BOUNDS = dict(low=0, low_open=True, high=1)
# The longest edit step (L2 length in w): w of a mapping network have a norm of about sqrt(w_dim) (tens), so a
# step of 1000 already leaves the generator's range far behind; longer ones overflow float32 in a few steps.
STEP_SIZE_BOUNDS = dict(low=0, low_open=True, high=1000)
# The widest figure strip in px: beyond any screen or page (and each strip holds width^2 / frames pixels).
MAX_FIGURE_WIDTH = 32768


def flags_over_config(args, **config_values):
    """Each name's flag (``args.<name>``) when given (not None), else its config value -> a namespace."""
    return types.SimpleNamespace(**{name: config_value if getattr(args, name) is None else getattr(args, name)
                                    for name, config_value in config_values.items()})


def number_problem(value, integer=False, low=None, high=None, low_open=False, high_open=False):
    """What is wrong with ``value`` as a number in the given range, in words ("must be at least 1"), or None.

    integer: an int is needed (bool is not one); otherwise any finite int or float. low / high: bounds,
    inclusive unless ``low_open`` / ``high_open``.
    """
    if integer and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
        return "expected an integer"
    if not integer and (isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating))
                        or not math.isfinite(value)):
        return "expected a finite number"
    if low is not None and (value <= low if low_open else value < low):
        return f"must be greater than {low}" if low_open else f"must be at least {low}"
    if high is not None and (value >= high if high_open else value > high):
        return f"must be below {high}" if high_open else f"must be at most {high}"
    return None


def check_number(value, name, **bounds):
    """``value`` if :func:`number_problem` finds nothing, else UserError ``<name> <value>: <problem>``.

    name: the flag or argument (``--steps``, ``batch_size``); bounds: as :func:`number_problem`.
    """
    problem = number_problem(value, **bounds)
    if problem is not None:
        raise UserError(f"{name} {value!r}: {problem}" if not isinstance(value, (int, float)) else
                        f"{name} {value}: {problem}")
    return value


def check_int(value, name, low=1, high=None):
    """An integer in [low, high] (default: positive), else UserError naming ``name``; see :func:`check_number`."""
    return check_number(value, name, integer=True, low=low, high=high)


def check_truncation(value, name):
    """A truncation psi in (0, 1] (:data:`TRUNCATION_BOUNDS`), else UserError naming ``name``."""
    return check_number(value, name, **TRUNCATION_BOUNDS)


def check_step_size(value, name):
    """An edit step length in (0, 1000] (:data:`STEP_SIZE_BOUNDS`), else UserError naming ``name``."""
    return check_number(value, name, **STEP_SIZE_BOUNDS)


def is_layer_range(lo, hi, num_ws=None):
    """The one W+ layer-range rule: True when [lo, hi) is a non-empty range of layers, 0 <= lo < hi, and
    within the generator's ``num_ws`` W+ layers (hi <= num_ws) when that is known (an int; None: not yet).
    The config reader, --layerwise and the renderer each word their own message around it."""
    return 0 <= lo < hi and (num_ws is None or hi <= num_ws)


def is_top_k(k, w_dim=None):
    """The one exclusion top-k rule: True when ``k`` is an integer (not bool) channel count, 0 <= k, and at
    most the latent width ``w_dim`` when that is known (None: not yet). The config reader, --top_channels and
    the editor each word their own message around it."""
    return (not isinstance(k, bool) and isinstance(k, (int, np.integer)) and 0 <= k
            and (w_dim is None or k <= w_dim))


def check_latent_count(value, name, w_dim, per_latent=1):
    """A count of latents (w_dim float32 each, ``per_latent`` copies of each held: steps of a trajectory) that
    fits in this machine's memory, else InputError naming ``name`` and its limit."""
    return check_fits_in_memory(name, value, lambda n: n * per_latent * w_dim * 4, "their latents")
