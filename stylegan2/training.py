"""The generator layer's training (``python -m stylegan2 train``; not :mod:`gradctrl.classifier.training`, which trains
GradCtrl's latent classifier). StyleGAN2 training in TensorFlow 2: NVIDIA's config-e/f recipe (NVlabs/stylegan2
``training/loss.py``, ``training/training_loop.py``) on our own networks, with official-format snapshots and exact
resume.

The recipe, per minibatch of ``batch_size`` images (one iteration):

- D main step: non-saturating logistic loss, softplus(D(G(z))) + softplus(-D(x)), averaged;
- every ``r1_interval`` iterations, a D regularisation step: lazy R1 on the reals, mean(gamma / 2 *
  |grad_x D(x)|^2) times the interval;
- G main step: softplus(-D(G(z))), averaged; with style mixing (probability ``style_mixing``: a second z
  takes the W+ layers from a random cutoff on, one cutoff per minibatch) and fresh per-sample noise;
- if ``pl_weight`` > 0, every ``pl_interval`` iterations a path-length step on half the batch
  (pl_decay 0.01), times the interval;
- Adam (lr 0.002, betas 0 / 0.99, eps 1e-8), one per network, its state shared by the main and
  regularisation steps; for a network with lazy regularisation lr and betas are corrected by
  c = interval / (interval + 1): lr * c, beta ** c (NVIDIA's rule);
- the running mean of w (``dlatent_avg``, beta 0.995) from each G step's w, and Gs, the moving average of G
  with half-life ``ema_kimg`` thousand images: beta = 0.5 ** (batch / (ema_kimg * 1000)), where the
  half-life is capped at ``ema_rampup`` x the images seen so far when ``ema_rampup`` is set
  (stylegan2-ada's ramp-up; None: NVIDIA's fixed half-life); Gs's non-trainable values are copied.

Every random draw is a stateless function of (seed, iteration), so a run resumed from a checkpoint repeats
the uninterrupted run (exactly under TensorFlow's op determinism). The run folder holds
``training_options.json``, ``network-snapshot-<kimg>.pkl`` (official (G, D, Gs) pickles), ``fakes<kimg>.png``
(a fixed-z grid of Gs), ``log.jsonl``, ``checkpoint.npz`` (every variable and optimiser slot) and ``index.html``
(the run's page: the grids over kimg, the curves, the log; :func:`stylegan2.pages.write_training_page`).

With ``devices`` N > 1 the run is data-parallel over N devices in one process (``tf.distribute.MirroredStrategy``;
see :class:`Trainer`): every device holds a copy of every variable and takes 1/N of each global minibatch (the
same reals and fakes as on one device), the gradients are averaged over the devices and every copy gets the
same update. It differs from one device only by float32 rounding and by the minibatch standard deviation
layer, whose groups are formed within each device's slice.
"""
import contextlib
import dataclasses
import functools
import io
import json
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from . import official_pickle
from .atomic import FolderLock, atomic_write, write_bytes
from .cluster import agree, broadcast, multi_worker_strategy
from .dataset import load_images
from .discriminator import Discriminator, random_discriminator_variables
from .errors import InputError
from .fast_synthesis import FastSynthesis
from .generator import Generator
from .images import to_uint8, write_png
from .metrics import keras_features, kid
from .official_pickle import NetworkState
from .pages import write_training_page
from .random_init import random_generator
from .training_options import PRESETS, RESUME_CHANGES, TrainingOptions  # noqa: F401  (the API, here as before)


class Adam(tf.Module):
    """Adam over a fixed list of variables (TensorFlow 1's update, as NVIDIA's training used):
    m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2, var -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)."""

    def __init__(self, variables, lr, beta1, beta2, eps, name):
        super().__init__(name=name)
        self.lr, self.beta1, self.beta2, self.eps = (np.float32(x) for x in (lr, beta1, beta2, eps))
        self.targets = list(variables)
        self.m = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self.targets]
        self.v = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self.targets]
        self.t = tf.Variable(0.0, trainable=False)

    def apply(self, grads):
        """One update of every target from ``grads`` (same order; graph code)."""
        t = self.t.assign_add(1.0)
        lr_t = self.lr * tf.sqrt(1.0 - self.beta2 ** t) / (1.0 - self.beta1 ** t)
        for var, m, v, g in zip(self.targets, self.m, self.v, grads):
            m.assign(self.beta1 * m + (1.0 - self.beta1) * g)
            v.assign(self.beta2 * v + (1.0 - self.beta2) * tf.square(g))
            var.assign_sub(lr_t * m / (tf.sqrt(v) + self.eps))


def lazy_regularization(lr, beta1, beta2, interval):
    """NVIDIA's correction for regularisation every ``interval`` minibatches: c = interval / (interval + 1);
    -> (lr * c, beta1 ** c, beta2 ** c)."""
    c = interval / (interval + 1)
    return lr * c, beta1 ** c, beta2 ** c


