"""The options of a StyleGAN2 training run and the presets for small images, without TensorFlow (so
``python -m stylegan2 train --help`` and a refused flag are instant); :mod:`stylegan2.training` runs them."""
import dataclasses

import numpy as np

from .errors import InputError, check_fits_in_memory
from .official_pickle import MAPPING_LRMUL

# Small configurations a CPU can train (every value can also be set alone). Channels: nf(stage) =
# min(fmap_base / 2^stage, fmap_max), stage 1 at 4x4: the "32" preset has 128 channels down to 64 at 32 px.
# The mapping's learning-rate multiplier is 1, not NVIDIA's 0.01: at 0.01 a run of a few hundred kimg leaves
# the mapping as initialised (docs/training.md: the world's faces at 0.01 vs 1).
PRESETS = {
    "32": dict(fmap_base=1024, fmap_max=128, z_dim=128, w_dim=128, mapping_layers=2, mapping_lrmul=1.0,
               batch_size=32, r1_gamma=0.05, ema_kimg=10.0),
    "64": dict(fmap_base=2048, fmap_max=128, z_dim=128, w_dim=128, mapping_layers=2, mapping_lrmul=1.0,
               batch_size=32, r1_gamma=0.1, ema_kimg=10.0),
}


@dataclasses.dataclass
class TrainingOptions:
    """Every number of a training run (defaults: NVIDIA's config-f values where they apply)."""
    data: str = ""
    total_kimg: float = 100.0
    snapshot_kimg: float = 10.0
    seed: int = 0
    mirror: bool = False
    fmap_base: int = 1024
    fmap_max: int = 128
    z_dim: int = 128
    w_dim: int = 128
    mapping_layers: int = 2
    mapping_lrmul: float = MAPPING_LRMUL
    batch_size: int = 32
    lr: float = 0.002
    beta1: float = 0.0
    beta2: float = 0.99
    eps: float = 1e-8
    r1_gamma: float = 0.05
    r1_interval: int = 16
    pl_weight: float = 0.0
    pl_interval: int = 4
    style_mixing: float = 0.9
    ema_kimg: float = 10.0
    ema_rampup: float = 0.05
    mbstd_group_size: int = 4
    devices: int = 1
    precision: str = "float32"
    grid_size: int = 8
    kid_samples: int = 0
    kid_model: str = ""

    def check(self, replicas=None):
        """InputError (one line) for a value out of range. replicas: how many replicas split each minibatch
        (None: ``devices``; a TF_CONFIG cluster's count under multi-worker training)."""
        positive = ("total_kimg", "snapshot_kimg", "fmap_base", "fmap_max", "z_dim", "w_dim", "mapping_layers",
                    "mapping_lrmul", "batch_size", "lr", "eps", "r1_interval", "pl_interval", "ema_kimg", "mbstd_group_size",
                    "grid_size")
        for name in positive:
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise InputError(f"--{name} must be > 0, got {value}")
        for name in ("beta1", "beta2", "style_mixing"):
            if not 0 <= getattr(self, name) < 1 + (name == "style_mixing"):
                raise InputError(f"--{name} must be in [0, 1), got {getattr(self, name)}")
        for name in ("r1_gamma", "pl_weight", "kid_samples", "seed", "devices"):
            if not np.isfinite(getattr(self, name)) or getattr(self, name) < 0:
                raise InputError(f"--{name} must be >= 0, got {getattr(self, name)}")
        if self.ema_rampup is not None and not self.ema_rampup > 0:
            raise InputError(f"--ema_rampup must be > 0 (or none), got {self.ema_rampup}")
        if self.precision not in ("float32", "bfloat16"):
            raise InputError(f"--precision must be float32 or bfloat16, got {self.precision!r}")
        split = f"--devices {self.devices}" if replicas is None else f"the cluster's {replicas} replicas"
        replicas = max(self.devices, 1) if replicas is None else replicas
        if self.batch_size % replicas:
            raise InputError(f"--batch_size {self.batch_size} must be a multiple of {split}")
        if self.pl_weight > 0 and self.batch_size // 2 % replicas:
            raise InputError(f"--batch_size {self.batch_size} must be a multiple of 2 x {split} "
                             "with --pl_weight > 0 (the path-length step takes half the batch)")
        local = self.batch_size // replicas
        if local % min(self.mbstd_group_size, local):
            per_device = f" / {split} = {local} images per device" if replicas > 1 else ""
            raise InputError(f"--batch_size {self.batch_size}{per_device} must be a multiple of --mbstd_group_size "
                             f"{self.mbstd_group_size}")
        if self.kid_samples and not self.kid_model:
            raise InputError("--kid_samples needs --kid_model (a Keras model whose features KID compares)")
        # each mapping weight is held five times: G, Gs, its gradient and Adam's two moments (float32)
        check_fits_in_memory("--z_dim", self.z_dim, lambda z: 20 * z * self.w_dim, "the mapping's first layer")
        check_fits_in_memory("--w_dim", self.w_dim, lambda w: 20 * w * (self.z_dim + w * self.mapping_layers),
                             "the mapping network")

    def check_grid(self, images):
        """InputError unless the snapshot grid (``grid_size``^2 latents and images like ``images``, uint8
        (N, R, R, C)) fits in memory."""
        pixels = int(np.prod(images.shape[1:]))
        check_fits_in_memory("--grid_size", self.grid_size, lambda g: g * g * (4 * self.z_dim + 5 * pixels),
                             "the snapshot grid (its latents, float32 renders and PNG)")


RESUME_CHANGES = ("total_kimg", "kid_samples")  # the options a resumed run may change
