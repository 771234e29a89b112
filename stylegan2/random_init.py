"""Random StyleGAN2 generators with NVIDIA's shapes, kwargs and initialisation (for demos and tests)."""
import numbers

import numpy as np
import tensorflow as tf

from .errors import InputError
from .generator import Generator
from .networks import ARCHITECTURES, MAPPING_LRMUL, MappingNetwork
from .official_pickle import NetworkState

W_AVG_SAMPLES = 10_000

# G_main / G_mapping defaults that NVIDIA's static_kwargs omit when unchanged.
_DEFAULTS = dict(architecture="skip", latent_size=512, dlatent_size=512, mapping_layers=8, mapping_fmaps=512,
                 mapping_lrmul=MAPPING_LRMUL)


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise InputError(f"random_generator: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _dense(rng, variables, scope, fan_in, fmaps, lrmul):
    """Official equalized-lr dense init: weight ~ N(0, (1/lrmul)^2) stored, bias 0."""
    variables[f"{scope}/weight"] = rng.standard_normal((fan_in, fmaps)) / lrmul
    variables[f"{scope}/bias"] = np.zeros(fmaps)


def _modulated(rng, variables, scope, kernel, in_channels, out_channels, w_dim, noise=True):
    """Official init of a modulated layer: weight, mod_weight ~ N(0, 1); mod_bias, noise_strength, bias = 0."""
    variables[f"{scope}/weight"] = rng.standard_normal((kernel, kernel, in_channels, out_channels))
    variables[f"{scope}/mod_weight"] = rng.standard_normal((w_dim, in_channels))
    variables[f"{scope}/mod_bias"] = np.zeros(in_channels)
    if noise:
        variables[f"{scope}/noise_strength"] = np.zeros(())
    variables[f"{scope}/bias"] = np.zeros(out_channels)


def random_generator(resolution=64, architecture="skip", fmap_base=16384, fmap_max=512, z_dim=512, w_dim=512,
                     mapping_layers=8, seed=0, num_channels=3, mapping_fmaps=None, mapping_lrmul=MAPPING_LRMUL):
    """A StyleGAN2 generator with NVIDIA's variable shapes and initialisation and random weights.

    Channels per stage: nf(s) = clip(int(fmap_base / 2^s), 1, fmap_max) (the 4x4 stage is s = 1).
    mapping_fmaps (hidden width of the mapping network) defaults to w_dim; mapping_lrmul is the mapping
    network's learning-rate multiplier (NVIDIA's 0.01, :data:`~stylegan2.networks.MAPPING_LRMUL`; recorded in
    the pickle when it differs). Variables are drawn with
    np.random.RandomState(seed) in NVIDIA's creation order; w_avg (``dlatent_avg``) is the mean mapping
    output over 10,000 z drawn next from the same stream. -> :class:`Generator`.
    """
    resolution = _check_int("resolution", resolution, 4)
    log2 = int(np.log2(resolution))
    if 2 ** log2 != resolution:
        raise InputError(f"random_generator: resolution must be a power of two >= 4, got {resolution}")
    if architecture not in ARCHITECTURES or (architecture != "skip" and resolution == 4):
        raise InputError(f"random_generator: architecture must be one of {', '.join(ARCHITECTURES)} "
                         f"(orig and resnet need resolution >= 8), got {architecture!r}")
    fmap_base = _check_int("fmap_base", fmap_base, 1)
    fmap_max = _check_int("fmap_max", fmap_max, 1)
    z_dim = _check_int("z_dim", z_dim, 1)
    w_dim = _check_int("w_dim", w_dim, 1)
    mapping_layers = _check_int("mapping_layers", mapping_layers, 1)
    num_channels = _check_int("num_channels", num_channels, 1)
    mapping_fmaps = w_dim if mapping_fmaps is None else _check_int("mapping_fmaps", mapping_fmaps, 1)
    seed = _check_int("seed", seed, 0)
    if not (isinstance(mapping_lrmul, (int, float)) and np.isfinite(mapping_lrmul) and mapping_lrmul > 0):
        raise InputError(f"random_generator: mapping_lrmul must be a number > 0, got {mapping_lrmul!r}")

    def nf(stage):
        return int(np.clip(int(fmap_base / (2.0 ** stage)), 1, fmap_max))

    num_ws = 2 * log2 - 2
    rng = np.random.RandomState(seed)
    kwargs = dict(num_channels=num_channels, resolution=resolution, label_size=0, fmap_base=fmap_base, fmap_max=fmap_max)
    chosen = dict(architecture=architecture, latent_size=z_dim, dlatent_size=w_dim, mapping_layers=mapping_layers,
                  mapping_fmaps=mapping_fmaps, mapping_lrmul=float(mapping_lrmul))
    kwargs.update({key: value for key, value in chosen.items() if value != _DEFAULTS[key]})

    synthesis = {}
    for index in range(num_ws - 1):
        size = 2 ** ((index + 5) // 2)
        synthesis[f"noise{index}"] = rng.standard_normal((1, 1, size, size))
    synthesis["4x4/Const/const"] = rng.standard_normal((1, nf(1), 4, 4))
    _modulated(rng, synthesis, "4x4/Conv", 3, nf(1), nf(1), w_dim)
    if architecture == "skip":
        _modulated(rng, synthesis, "4x4/ToRGB", 1, nf(1), num_channels, w_dim, noise=False)
    for res in range(3, log2 + 1):
        scope = f"{2 ** res}x{2 ** res}"
        _modulated(rng, synthesis, f"{scope}/Conv0_up", 3, nf(res - 2), nf(res - 1), w_dim)
        _modulated(rng, synthesis, f"{scope}/Conv1", 3, nf(res - 1), nf(res - 1), w_dim)
        if architecture == "resnet":
            synthesis[f"{scope}/Skip/weight"] = rng.standard_normal((1, 1, nf(res - 2), nf(res - 1)))
        if architecture == "skip" or res == log2:
            _modulated(rng, synthesis, f"{scope}/ToRGB", 1, nf(res - 1), num_channels, w_dim, noise=False)

    mapping = {}
    fan_in = z_dim
    for index in range(mapping_layers):
        fmaps = w_dim if index == mapping_layers - 1 else mapping_fmaps
        _dense(rng, mapping, f"Dense{index}", fan_in, fmaps, mapping_lrmul)
        fan_in = fmaps

    components = {
        "synthesis": NetworkState("G_synthesis", kwargs, "G_synthesis_stylegan2", synthesis),
        "mapping": NetworkState("G_mapping", dict(dlatent_broadcast=num_ws, **kwargs), "G_mapping", mapping),
    }
    gs = NetworkState("Gs", kwargs, "G_main", {"lod": np.zeros(()), "dlatent_avg": np.zeros(w_dim)}, components)
    mapping_net = MappingNetwork(components["mapping"].variables, components["mapping"].static_kwargs, "random_generator")
    z = rng.standard_normal((W_AVG_SAMPLES, z_dim)).astype(np.float32)
    w = np.concatenate([mapping_net(tf.constant(z[i:i + 1000])).numpy() for i in range(0, W_AVG_SAMPLES, 1000)])
    gs.variables["dlatent_avg"] = w.mean(axis=0, dtype=np.float64).astype(np.float32)
    return Generator(gs)