def ema_beta(batch_size, ema_kimg, ema_rampup, images_seen):
    """Gs's moving-average coefficient for one minibatch: 0.5 ** (batch / ema_images), ema_images =
    ema_kimg * 1000, capped at ema_rampup * images_seen when ema_rampup is set (then at least 1e-8)."""
    ema_images = ema_kimg * 1000.0
    if ema_rampup is not None:
        ema_images = min(ema_images, max(images_seen * ema_rampup, 1e-8))
    return 0.5 ** (batch_size / ema_images)


def r1_penalty(discriminator, reals):
    """|grad_x D(x)|^2 summed over pixels and channels, per image: reals (N, R, R, C) -> (N,)."""
    with tf.GradientTape() as tape:
        tape.watch(reals)
        total = tf.reduce_sum(discriminator(reals))
    grads = tape.gradient(total, reals)
    return tf.reduce_sum(tf.square(grads), axis=[1, 2, 3])


def replica_strategy(devices):
    """A ``tf.distribute.MirroredStrategy`` over the first ``devices`` GPUs, or the first ``devices`` (logical)
    CPU devices when TensorFlow sees no GPU; None for one device (``devices`` 0 or 1). InputError (one line)
    when fewer are visible."""
    if devices <= 1:
        return None
    gpus = tf.config.list_logical_devices("GPU")
    pool = gpus or tf.config.list_logical_devices("CPU")
    if len(pool) < devices:
        seen = f"{len(pool)} GPU(s)" if gpus else f"{len(pool)} CPU device(s) and no GPU"
        raise InputError(f"--devices {devices}: TensorFlow sees {seen}: check CUDA_VISIBLE_DEVICES and nvidia-smi, "
                         "or lower --devices")
    return tf.distribute.MirroredStrategy([device.name for device in pool[:devices]])


def _seed(seed, iteration, purpose):
    """A stateless-RNG seed (2,) int64 for one draw: a function of the run seed, the iteration and the draw."""
    return tf.stack([tf.cast(seed, tf.int64) * 1000 + purpose, tf.cast(iteration, tf.int64)])


