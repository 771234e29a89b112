"""Reading network pickles never runs code: unknown globals are refused, stored source is never executed."""
import copyreg
import io
import pickle
import pickletools

import numpy as np
import pytest

import stylegan2
from stylegan2.official_pickle import NO_CODE_SRC, read_networks

from conftest import shared_file


class _Holder:
    """A test-local stand-in pickled under the name ``dnnlib.tflib.network.Network`` with any state."""

    def __init__(self, state):
        self.state = state

    def __reduce__(self):
        return (copyreg.__newobj__, (_Holder,), self.state)

    def __setstate__(self, state):
        self.state = state


class _Call:
    """Pickles as a call of the global ``module.name`` with ``args`` (what a malicious pickle does)."""

    def __init__(self, module, name, *args):
        self.module, self.name, self.args = module, name, args


class _Writer(pickle._Pickler):
    """Writes _Holder as the official Network global and _Call objects as arbitrary global calls."""

    def save_global(self, obj, name=None):
        if obj is _Holder:
            self.save("dnnlib.tflib.network")
            self.save("Network")
            self.write(pickle.STACK_GLOBAL)
            return None
        return super().save_global(obj, name)

    def reducer_override(self, obj):
        if isinstance(obj, _Call):
            return (_GlobalRef(obj.module, obj.name), obj.args)
        return NotImplemented

    def save(self, obj, save_persistent_id=True):
        if isinstance(obj, _GlobalRef):
            self.save(obj.module)
            self.save(obj.name)
            self.write(pickle.STACK_GLOBAL)
            return None
        return super().save(obj, save_persistent_id)


class _GlobalRef:
    """Stands for the global ``module.name`` in a reduce tuple (callable only to pass pickle's check)."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, *args):
        raise AssertionError("never called")


def dumps(obj):
    buffer = io.BytesIO()
    _Writer(buffer, protocol=4).dump(obj)
    return buffer.getvalue()


def network_state(name, variables, build_module_src=NO_CODE_SRC, build_func_name="G_main", components=None,
                  static_kwargs=None):
    return _Holder({"version": 4, "name": name, "static_kwargs": static_kwargs or {}, "components": components or {},
                    "build_module_src": build_module_src, "build_func_name": build_func_name,
                    "variables": variables})


def globals_in(data):
    """The (module, name) globals a pickle references (following memoised strings)."""
    found, pushed, memo = set(), [], {}
    for op, arg, _ in pickletools.genops(data):
        if op.name == "MEMOIZE":
            memo[len(memo)] = pushed[-1]
        elif op.name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[arg] = pushed[-1]
        elif op.name in ("GET", "BINGET", "LONG_BINGET"):
            pushed.append(memo[arg])
        elif op.name == "STACK_GLOBAL":
            found.add((pushed[-2], pushed[-1]))
            pushed.append(None)
        elif op.name == "GLOBAL":
            found.add(tuple(arg.split(" ", 1)))
            pushed.append(None)
        else:
            pushed.append(arg if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE") else None)
    return found


def test_test_writer_builds_the_calls_it_claims():
    data = dumps(_Call("os", "system", "true"))
    assert globals_in(data) == {("os", "system")}


ATTACKS = [
    ("os", "system"),
    ("posix", "system"),
    ("builtins", "eval"),
    ("builtins", "exec"),
    ("subprocess", "check_call"),
    ("subprocess", "Popen"),
    ("numpy", "load"),
    ("numpy.testing._private.utils", "runstring"),
    ("numpy.lib.npyio", "load"),
    ("numpy.core.multiarray", "frombuffer"),
]


@pytest.mark.parametrize("module,name", ATTACKS)
@pytest.mark.parametrize("where", ["top", "variable", "kwargs"])
def test_code_running_globals_are_refused(tmp_path, module, name, where):
    marker = tmp_path / "ran"
    payload = f"open({str(marker)!r}, 'w').close()" if name in ("eval", "exec", "runstring") else f"touch {marker}"
    call = _Call(module, name, payload)
    if where == "top":
        obj = call
    elif where == "variable":
        obj = (network_state("G", []), network_state("D", []), network_state("Gs", [("dlatent_avg", call)]))
    else:
        gs = network_state("Gs", [])
        gs.state["static_kwargs"] = {"resolution": call}
        obj = (network_state("G", []), network_state("D", []), gs)
    path = tmp_path / "evil.pkl"
    path.write_bytes(dumps(obj))
    with pytest.raises(stylegan2.InputError) as info:
        stylegan2.load_generator(path)
    message = str(info.value)
    assert f"'{module}.{name}'" in message and "not on the allow-list" in message and "\n" not in message
    assert not marker.exists()


def test_stored_source_is_never_executed(tmp_path, tiny_generator_path):
    """A pickle whose build_module_src would write a file loads as data; the file is never written."""
    marker = tmp_path / "ran"
    source = f"open({str(marker)!r}, 'w').close()\nraise RuntimeError('executed')\n"

    def holder(state):
        return network_state(state.name, list(state.variables.items()), source, state.build_func_name,
                             {c: holder(s) for c, s in state.components.items()}, state.static_kwargs)

    evil = holder(read_networks(tiny_generator_path))
    path = tmp_path / "source.pkl"
    path.write_bytes(dumps((network_state("G", []), network_state("D", []), evil)))
    G = stylegan2.load_generator(path)
    assert G.state.build_module_src == source
    assert not marker.exists()
    # ... and saving it again writes no code at all.
    stylegan2.save_generator(G, tmp_path / "resaved.pkl")
    assert source.encode() not in (tmp_path / "resaved.pkl").read_bytes()
    assert not marker.exists()


@pytest.mark.parametrize("name", ["skip32", "resnet16"])
def test_fixtures_build_module_src_would_raise_and_loading_works(name):
    path = shared_file(f"fixtures/stylegan2/{name}.pkl")
    gs = read_networks(path)
    with pytest.raises(RuntimeError, match="executed code stored"):
        exec(compile(gs.build_module_src, "build_module_src", "exec"), {})  # what NVIDIA's loader would do
    assert stylegan2.load_generator(path).num_ws > 0


@pytest.mark.parametrize("name", ["skip32", "resnet16"])
def test_fixtures_reference_only_the_expected_globals(name):
    data = shared_file(f"fixtures/stylegan2/{name}.pkl").read_bytes()
    assert globals_in(data) == {("dnnlib.tflib.network", "Network"), ("numpy.core.multiarray", "_reconstruct"),
                                ("numpy.core.multiarray", "scalar"), ("numpy", "dtype"), ("numpy", "ndarray")}


def test_object_arrays_are_refused(tmp_path):
    path = tmp_path / "objects.pkl"
    path.write_bytes(pickle.dumps(np.array([1, "a"], dtype=object), protocol=4))
    with pytest.raises(stylegan2.InputError, match="object dtype"):
        stylegan2.load_generator(path)


def test_numpy_arrays_of_every_pickle_protocol_are_rebuilt():
    from stylegan2 import safe_pickle

    arrays = (np.arange(6, dtype=np.float32).reshape(2, 3), np.asfortranarray(np.ones((2, 3), np.float64)),
              np.float32(2.5), np.int64(7))
    for protocol in (2, 3, 4, 5):
        loaded = safe_pickle.loads(pickle.dumps(arrays, protocol=protocol), safe_pickle.NUMPY_GLOBALS, "test pickle")
        for a, b in zip(arrays, loaded):
            assert type(a) is type(b) and np.asarray(a).dtype == np.asarray(b).dtype
            np.testing.assert_array_equal(a, b)
