"""Test helpers for NVIDIA's attribute classifiers (ProGAN's ``D_paper``), independent of stylegan2.classifier:
a pickler writing a bare Network in NVIDIA's layout (any state version and pickle protocol), random variables
with D_paper's names and shapes, and a float64 numpy forward pass written from the ProGAN source, NCHW."""
import copyreg
import io
import pickle

import numpy as np

NETWORK = ("dnnlib.tflib.network", "Network")
INERT_SRC = "raise RuntimeError('build_module_src was executed')\n"


class Holder:
    """Stands for a ``dnnlib.tflib.network.Network``: pickles as that class plus ``state``."""

    def __init__(self, state):
        self.state = state

    def __reduce__(self):
        return (copyreg.__newobj__, (Holder,), self.state)


class GlobalCall:
    """Pickles as a call of the global ``module.name`` with ``args`` (what a malicious pickle does)."""

    def __init__(self, module, name, *args):
        self.module, self.name, self.args = module, name, args

    def __reduce__(self):
        return (_GlobalRef(self.module, self.name), self.args)


class _GlobalRef:
    """A reduce callable that the pickler writes as the global ``module.name``; never called."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, *args):
        raise AssertionError("never called")


class _NvidiaPickler(pickle._Pickler):
    """Names Holder as NVIDIA's Network class and numpy's rebuilders under their numpy-1 names, in the opcodes
    of the chosen protocol (GLOBAL below 4, STACK_GLOBAL from 4)."""

    _NAMES = {Holder: NETWORK,
              np.ndarray.__reduce__(np.zeros(0))[0]: ("numpy.core.multiarray", "_reconstruct"),
              np.float32(0).__reduce__()[0]: ("numpy.core.multiarray", "scalar")}

    def _write_global(self, module, name):
        if self.proto >= 4:
            self.save(module)
            self.save(name)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + f"{module}\n{name}\n".encode())

    def save_global(self, obj, name=None):
        names = self._NAMES.get(obj)
        if names is None:
            return super().save_global(obj, name)
        self._write_global(*names)
        self.memoize(obj)
        return None

    def save(self, obj, save_persistent_id=True):
        if isinstance(obj, _GlobalRef):
            self._write_global(obj.module, obj.name)
            return None
        return super().save(obj, save_persistent_id)


def network_state(variables, static_kwargs, version=3, build_func_name="D_paper", build_module_src=INERT_SRC,
                  name="D"):
    """A Network state dict as NVIDIA writes it: variables a list of (name, value), 0-d ones as float32 scalars;
    version 2 (ProGAN) has no ``components``."""
    state = {"version": version, "name": name, "static_kwargs": dict(static_kwargs), "components": {},
             "build_module_src": build_module_src, "build_func_name": build_func_name,
             "variables": [(key, np.float32(value) if np.ndim(value) == 0 else np.asarray(value, np.float32))
                           for key, value in variables.items()]}
    if version == 2:
        del state["components"]
    return state


def dumps(obj, protocol=4):
    """Pickle ``obj`` (Holder, GlobalCall, arrays...) with NVIDIA's global names."""
    buffer = io.BytesIO()
    _NvidiaPickler(buffer, protocol=protocol).dump(obj)
    return buffer.getvalue()


def write_classifier(path, variables, static_kwargs, protocol=4, **state_options):
    """Write a bare D_paper Network pickle; ``state_options`` go to :func:`network_state`."""
    path.write_bytes(dumps(Holder(network_state(variables, static_kwargs, **state_options)), protocol))
    return path


def nf_function(fmap_base=8192, fmap_decay=1.0, fmap_max=512):
    """D_paper's channel count per stage."""
    return lambda stage: min(int(fmap_base / (2.0 ** (stage * fmap_decay))), fmap_max)


def random_d_paper(seed, resolution, num_channels=3, fmap_base=64, fmap_max=16, fmap_decay=1.0, fused_scale=True,
                   mbstd_group_size=0, use_wscale=True, lod=0.0):
    """(variables, static_kwargs) of a random D_paper in NVIDIA's creation order: weights N(0, 1) (N(0, std^2)
    with the He std without ``use_wscale``), biases N(0, 0.2^2), Dense1's weight times 30 so that logits spread."""
    rng = np.random.RandomState(seed)
    nf = nf_function(fmap_base, fmap_decay, fmap_max)
    log2 = int(np.log2(resolution))
    variables = {"lod": np.float32(lod)}

    def layer(scope, shape, gain=np.sqrt(2), scale=1.0):
        std = 1.0 if use_wscale else gain / np.sqrt(np.prod(shape[:-1]))
        variables[f"{scope}/weight"] = rng.standard_normal(shape) * scale * std
        variables[f"{scope}/bias"] = rng.standard_normal(shape[-1]) * 0.2

    layer("FromRGB_lod0", (1, 1, num_channels, nf(log2 - 1)))
    for res in range(log2, 2, -1):
        layer(f"{2 ** res}x{2 ** res}/Conv0", (3, 3, nf(res - 1), nf(res - 1)))
        layer(f"{2 ** res}x{2 ** res}/{'Conv1_down' if fused_scale else 'Conv1'}", (3, 3, nf(res - 1), nf(res - 2)))
        layer(f"FromRGB_lod{log2 - res + 1}", (1, 1, num_channels, nf(res - 2)))
    layer("4x4/Conv", (3, 3, nf(1) + (1 if mbstd_group_size > 1 else 0), nf(1)))
    layer("4x4/Dense0", (nf(1) * 16, nf(0)))
    layer("4x4/Dense1", (nf(0), 1), gain=1.0, scale=30.0)
    kwargs = dict(num_channels=num_channels, label_size=0, resolution=resolution, fmap_base=fmap_base,
                  fmap_max=fmap_max, mbstd_group_size=mbstd_group_size)
    if fmap_decay != 1.0:
        kwargs["fmap_decay"] = fmap_decay
    if not fused_scale:
        kwargs["fused_scale"] = False
    if not use_wscale:
        kwargs["use_wscale"] = False
    return variables, kwargs