class Trainer:
    """A StyleGAN2 training run: networks G, D and Gs, their optimisers and the compiled steps.

    images: uint8 (N, R, R, C) training set; options: :class:`TrainingOptions`; strategy: a
    MultiWorkerMirroredStrategy (:func:`stylegan2.cluster.multi_worker_strategy`) to train across the workers of a
    cluster, its replicas numbered over every worker, or None for ``options.devices`` on this machine.

    With ``options.devices`` N > 1 (``strategy``: a MirroredStrategy, see :func:`replica_strategy`;
    ``replicas`` = N, else 1 and ``strategy`` None) every variable is created under the strategy, so each device
    holds a copy, and each step runs on every device (``strategy.run``). Each replica draws the global batch's
    z, mixing cutoff and noise (B, ...) with the single-device seeds and keeps its slice (B / N, ...), rows
    [r B / N, (r + 1) B / N) for replica r, as it does with the reals; its gradients, losses, and the batch
    means entering the running mean of w and the path-length mean are averaged over the replicas
    (all-reduce), so every replica applies the same update to its own copy and all copies stay equal (they
    are updated in replica context with aggregation NONE, TensorFlow's default: each replica its own copy).
    The minibatch standard deviation layer of D groups samples within each replica's slice (as in NVIDIA's
    multi-GPU training), the one difference from one device beyond float32 rounding.
    """

    def __init__(self, images, options, strategy=None):
        self.options = options
        self.images = images
        resolution, channels = images.shape[1], images.shape[3]
        o = options
        self.strategy = replica_strategy(o.devices) if strategy is None else strategy
        self.replicas = 1 if self.strategy is None else self.strategy.num_replicas_in_sync
        g = random_generator(resolution=resolution, architecture="skip", fmap_base=o.fmap_base, fmap_max=o.fmap_max,
                             z_dim=o.z_dim, w_dim=o.w_dim, mapping_layers=o.mapping_layers, seed=o.seed,
                             num_channels=channels, mapping_lrmul=o.mapping_lrmul)
        state = g.state
        state.variables["dlatent_avg"] = np.zeros(o.w_dim, np.float32)  # NVIDIA starts the running mean at 0
        d_kwargs = dict(num_channels=channels, resolution=resolution, label_size=0, fmap_base=o.fmap_base,
                        fmap_max=o.fmap_max, mbstd_group_size=o.mbstd_group_size)
        self.d_state = NetworkState("D", d_kwargs, "D_stylegan2", random_discriminator_variables(
            resolution, channels, o.fmap_base, o.fmap_max, mbstd_group_size=o.mbstd_group_size, seed=o.seed + 1))
        with contextlib.nullcontext() if self.strategy is None else self.strategy.scope():
            self.G = Generator(state, what="G")
            self.Gs = Generator(state, what="Gs")
            self.D = Discriminator(self.d_state.variables, d_kwargs, what="D", precision=o.precision)
            self._setup()

    def _setup(self):
        o = self.options
        G = self.G
        self.num_ws = G.num_ws
        self.g_vars = [v for net in (G.mapping_network, G.synthesis_network)
                       for v in net.variables_by_name.values() if v.trainable]
        self.d_vars = list(self.D.variables_by_name.values())
        g_lr, g_b1, g_b2 = (lazy_regularization(o.lr, o.beta1, o.beta2, o.pl_interval) if o.pl_weight > 0
                            else (o.lr, o.beta1, o.beta2))
        d_lr, d_b1, d_b2 = (lazy_regularization(o.lr, o.beta1, o.beta2, o.r1_interval) if o.r1_gamma > 0
                            else (o.lr, o.beta1, o.beta2))
        self.g_opt = Adam(self.g_vars, g_lr, g_b1, g_b2, o.eps, "G_opt")
        self.d_opt = Adam(self.d_vars, d_lr, d_b1, d_b2, o.eps, "D_opt")
        self.pl_mean = tf.Variable(0.0, trainable=False)
        self.iteration = 0
        # bfloat16_from=4: every layer's convolution in the chosen precision (training's networks are small);
        # transposed up-sampling: its gradients are native convolutions and matmuls (bench/train.py --profile).
        self._synthesis = FastSynthesis(G.synthesis_network, modconv="input", precision=o.precision, xla=False,
                                        bfloat16_from=4, upsampling="transposed")
        self._ema_pairs = [(self.Gs_vars()[name], var) for name, var in self.G_vars().items()]
        b = o.batch_size
        image_spec = tf.TensorSpec([b] + list(self.images.shape[1:]), tf.float32)
        it = tf.TensorSpec([], tf.int64)
        self.d_step = self._compile(self._d_step, image_spec, it)
        self.d_reg_step = self._compile(self._d_reg_step, image_spec)
        self.g_step = self._compile(self._g_step, it)
        self.g_reg_step = self._compile(self._g_reg_step, it)
        self.ema_step = self._compile(self._ema_step, tf.TensorSpec([], tf.float32))

    def _compile(self, step, *signature):
        """``step`` as a tf.function of ``signature``, run on every replica (``strategy.run``) when there are
        several: -> its result on the first replica (every step returns values averaged over the replicas)."""
        if self.strategy is None:
            return tf.function(step, input_signature=list(signature))

        @functools.wraps(step)
        def replicated(*args):
            return self.strategy.experimental_local_results(self.strategy.run(step, args))[0]
        return tf.function(replicated, input_signature=list(signature))

    def G_vars(self):
        """Every variable of G by name ('mapping/...', 'synthesis/...', 'dlatent_avg')."""
        return _generator_variables(self.G)

    def Gs_vars(self):
        """Every variable of Gs by name, as :meth:`G_vars`."""
        return _generator_variables(self.Gs)

    # ----- graph code (in replica context when distributed) -----

    def _local(self, x):
        """This replica's slice (B / N, ...) of a global batch x (B, ...); x itself on one device."""
        if self.replicas == 1:
            return x
        size = x.shape[0] // self.replicas
        start = tf.distribute.get_replica_context().replica_id_in_sync_group * size
        return x[start:start + size]

    def _mean(self, x):
        """The mean over the replicas (all-reduce, differentiable) of a tensor or a list of tensors, the same on
        every replica; x itself on one device."""
        if self.replicas == 1:
            return x
        return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.MEAN, x)

    def _descend(self, opt, loss_fn):
        """One step of ``opt``: loss_fn() -> (loss (), aux), the mean loss of this replica's slice and anything
        else, computed under the tape; the gradients averaged over the replicas (those of the global batch's
        mean loss: the slices are equal) update every replica's copy alike. -> (loss averaged over the
        replicas, aux)."""
        with tf.GradientTape() as tape:
            loss, aux = loss_fn()
        opt.apply(self._mean(tape.gradient(loss, opt.targets, unconnected_gradients="zero")))
        return self._mean(loss), aux

    def _generate(self, iteration, batch, purpose):
        """Fakes of the training G for one draw of a global batch of ``batch``: -> this replica's slice (b =
        batch / replicas) as (images (b, R, R, C), w (b, w_dim), ws (b, num_ws, w_dim)), with style mixing and
        per-sample noise, every draw a function of (seed, iteration, purpose)."""
        o, G = self.options, self.G
        seed = o.seed
        z = self._local(tf.random.stateless_normal([batch, G.z_dim], _seed(seed, iteration, purpose)))
        w = G.mapping_network(z)
        ws = tf.tile(w[:, tf.newaxis], [1, self.num_ws, 1])
        if o.style_mixing > 0:
            z2 = self._local(tf.random.stateless_normal([batch, G.z_dim], _seed(seed, iteration, purpose + 1)))
            ws2 = tf.tile(G.mapping_network(z2)[:, tf.newaxis], [1, self.num_ws, 1])
            u = tf.random.stateless_uniform([], _seed(seed, iteration, purpose + 2))
            cut = tf.random.stateless_uniform([], _seed(seed, iteration, purpose + 3), 1, self.num_ws, tf.int32)
            cutoff = tf.where(u < o.style_mixing, cut, self.num_ws)
            ws = tf.where((tf.range(self.num_ws) < cutoff)[tf.newaxis, :, tf.newaxis], ws, ws2)
        noise = [self._local(tf.random.stateless_normal([batch, h, w_, 1], _seed(seed, iteration, purpose + 4 + i)))
                 for i, (h, w_) in enumerate(G.noise_shapes)]
        return self._synthesis(ws, noise), w, ws

    def _d_step(self, reals, iteration):
        """reals (B, R, R, C): the global minibatch. -> the logistic loss ()."""
        def loss_fn():
            fakes, _, _ = self._generate(iteration, self.options.batch_size, 0)
            fake_scores = self.D(fakes)
            real_scores = self.D(self._local(reals))
            return tf.reduce_mean(tf.nn.softplus(fake_scores)) + tf.reduce_mean(tf.nn.softplus(-real_scores)), None
        return self._descend(self.d_opt, loss_fn)[0]

    def _d_reg_step(self, reals):
        """reals (B, R, R, C): the global minibatch. -> the mean R1 penalty ()."""
        o = self.options

        def loss_fn():
            penalty = r1_penalty(self.D, self._local(reals))
            return tf.reduce_mean(penalty * (o.r1_gamma * 0.5)) * o.r1_interval, tf.reduce_mean(penalty)
        return self._mean(self._descend(self.d_opt, loss_fn)[1])

    def _g_step(self, iteration):
        """-> the non-saturating loss (); updates the running mean of w with the global batch's mean w."""
        def loss_fn():
            fakes, w, _ = self._generate(iteration, self.options.batch_size, 100)
            return tf.reduce_mean(tf.nn.softplus(-self.D(fakes))), w
        loss, w = self._descend(self.g_opt, loss_fn)
        w_mean = self._mean(tf.reduce_mean(w, axis=0))
        w_avg = self.G.w_avg_variable
        w_avg.assign(w_mean + (w_avg - w_mean) * 0.995)
        return loss

    def _g_reg_step(self, iteration):
        """-> the path-length loss () on half a batch; pl_mean moves towards the mean length of that global batch."""
        o = self.options
        batch = max(o.batch_size // 2, 1)

        def loss_fn():
            with tf.GradientTape() as inner:
                fakes, _, ws = self._generate(iteration, batch, 200)
                inner.watch(ws)
                _, h, w, c = fakes.shape
                pl_noise = self._local(tf.random.stateless_normal([batch, h, w, c], _seed(o.seed, iteration, 300))
                                       ) / np.sqrt(h * w)
                total = tf.reduce_sum(fakes * pl_noise)
            grads = inner.gradient(total, ws)
            lengths = tf.sqrt(tf.reduce_mean(tf.reduce_sum(tf.square(grads), axis=2), axis=1))
            pl_mean = self.pl_mean + 0.01 * (self._mean(tf.reduce_mean(lengths)) - self.pl_mean)
            return tf.reduce_mean(tf.square(lengths - pl_mean)) * o.pl_weight * o.pl_interval, pl_mean
        loss, pl_mean = self._descend(self.g_opt, loss_fn)
        self.pl_mean.assign(pl_mean)
        return loss

    def _ema_step(self, beta):
        for gs_var, g_var in self._ema_pairs:
            gs_var.assign(g_var + (gs_var - g_var) * beta if g_var.trainable else g_var)

    # ----- host code -----

    def reals(self, iteration):
        """The minibatch of iteration ``iteration``: indices drawn with replacement from (seed, iteration), x-flipped
        with probability 1/2 when ``mirror`` -> float32 (B, R, R, C) in [-1, 1]."""
        o = self.options
        rng = np.random.default_rng([o.seed, iteration])
        batch = self.images[rng.integers(0, len(self.images), o.batch_size)]
        if o.mirror:
            flip = rng.random(o.batch_size) < 0.5
            batch = np.where(flip[:, None, None, None], batch[:, :, ::-1], batch)
        return batch.astype(np.float32) / np.float32(127.5) - np.float32(1.0)

    def train_iteration(self):
        """One minibatch: D step, lazy R1, G step, lazy path length, EMA. -> dict of the losses computed."""
        o = self.options
        i = self.iteration
        reals = tf.constant(self.reals(i))
        it = tf.constant(i, tf.int64)
        out = {"loss_D": float(self.d_step(reals, it))}
        if o.r1_gamma > 0 and i % o.r1_interval == 0:
            out["r1"] = float(self.d_reg_step(reals))
        out["loss_G"] = float(self.g_step(it))
        if o.pl_weight > 0 and i % o.pl_interval == 0:
            out["pl"] = float(self.g_reg_step(it))
        images_seen = (i + 1) * o.batch_size
        self.ema_step(tf.constant(ema_beta(o.batch_size, o.ema_kimg, o.ema_rampup, images_seen), tf.float32))
        self.iteration += 1
        return out

    @property
    def kimg(self):
        """Thousands of real images shown so far."""
        return self.iteration * self.options.batch_size / 1000.0

    # ----- state -----

    def networks(self):
        """(G, D, Gs) NetworkStates of the current weights (what a snapshot pickle holds)."""
        g = self.G.state
        g.name = "G"
        d = NetworkState("D", self.d_state.static_kwargs, "D_stylegan2", self.D.stored_values())
        return g, d, self.Gs.state

    def checkpoint_arrays(self):
        """Everything that determines the rest of the run: {key: ndarray} (variables, Adam slots, counters)."""
        arrays = {"iteration": np.int64(self.iteration), "pl_mean": self.pl_mean.numpy()}
        for prefix, variables in (("G", self.G_vars()), ("Gs", self.Gs_vars()),
                                  ("D", self.D.variables_by_name)):
            arrays.update({f"{prefix}/{name}": var.numpy() for name, var in variables.items()})
        for prefix, opt in (("G_opt", self.g_opt), ("D_opt", self.d_opt)):
            arrays[f"{prefix}/t"] = opt.t.numpy()
            for index, (m, v) in enumerate(zip(opt.m, opt.v)):
                arrays[f"{prefix}/m{index}"], arrays[f"{prefix}/v{index}"] = m.numpy(), v.numpy()
        return arrays

    def restore(self, arrays, what):
        """Set every variable, slot and counter from :meth:`checkpoint_arrays`' output; InputError on a mismatch."""
        expected = self.checkpoint_arrays()
        if set(arrays) != set(expected) or any(np.shape(arrays[k]) != np.shape(v) for k, v in expected.items()):
            raise InputError(f"{what} does not match this run's networks: it belongs to another configuration")
        self.iteration = int(arrays["iteration"])
        self.pl_mean.assign(arrays["pl_mean"])
        for prefix, variables in (("G", self.G_vars()), ("Gs", self.Gs_vars()), ("D", self.D.variables_by_name)):
            for name, var in variables.items():
                var.assign(arrays[f"{prefix}/{name}"])
        for prefix, opt in (("G_opt", self.g_opt), ("D_opt", self.d_opt)):
            opt.t.assign(arrays[f"{prefix}/t"])
            for index, (m, v) in enumerate(zip(opt.m, opt.v)):
                m.assign(arrays[f"{prefix}/m{index}"])
                v.assign(arrays[f"{prefix}/v{index}"])

    def load_networks(self, path):
        """Start from the weights of an official (G, D, Gs) pickle of the same shapes (fine-tuning; optimiser fresh)."""
        g, d, gs = official_pickle.read_network_tuple(path)
        what = f"--init '{path}'"
        for target, state in ((self.G, g), (self.Gs, gs)):
            source = _state_variables(state)
            variables = _generator_variables(target)
            if set(source) != set(variables) or any(np.shape(source[k]) != tuple(v.shape) for k, v in variables.items()):
                raise InputError(f"{what}: its generator does not have this run's shapes (check the preset, "
                                 "--fmap_base, --w_dim, ... and the data's resolution)")
            for name, var in variables.items():
                var.assign(source[name])
        if set(d.variables) != set(self.D.variables_by_name) or any(
                d.variables[k].shape != tuple(v.shape) for k, v in self.D.variables_by_name.items()):
            raise InputError(f"{what}: its discriminator does not have this run's shapes")
        for name, var in self.D.variables_by_name.items():
            var.assign(d.variables[name])


def _generator_variables(generator):
    """{'mapping/<name>' | 'synthesis/<name>' | 'dlatent_avg': tf.Variable} of a Generator."""
    variables = {f"mapping/{k}": v for k, v in generator.mapping_network.variables_by_name.items()}
    variables.update({f"synthesis/{k}": v for k, v in generator.synthesis_network.variables_by_name.items()})
    variables["dlatent_avg"] = generator.w_avg_variable
    return variables


def _state_variables(state):
    """The same keys as :func:`_generator_variables` from a Gs-like NetworkState (noise buffers NHWC)."""
    values = {"dlatent_avg": state.variables.get("dlatent_avg")}  # None where missing: no shape matches it
    for cname in ("mapping", "synthesis"):
        component = state.components.get(cname)
        for name, value in (component.variables.items() if component is not None else ()):
            if cname == "synthesis" and name.startswith("noise") and np.ndim(value) == 4:
                value = np.reshape(value, (1, value.shape[2], value.shape[3], 1))
            values[f"{cname}/{name}"] = value
    return values


# ----- the run folder -----

OPTIONS_FILE = "training_options.json"
CHECKPOINT_FILE = "checkpoint.npz"
LOG_FILE = "log.jsonl"


class RunFolder:
    """The output folder of one training run, held exclusively (:class:`stylegan2.atomic.FolderLock`, an OS lock
    released when the process ends) for the life of the object."""

    def __init__(self, path, resume):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise InputError(f"--out_dir '{self.path}' exists and is not a folder: choose another path")
        self._lock = FolderLock(self.path, "--out_dir").acquire()
        try:
            self._check(resume)
        except BaseException:
            self._lock.release()
            raise

    def _check(self, resume):
        self.made = not self.path.exists()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise InputError(f"cannot create --out_dir '{self.path}' ({e.strerror}): choose a writable path") from None
        has_run = (self.path / OPTIONS_FILE).exists()
        others = [p.name for p in self.path.iterdir() if not p.name.startswith(".")]
        if resume and not has_run:
            raise InputError(f"--resume: '{self.path}' holds no training run ({OPTIONS_FILE} is missing): start "
                             "a new run without --resume")
        if not resume and others:
            raise InputError(f"--out_dir '{self.path}' is not empty (it holds {'a training run' if has_run else others[0]}):"
                             " add --resume to continue that run, or choose an empty folder")

    def clear(self):
        """Undo a new run's failed start: remove what it wrote (the folder held nothing else, :meth:`_check`),
        the folder too if this run made it, and release the lock."""
        for entry in self.path.iterdir():
            if not entry.name.startswith("."):
                entry.unlink()
        if self.made and not any(self.path.iterdir()):
            self.path.rmdir()
        self._lock.release()

    def write_json(self, name, obj):
        write_bytes(self.path / name, (json.dumps(obj, indent=1) + "\n").encode())

    def read_options(self):
        """The run's stored options -> dict of :class:`TrainingOptions` fields; InputError naming the file when
        it is not JSON, names an unknown option or holds a value of the wrong type."""
        path = self.path / OPTIONS_FILE
        fix = "restore it from a copy of the run, or start a new run in another folder"
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise InputError(f"'{path}' is damaged ({' '.join(str(e).split())[:80]}): {fix}") from None
        if not isinstance(stored, dict):
            raise InputError(f"'{path}' is damaged (it holds no JSON object): {fix}")
        defaults = dataclasses.asdict(TrainingOptions())
        for name, value in stored.items():
            if name not in defaults:
                raise InputError(f"'{path}' holds an unknown option '{name}': {fix}")
            kind = type(defaults[name])
            fits = isinstance(value, kind) if kind is not float else isinstance(value, (int, float))
            if isinstance(value, bool) != (kind is bool) or not (fits or (name == "ema_rampup" and value is None)):
                raise InputError(f"'{path}': option '{name}' is {value!r}, not a {kind.__name__}: {fix}")
        return stored

    def write_checkpoint(self, arrays):
        with atomic_write(self.path / CHECKPOINT_FILE) as file:
            np.savez(file, **arrays)

    def read_checkpoint(self):
        path = self.path / CHECKPOINT_FILE
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                return {key: data[key] for key in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error):
            raise InputError(f"'{path}' is damaged: delete it to restart the run from scratch") from None

    def append_log(self, record):
        with open(self.path / LOG_FILE, "a") as file:
            file.write(json.dumps(record) + "\n")

    def trim_log(self, kimg):
        """Drop log lines past ``kimg`` (written after the checkpoint a resumed run restarts from; -1: all) and
        a last line a kill cut short."""
        path = self.path / LOG_FILE
        if path.exists():
            lines = []
            for number, line in enumerate(path.read_bytes().split(b"\n")[:-1], 1):  # a cut last line has no \n
                try:
                    record = json.loads(line)
                    keep = record["kimg"] <= kimg + 1e-9
                except (ValueError, KeyError, TypeError):
                    raise InputError(f"'{path}' line {number} is not a log record (the log is damaged): remove that "
                                     "line, then --resume again") from None
                if keep:
                    lines.append(line.decode())
            with atomic_write(path) as file:
                file.write("".join(line + "\n" for line in lines).encode())

    def write_grid(self, name, images, grid):
        """images uint8 (grid^2, R, R, C) -> one PNG of grid x grid tiles."""
        n, r, _, c = images.shape
        write_png(self.path / name, images.reshape(grid, grid, r, r, c).transpose(0, 2, 1, 3, 4).reshape(
            grid * r, grid * r, c))


def grid_latents(options, z_dim):
    """The fixed z of the snapshot grids: (grid^2, z_dim) from RandomState(seed)."""
    return np.random.RandomState(options.seed).randn(options.grid_size ** 2, z_dim).astype(np.float32)


def render(generator, z, batch_size=64, truncation_psi=1.0):
    """Images of ``generator`` for z (N, z_dim), truncated by ``truncation_psi``, stored noise -> uint8 (N, R, R, C)."""
    out = [to_uint8(generator.synthesis(generator.mapping(z[i:i + batch_size], truncation_psi=truncation_psi)))
           for i in range(0, len(z), batch_size)]
    return np.concatenate([np.asarray(part) for part in out])



def train(options, outdir, resume=False, init=None, progress=True, stop_after_kimg=None, cluster=None):
    """Run (or continue) a training run in ``outdir``. -> the :class:`Trainer` at the end.

    options: :class:`TrainingOptions` of a new run; for ``resume``, a dict of the changes to the stored
    options (keys in :data:`RESUME_CHANGES`; an empty dict continues the run as it was set up). init: an
    official (G, D, Gs) pickle to start from. ``stop_after_kimg``: stop (after a snapshot) once this many
    kimg have run in this call, for tests and budgets. cluster: a :class:`stylegan2.cluster.Cluster` (TF_CONFIG)
    to train across its workers (:func:`_join_run`); only its chief writes ``outdir``.
    """
    if cluster is None:
        strategy = None
        if resume:
            folder, options, arrays = _open_run(outdir, options, resume)
            images = _checked_images(options)
        else:  # everything a new run needs is checked and read before its folder is made
            images = _checked_images(options)
            arrays = None
    else:
        strategy = multi_worker_strategy(cluster)  # before any other TensorFlow op of this process
        folder, options, arrays, images = _join_run(cluster, strategy, outdir, options, resume)
    trainer = Trainer(images, options, strategy)
    if arrays is not None:
        trainer.restore(arrays, f"'{Path(outdir) / CHECKPOINT_FILE}'")
    elif init is not None:
        if cluster is None:
            trainer.load_networks(init)
        else:
            agree(strategy, cluster, lambda: trainer.load_networks(init))
    writes = cluster is None or cluster.is_chief  # only the chief of a cluster writes the run folder
    metric = _kid_metric(options, images) if options.kid_samples and writes else None
    if cluster is None and not resume:
        folder = RunFolder(outdir, resume)
    if folder is not None and resume:
        # Log lines are written just before their checkpoint: keep those the checkpoint covers (none without one).
        folder.trim_log(trainer.kimg if arrays is not None else -1.0)
    z_grid = grid_latents(options, trainer.G.z_dim)
    if arrays is None and folder is not None:
        try:  # a new run's options are written with its first snapshot
            _snapshot(folder, trainer, z_grid, metric, {}, 0.0, None if resume else options)
        except Exception:  # a failed start leaves nothing that blocks a rerun (an interrupt or a kill: --resume)
            if not resume:
                folder.clear()
            raise
    total_iterations = int(np.ceil(options.total_kimg * 1000 / options.batch_size))
    snapshot_every = max(int(round(options.snapshot_kimg * 1000 / options.batch_size)), 1)
    start_kimg = trainer.kimg
    bar = _progress(progress, trainer.kimg, options.total_kimg)
    sums, tick_start = {}, time.time()
    while trainer.iteration < total_iterations:
        for key, value in trainer.train_iteration().items():
            sums.setdefault(key, []).append(value)
        if bar is not None:
            bar.update(options.batch_size / 1000.0)
        done = trainer.iteration == total_iterations
        stopping = stop_after_kimg is not None and trainer.kimg - start_kimg >= stop_after_kimg - 1e-9
        if trainer.iteration % snapshot_every == 0 or done or stopping:
            seconds = time.time() - tick_start
            stats = {k: float(np.mean(v)) for k, v in sums.items()}
            stats["sec_per_kimg"] = seconds / (len(sums.get("loss_G", [1])) * options.batch_size / 1000.0)
            if folder is not None:
                _snapshot(folder, trainer, z_grid, metric, stats, seconds)
            if bar is not None:
                bar.set_postfix(kimg=f"{trainer.kimg:.1f}", s_per_kimg=f"{stats['sec_per_kimg']:.1f}")
            sums, tick_start = {}, time.time()
            if stopping:
                break
    if bar is not None:
        bar.close()
    return trainer


def _checked_images(options):
    """Check ``options`` and read their training set -> uint8 (N, R, R, C); InputError for a bad value, a
    bad set, or a snapshot grid that does not fit in memory."""
    options.check()
    images = load_images(options.data)
    options.check_grid(images)
    return images


def _open_run(outdir, options, resume):
    """The run folder of ``outdir``, held (:class:`RunFolder`), and what it says: -> (folder, the run's
    :class:`TrainingOptions`, its checkpoint arrays or None). ``options`` as :func:`train` takes them."""
    folder = RunFolder(outdir, resume)
    if not resume:
        return folder, options, None
    changes = dict(options or {})
    for name in changes:
        if name not in RESUME_CHANGES:
            raise InputError(f"--resume continues a run with its own settings: --{name} cannot "
                             f"change (only {', '.join('--' + n for n in RESUME_CHANGES)} can)")
    options = dataclasses.replace(TrainingOptions(**folder.read_options()), **changes)
    return folder, options, folder.read_checkpoint()


def _join_run(cluster, strategy, outdir, options, resume):
    """The start of a run across a cluster's workers (collective steps: every worker calls it).

    The chief opens the run folder (:func:`_open_run`) and sends every worker the run's options and, on
    ``resume``, its checkpoint, so the others need no copy of ``outdir`` and write nothing there. Every
    worker then checks the options against the cluster's replicas and loads ``options.data`` (the same path on
    every machine). Bad input on any worker stops all of them (:func:`stylegan2.cluster.agree`).
    -> (the folder on the chief, else None; options; checkpoint arrays or None; images)."""
    payload = folder = None
    if cluster.is_chief:
        try:
            folder, chosen, arrays = _open_run(outdir, options, resume)
            payload = _run_payload(chosen, arrays, None)
        except InputError as e:
            payload = _run_payload(None, None, str(e))
            broadcast(strategy, payload)
            raise
    chosen, arrays, error = _read_run_payload(broadcast(strategy, payload))
    if error is not None:
        raise InputError(f"the chief, {cluster.describe(0)}, refused the run: {error}")

    def check():
        if not resume and dataclasses.asdict(options) != dataclasses.asdict(chosen):
            differ = [k for k, v in dataclasses.asdict(options).items() if getattr(chosen, k) != v]
            raise InputError(f"this worker's --{differ[0]} differs from the chief's: give every "
                             "worker the same command")
        if chosen.devices > 1:
            raise InputError(f"--devices {chosen.devices} trains on one machine: under TF_CONFIG each worker trains "
                             "on every GPU it sees (choose them with CUDA_VISIBLE_DEVICES): leave --devices at 1")
        chosen.check(strategy.num_replicas_in_sync)
        return load_images(chosen.data)
    return folder, chosen, arrays, agree(strategy, cluster, check)


def _run_payload(options, arrays, error):
    """What the chief sends at the start of a cluster run -> bytes: a JSON header ({'options': ..., 'error':
    ...}, its length first as 8 bytes) and the checkpoint arrays as .npz bytes (none without a checkpoint)."""
    header = json.dumps({"options": None if options is None else dataclasses.asdict(options), "error": error}).encode()
    body = io.BytesIO()
    if arrays is not None:
        np.savez(body, **arrays)
    return len(header).to_bytes(8, "little") + header + body.getvalue()


def _read_run_payload(payload):
    """:func:`_run_payload`'s bytes -> (TrainingOptions or None, arrays or None, error or None)."""
    size = int.from_bytes(payload[:8], "little")
    header = json.loads(payload[8:8 + size])
    arrays = None
    if len(payload) > 8 + size:
        with np.load(io.BytesIO(payload[8 + size:]), allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    options = None if header["options"] is None else TrainingOptions(**header["options"])
    return options, arrays, header["error"]


def _progress(enabled, start, total):
    if not enabled:
        return None

    return tqdm(total=total, initial=start, unit="kimg", bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} kimg "
                "[{elapsed}<{remaining}, {rate_fmt}{postfix}]")


def _kid_metric(options, images):
    """-> function(Gs) -> (KID of Gs's samples vs the reals, the real-vs-real baseline), in the named model's features."""
    features = keras_features(options.kid_model)
    rng = np.random.RandomState(options.seed + 7)
    n = min(options.kid_samples, len(images) // 2)
    picks = rng.permutation(len(images))[:2 * n]
    real_a, real_b = features(images[picks[:n]]), features(images[picks[n:]])
    baseline = kid(real_a, real_b)
    z = rng.randn(n, options.z_dim).astype(np.float32)

    def measure(generator):
        return kid(real_a, features(render(generator, z))), baseline
    return measure


def _snapshot(folder, trainer, z_grid, metric, stats, seconds, start_options=None):
    """Write the pickle, the grid, the checkpoint, a log line and the run's page for the current kimg (each
    atomically); ``start_options``: a new run's :class:`TrainingOptions`, written first (a kill later in the
    snapshot leaves a run that --resume starts again; a failure, one that :meth:`RunFolder.clear` removes)."""
    if start_options is not None:
        folder.write_json(OPTIONS_FILE, dataclasses.asdict(start_options))
    kimg = trainer.kimg
    tag = f"{int(round(kimg)):06d}"
    official_pickle.write_networks(folder.path / f"network-snapshot-{tag}.pkl", trainer.networks())
    folder.write_grid(f"fakes{tag}.png", render(trainer.Gs, z_grid), trainer.options.grid_size)
    record = {"kimg": kimg, "iteration": trainer.iteration, "seconds": seconds, **stats}
    if metric is not None:
        record["kid"], record["kid_real_baseline"] = metric(trainer.Gs)
    folder.append_log(record)  # before the checkpoint: a resumed run trims lines past its checkpoint
    folder.write_checkpoint(trainer.checkpoint_arrays())
    write_training_page(folder.path)
