"""The StyleGAN2 generator (NVIDIA's ``G_main``: mapping, truncation, synthesis) and its official-pickle I/O."""
import numbers

import numpy as np
import tensorflow as tf

from . import official_pickle
from .errors import InputError
from . import ops
from .fast_synthesis import MODCONV_MODES, PRECISIONS, FastSynthesis, default_modconv, default_per_sample
from .networks import MappingNetwork, SynthesisNetwork
from .official_pickle import NetworkState

NOISE_MODES = ("const", "random")
_COMPONENTS = (("mapping", "G_mapping"), ("synthesis", "G_synthesis_stylegan2"))


class Generator:
    """NVIDIA's StyleGAN2 ``Gs`` built from its stored state, with batched ``tf.function`` mapping and synthesis.

    Attributes: ``z_dim``, ``w_dim``, ``num_ws``, ``img_resolution``, ``img_channels``, ``architecture``
    ('orig' | 'skip' | 'resnet'), ``w_avg`` (np.ndarray (w_dim,), the stored ``dlatent_avg``),
    ``noise_shapes`` (list of (H, W), one per noise input), ``state`` (the Gs :class:`NetworkState` of the
    current weights, what :func:`save_generator` writes: a new copy at each read, so build a new Generator
    from an edited state), ``mapping_network`` and ``synthesis_network`` (the :mod:`stylegan2.networks`
    modules, whose variables hold the stored values: trainers read and update them) and ``w_avg_variable``.

    Synthesis options (see :mod:`stylegan2.fast_synthesis`): ``fast`` (default True: the fused path, its
    up-sampling 'auto' with modconv 'input', else 'polyphase'; False: the straightforward per-layer path, kept
    as the reference), ``modconv`` ('input' | 'grouped'; None: 'grouped' on a GPU, else 'input'), ``precision`` ('float32' | 'bfloat16'), ``xla``
    (None: XLA for large layers' fused steps on CPU; True: every layer; False: none), ``jit_compile`` (the
    whole synthesis compiled by XLA: an option for GPUs; on this project's CPU it is slower, see the README).
    ``per_sample`` (None: :func:`~stylegan2.fast_synthesis.default_per_sample`, True on CPU from 256 px): the
    fast path renders one sample at a time (:meth:`FastSynthesis.per_sample`: no compile stall at a new batch
    size, one sample's activations in memory, each image independent of its batch); ``jit_compile`` always
    renders the batch at once.
    """

    def __init__(self, state, what="generator", fast=True, modconv=None, precision="float32", xla=None,
                 jit_compile=False, per_sample=None):
        if not isinstance(state, NetworkState):
            raise InputError(f"{what}: expected a Network state, got {type(state).__name__}")
        if state.build_func_name != "G_main":
            raise InputError(f"{what}: Gs is built by '{state.build_func_name}', not StyleGAN2's 'G_main': only "
                             "StyleGAN2 generators (training.networks_stylegan2, configs e/f) are supported")
        if state.static_kwargs.get("label_size", 0):
            raise InputError(f"{what}: conditional networks (label_size = {state.static_kwargs['label_size']}) "
                             "are not supported yet: use an unconditional network")
        components = {}
        for cname, func in _COMPONENTS:
            component = state.components.get(cname)
            if component is None:
                raise InputError(f"{what}: Gs has no '{cname}' component: the file is damaged or not a StyleGAN2 generator")
            if component.build_func_name != func:
                raise InputError(f"{what}: the {cname} network is built by '{component.build_func_name}', not '{func}': "
                                 "only StyleGAN2's config-e/f networks (training.networks_stylegan2) are supported")
            components[cname] = component
        self._mapping_net = MappingNetwork(components["mapping"].variables, components["mapping"].static_kwargs, what)
        self._synthesis_net = SynthesisNetwork(components["synthesis"].variables,
                                               components["synthesis"].static_kwargs, what)
        # The state's structure only: the components' values live in the networks' variables (a second copy
        # would hold the network's size again in memory: 130 MB for config-f); ``state`` reads them back.
        structure = {cname: NetworkState(c.name, c.static_kwargs, c.build_func_name, {})
                     for cname, c in state.components.items()}
        self._state = NetworkState(state.name, state.static_kwargs, state.build_func_name, state.variables, structure)
        self._state.build_module_src = state.build_module_src
        self.mapping_network, self.synthesis_network = self._mapping_net, self._synthesis_net
        self.z_dim = self._mapping_net.z_dim
        self.w_dim = self._synthesis_net.w_dim
        self.num_ws = self._synthesis_net.num_ws
        self.img_resolution = self._synthesis_net.resolution
        self.img_channels = self._synthesis_net.img_channels
        self.architecture = self._synthesis_net.architecture
        self.noise_shapes = list(self._synthesis_net.noise_shapes)
        if self._mapping_net.w_dim != self.w_dim:
            raise InputError(f"{what}: the mapping network outputs w of size {self._mapping_net.w_dim} but the "
                             f"synthesis network reads w of size {self.w_dim}: the file is damaged")
        if self._mapping_net.num_ws not in (None, self.num_ws):
            raise InputError(f"{what}: the mapping network broadcasts to {self._mapping_net.num_ws} layers but the "
                             f"synthesis network has {self.num_ws}: the file is damaged")
        w_avg = state.variables.get("dlatent_avg")
        if w_avg is None or w_avg.shape != (self.w_dim,):
            raise InputError(f"{what}: Gs lacks the variable 'dlatent_avg' of shape ({self.w_dim},): the file is damaged")
        self.w_avg_variable = tf.Variable(np.asarray(w_avg, dtype=np.float32), trainable=False, name="dlatent_avg")
        self._mapping_fn = tf.function(self._map_and_truncate, input_signature=[
            tf.TensorSpec([None, self.z_dim], tf.float32), tf.TensorSpec([], tf.float32),
            tf.TensorSpec([self.num_ws], tf.bool)])
        if precision not in PRECISIONS:
            raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if modconv not in (None,) + MODCONV_MODES:
            raise InputError(f"modconv must be None or one of {', '.join(MODCONV_MODES)}, got {modconv!r}")
        if fast and ops.fir_factors(self._synthesis_net.resample_kernel) is None:
            fast = False  # a non-separable FIR kernel: only the straightforward path implements it
        if not fast and precision != "float32":
            raise InputError("precision other than float32 needs the fast path (fast=True)")
        self.fast = bool(fast)
        if not self.fast:
            synthesis = self._synthesis_net.__call__
        else:
            modconv = modconv or default_modconv()
            fast_synthesis = FastSynthesis(self._synthesis_net, modconv, precision, xla,
                                           upsampling="auto" if modconv == "input" else "polyphase")
            whole_batch = jit_compile or not (default_per_sample(self.img_resolution) if per_sample is None
                                              else per_sample)
            # per_sample: one sample at a time, XLA compiled once for every batch size, one sample's activations held
            synthesis = fast_synthesis.__call__ if whole_batch else fast_synthesis.per_sample
        self._synthesis_fn = tf.function(synthesis, autograph=not self.fast, jit_compile=bool(jit_compile),
                                         input_signature=[
            tf.TensorSpec([None, self.num_ws, self.w_dim], tf.float32),
            [tf.TensorSpec([None, h, w, 1], tf.float32) for h, w in self.noise_shapes]])

    def __repr__(self):
        return (f"Generator({self.img_resolution}x{self.img_resolution}x{self.img_channels}, {self.architecture}, "
                f"z_dim={self.z_dim}, w_dim={self.w_dim}, num_ws={self.num_ws})")

    @property
    def w_avg(self):
        """The running mean of w (NVIDIA's ``dlatent_avg``): np.ndarray (w_dim,) float32, a copy."""
        return self.w_avg_variable.numpy()

    @property
    def state(self):
        """The Gs :class:`NetworkState` holding the current values of every variable (a new copy)."""
        networks = {"mapping": self._mapping_net, "synthesis": self._synthesis_net}
        components = {cname: NetworkState(template.name, template.static_kwargs, template.build_func_name,
                                          networks[cname].stored_values())
                      for cname, template in self._state.components.items()}
        variables = dict(self._state.variables, dlatent_avg=self.w_avg)
        state = NetworkState(self._state.name, self._state.static_kwargs, self._state.build_func_name, variables,
                             components)
        state.build_module_src = self._state.build_module_src
        return state

    def _map_and_truncate(self, z, psi, truncate):
        """Graph body: z (N, z_dim) -> ws (N, num_ws, w_dim), w_avg + (w - w_avg) * psi where ``truncate``."""
        w = self._mapping_net(z)
        ws = tf.tile(w[:, tf.newaxis], [1, self.num_ws, 1])
        truncated = self.w_avg_variable + (ws - self.w_avg_variable) * psi
        return tf.where(truncate[tf.newaxis, :, tf.newaxis], truncated, ws)

    def mapping(self, z, truncation_psi=1.0, truncation_cutoff=None):
        """z (N, z_dim) -> ws (N, num_ws, w_dim) float32 tf.Tensor, truncated towards ``w_avg``.

        Layers with index < ``truncation_cutoff`` (all when None) get w_avg + (w - w_avg) * psi; psi = 1
        leaves w unchanged. z: np.ndarray or tf.Tensor, finite.
        """
        z = _checked_batch(z, (self.z_dim,), "z", "one row of z_dim = %d normal values per sample" % self.z_dim)
        psi = _finite_float(truncation_psi, "truncation_psi")
        cutoff = self.num_ws if truncation_cutoff is None else truncation_cutoff
        if isinstance(cutoff, bool) or not isinstance(cutoff, numbers.Integral) or cutoff < 0:
            raise InputError(f"truncation_cutoff must be None or an integer >= 0, got {truncation_cutoff!r}")
        truncate = (np.arange(self.num_ws) < cutoff) & (psi != 1.0)
        return self._mapping_fn(z, tf.constant(psi, tf.float32), tf.constant(truncate))

    def synthesis(self, ws, noise_mode="const", seed=None, noise=None):
        """ws (N, num_ws, w_dim) -> raw images (N, H, W, C) float32 tf.Tensor, NHWC (nominally [-1, 1]).

        noise_mode "const" adds the stored noise buffers (NVIDIA's ``randomize_noise=False``), or ``noise``
        when given: a list of len(noise_shapes) arrays, each (H, W) (shared) or (N, H, W) (per sample).
        "random" draws fresh N(0, 1) noise from ``seed`` (an int; None: unpredictable).
        """
        ws = _checked_batch(ws, (self.num_ws, self.w_dim), "ws",
                            f"num_ws = {self.num_ws} vectors of w_dim = {self.w_dim} per sample (from G.mapping)")
        n = ws.shape[0]
        if noise_mode not in NOISE_MODES:
            raise InputError(f"noise_mode must be one of {', '.join(NOISE_MODES)}, got {noise_mode!r}")
        if noise_mode == "random":
            if noise is not None:
                raise InputError("noise buffers were given with noise_mode='random': give noise_mode='const' to use them")
            if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0):
                raise InputError(f"seed must be None or an integer >= 0, got {seed!r}")
            rng = np.random.default_rng(seed)
            buffers = [rng.standard_normal((n, h, w, 1), dtype=np.float32) for h, w in self.noise_shapes]
        elif noise is not None:
            buffers = self._checked_noise(noise, n)
        else:
            buffers = self._synthesis_net.const_noise
        return self._synthesis_fn(ws, buffers)

    def _checked_noise(self, noise, n):
        """Explicit noise buffers -> list of (1 or N, H, W, 1) float32; InputError on a wrong count, shape or NaN."""
        if not isinstance(noise, (list, tuple)) or len(noise) != len(self.noise_shapes):
            raise InputError(f"noise must be a list of {len(self.noise_shapes)} arrays shaped {self.noise_shapes}")
        buffers = []
        for index, (buffer, (h, w)) in enumerate(zip(noise, self.noise_shapes)):
            buffer = np.asarray(buffer, dtype=np.float32)
            if buffer.shape == (h, w):
                buffer = buffer[np.newaxis]
            if buffer.shape not in ((1, h, w), (n, h, w)) or not np.all(np.isfinite(buffer)):
                raise InputError(f"noise[{index}] has shape {buffer.shape} or non-finite values; expected finite "
                                 f"({h}, {w}) or ({n}, {h}, {w})")
            buffers.append(buffer[..., np.newaxis])
        return buffers