# ---- float64 reference, NCHW, written from training/networks_progan.py ------------------------------------

def _conv(x, w, stride=1):
    """tf.nn.conv2d(x, w, stride, padding='SAME') in NCHW float64: cross-correlation, TF's SAME padding."""
    n, _, h, _ = x.shape
    k = w.shape[0]
    out = -(-h // stride)
    total = max((out - 1) * stride + k - h, 0)
    before = total // 2
    xp = np.pad(x, [(0, 0), (0, 0), (before, total - before), (before, total - before)])
    y = np.zeros((n, w.shape[3], out, out))
    for dy in range(k):
        for dx in range(k):
            patch = xp[:, :, dy:dy + stride * out:stride, dx:dx + stride * out:stride]
            y += np.einsum("nihw,io->nohw", patch, w[dy, dx])
    return y


def _lrelu(x):
    return np.maximum(x, 0.2 * x)


def _minibatch_stddev(x, group_size):
    """ProGAN's minibatch_stddev_layer with one new feature map, literally: [G, M, n=1, c, H, W]."""
    g = min(group_size, x.shape[0])
    n, c, h, w = x.shape
    y = x.reshape(g, -1, 1, c, h, w)
    y = y - y.mean(axis=0, keepdims=True)
    y = np.sqrt((y ** 2).mean(axis=0) + 1e-8)             # [M, n, c, H, W]
    y = y.mean(axis=(2, 3, 4), keepdims=True).mean(axis=2)  # [M, n, 1, 1]
    y = np.tile(y, (g, 1, h, w))                            # [N, 1, H, W]
    return np.concatenate([x, y], axis=1)


def reference_logits(variables, kwargs, images_nchw):
    """D_paper's output at lod 0 (float64): images (N, C, H, W) with H = k * resolution, box-averaged first as
    NVIDIA's linear-separability metric does. -> (N,) logits."""
    kw = dict(fmap_base=8192, fmap_decay=1.0, fmap_max=512, use_wscale=True, mbstd_group_size=4, fused_scale=True)
    kw.update(kwargs)
    res_total = kw["resolution"]
    log2 = int(np.log2(res_total))
    v = {key: np.asarray(value, np.float64) for key, value in variables.items()}

    def weight(scope, gain=np.sqrt(2)):
        w = v[f"{scope}/weight"]
        return w * (gain / np.sqrt(np.prod(w.shape[:-1]))) if kw["use_wscale"] else w

    def bias(scope, x):
        b = v[f"{scope}/bias"]
        return x + (b.reshape(1, -1, 1, 1) if x.ndim == 4 else b)

    x = np.asarray(images_nchw, np.float64)
    n, c, h, _ = x.shape
    f = h // res_total
    x = x.reshape(n, c, h // f, f, h // f, f).mean(axis=(3, 5))
    x = _lrelu(bias("FromRGB_lod0", _conv(x, weight("FromRGB_lod0"))))
    for res in range(log2, 2, -1):
        scope = f"{2 ** res}x{2 ** res}"
        x = _lrelu(bias(f"{scope}/Conv0", _conv(x, weight(f"{scope}/Conv0"))))
        if kw["fused_scale"]:
            w = np.pad(weight(f"{scope}/Conv1_down"), [(1, 1), (1, 1), (0, 0), (0, 0)])
            w = (w[1:, 1:] + w[:-1, 1:] + w[1:, :-1] + w[:-1, :-1]) * 0.25
            x = _lrelu(bias(f"{scope}/Conv1_down", _conv(x, w, stride=2)))
        else:
            x = _lrelu(bias(f"{scope}/Conv1", _conv(x, weight(f"{scope}/Conv1"))))
            x = x.reshape(n, x.shape[1], x.shape[2] // 2, 2, x.shape[3] // 2, 2).mean(axis=(3, 5))
    if kw["mbstd_group_size"] > 1:
        x = _minibatch_stddev(x, kw["mbstd_group_size"])
    x = _lrelu(bias("4x4/Conv", _conv(x, weight("4x4/Conv"))))
    x = _lrelu(bias("4x4/Dense0", x.reshape(n, -1) @ weight("4x4/Dense0")))
    return bias("4x4/Dense1", x @ weight("4x4/Dense1", gain=1.0))[:, 0]