def _finite_float(value, name):
    """A finite Python float from a number (Python, numpy or a 0-d tensor); InputError otherwise."""
    try:
        result = float(value) if not isinstance(value, (bool, str, bytes)) else None
    except (TypeError, ValueError):
        result = None
    if result is None or not np.isfinite(result):
        raise InputError(f"{name} must be a finite number, got {value!r}")
    return result


def _checked_batch(value, trailing, name, meaning):
    """A finite float32 tf.Tensor of shape (N,) + trailing from an array-like; InputError otherwise."""
    try:
        tensor = tf.cast(tf.convert_to_tensor(value), tf.float32)
    except (TypeError, ValueError, tf.errors.InvalidArgumentError, tf.errors.UnimplementedError):
        raise InputError(f"{name} must be a numeric array of shape (N, {', '.join(map(str, trailing))}), "
                         f"got {type(value).__name__}") from None
    expected = "(N, " + ", ".join(map(str, trailing)) + ")"
    if tensor.shape.rank != 1 + len(trailing) or tuple(tensor.shape[1:]) != tuple(trailing):
        raise InputError(f"{name} has shape {tuple(tensor.shape)}, expected {expected}: {meaning}")
    if not bool(tf.reduce_all(tf.math.is_finite(tensor))):
        raise InputError(f"{name} contains NaN or infinite values: give finite values of shape {expected}")
    return tensor


def load_generator(path):
    """Read an official StyleGAN2 network pickle ((G, D, Gs) or a bare Gs) safely -> :class:`Generator` (of Gs).

    No code stored in the file runs; anything outside the format is refused with an InputError.
    """
    return Generator(official_pickle.read_networks(path), what=f"network pickle '{path}'")


def save_generator(generator, path):
    """Write ``generator`` as an official-layout pickle (G, D, Gs) with no code inside.

    Gs is the generator's state; G is a copy of it named 'G' (the training network is not kept); D is an
    empty placeholder ``D_stylegan2`` Network without variables. Written atomically (temp file + rename).
    """
    if not isinstance(generator, Generator):
        raise InputError(f"save_generator needs a stylegan2.Generator, got {type(generator).__name__}")
    gs = generator.state
    g = gs.clone("G")
    d_kwargs = {key: gs.static_kwargs[key] for key in ("num_channels", "resolution", "label_size", "fmap_base", "fmap_max")
                if key in gs.static_kwargs}
    d = NetworkState("D", d_kwargs, "D_stylegan2", {})
    official_pickle.write_networks(path, (g, d, gs))
