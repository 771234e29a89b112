"""The authors' released checkpoints: legacy PyTorch .pth + model_params.pkl, read without PyTorch."""
import collections
import io
import pickle
import struct
import sys
import types

import numpy as np
import pytest

from conftest import shared_file
from gradctrl import UserError
from gradctrl.classifier import model as classifier
from gradctrl.formats import authors
from stylegan2 import InputError

HEADER_SYS_INFO = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}


class _FakeStorage:
    """A storage to write: its key and its raw float32 elements."""

    def __init__(self, key, data):
        self.key, self.data = key, np.ascontiguousarray(data, np.float32).reshape(-1)


class _FakeTensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride


@pytest.fixture
def fake_torch(monkeypatch):
    """Stand-in ``torch`` modules so that pickle writes the same GLOBAL opcodes torch.save does."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called when writing")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for name in ("FloatStorage", "LongStorage"):
        setattr(torch, name, type(name, (), {"__module__": "torch"}))
    torch._utils = utils
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch


def write_legacy(path, tensors, torch, announce=None, count=None, keys=None):
    """Write {name: _FakeTensor} in PyTorch's legacy format, as torch.save(..., _use_new_zipfile_serialization=False).

    Crafting: ``announce(storage, torch)`` -> the persistent id to write (default: a FloatStorage of its
    elements); ``count(storage)`` -> the element count written before its data; ``keys``: the storage key list.
    """
    storages = {}

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _FakeStorage):
                storages[obj.key] = obj
                if announce is not None:
                    return announce(obj, torch)
                return ("storage", torch.FloatStorage, obj.key, "cpu", len(obj.data), None)
            return None

        def reducer_override(self, obj):
            if isinstance(obj, _FakeTensor):
                return (torch._utils._rebuild_tensor_v2,
                        (obj.storage, obj.offset, obj.size, obj.stride, False, collections.OrderedDict()))
            return NotImplemented

    buffer = io.BytesIO()
    for header in (0x1950A86A20F9469CFC6C, 1001, HEADER_SYS_INFO):
        pickle.dump(header, buffer, protocol=2)
    Pickler(buffer, protocol=2).dump(collections.OrderedDict(tensors))
    keys = sorted(storages) if keys is None else keys
    pickle.dump(keys, buffer, protocol=2)
    for key in sorted(storages):
        buffer.write(struct.pack("<q", len(storages[key].data) if count is None else count(storages[key])))
        buffer.write(storages[key].data.astype("<f4").tobytes())
    path.write_bytes(buffer.getvalue())


def numpy_forward(w, layers):
    """Reference MLP: PyTorch-layout (out, in) weights, LeakyReLU(0.1) between layers."""
    x = w.astype(np.float64)
    for i, (weight, bias) in enumerate(layers):
        x = x @ weight.T.astype(np.float64) + bias
        if i < len(layers) - 1:
            x = np.where(x > 0, x, 0.1 * x)
    return x


def test_released_ffhq_matches_authors_probabilities():
    model_dir = shared_file("released/model_ffhq").parent / "model_ffhq"
    ref = np.load(shared_file("fixtures/gradctrl/ffhq_ref.npz"))
    clf = classifier.load_classifier(model_dir)
    assert clf.attributes == ["gender", "smile", "eyeglasses", "age", "pose"]
    assert clf.num_classes == {name: 1 for name in clf.attributes}
    assert clf.w_dim == 512 and clf.hidden_size == 16 and clf.source == "released"
    probs = clf.predict(ref["w0"])
    np.testing.assert_allclose(np.stack([probs[a] for a in clf.attributes], 1), ref["probs0"], atol=1e-6)


def test_released_car_and_cat_structure():
    car = classifier.load_classifier(shared_file("released/model_car"))
    assert car.attributes == ["sky_blue", "grassground", "treesbackground", "hubcap_dense"]
    assert set(car.num_classes.values()) == {1}
    cat = classifier.load_classifier(shared_file("released/model_cat"))
    assert cat.attributes == ["color"] and cat.num_classes == {"color": 8}
    w = np.random.default_rng(0).standard_normal((5, 512)).astype(np.float32)
    p = cat.predict(w)["color"]
    assert p.shape == (5, 8)
    np.testing.assert_allclose(p.sum(1), 1, atol=1e-6)
    # Independent forward pass from the raw state dict (PyTorch layout).
    state = authors.read_legacy_state_dict(shared_file("released/model_cat/model.pth"))
    assert list(state) == ["classifiers.0.classifier.0.weight", "classifiers.0.classifier.0.bias",
                           "classifiers.0.classifier.2.weight", "classifiers.0.classifier.2.bias"]
    logits = numpy_forward(w, [(state["classifiers.0.classifier.0.weight"], state["classifiers.0.classifier.0.bias"]),
                               (state["classifiers.0.classifier.2.weight"], state["classifiers.0.classifier.2.bias"])])
    expected = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(p, expected / expected.sum(1, keepdims=True), atol=1e-6)


def test_model_params_parsing():
    params = authors.read_model_params(shared_file("released/model_car/model_params.pkl"))
    assert params == {"attributes": ["sky_blue", "grassground", "treesbackground", "hubcap_dense"],
                      "num_classes": {"sky_blue": 1, "grassground": 1, "treesbackground": 1, "hubcap_dense": 1},
                      "hidden_size": 16, "n_shared_layers": 0}
    # ffhq's params have no 'multiclass_classes': every branch binary.
    ffhq = authors.read_model_params(shared_file("released/model_ffhq/model_params.pkl"))
    assert set(ffhq["num_classes"].values()) == {1}


def test_strided_views_and_offsets(tmp_path, fake_torch):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 5)).astype(np.float32)
    shared = _FakeStorage("1", np.concatenate([np.full(4, 9.0, np.float32), a.T.reshape(-1)]))
    tensors = {"t": _FakeTensor(shared, 4, (3, 5), (1, 3)),          # a, stored transposed after 4 other values
               "row": _FakeTensor(shared, 4 + 1, (5,), (3,)),        # a[1, :] from the same storage
               "head": _FakeTensor(shared, 0, (2, 2), (2, 1))}
    write_legacy(tmp_path / "m.pth", tensors, fake_torch)
    state = authors.read_legacy_state_dict(tmp_path / "m.pth")
    np.testing.assert_array_equal(state["t"], a)
    np.testing.assert_array_equal(state["row"], a[1])
    np.testing.assert_array_equal(state["head"], np.full((2, 2), 9.0))
    assert state["t"].dtype == np.float32 and state["t"].flags.c_contiguous


def test_shared_layers_and_linear_branches(tmp_path, fake_torch):
    """A released-format model with 2 shared layers, linear branches and a 3-class branch."""
    rng = np.random.default_rng(2)
    d = 6
    params = {}
    layers = {"shared.0": (d, d), "shared.2": (d, d), "classifiers.0.classifier.0": (1, d),
              "classifiers.1.classifier.0": (3, d)}
    tensors = {}
    for i, (prefix, shape) in enumerate(layers.items()):
        params[prefix] = (rng.standard_normal(shape).astype(np.float32), rng.standard_normal(shape[0]).astype(np.float32))
        tensors[prefix + ".weight"] = _FakeTensor(_FakeStorage(f"w{i}", params[prefix][0]), 0, shape, (shape[1], 1))
        tensors[prefix + ".bias"] = _FakeTensor(_FakeStorage(f"b{i}", params[prefix][1]), 0, (shape[0],), (1,))
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    write_legacy(model_dir / "model.pth", tensors, fake_torch)
    with open(model_dir / "model_params.pkl", "wb") as f:
        pickle.dump({"attributes": "a,b", "n_attributes": 2, "n_shared_layers": 2, "hidden_size": None,
                     "multiclass_classes": "1,3"}, f, protocol=3)
    clf = classifier.load_classifier(model_dir)
    assert clf.num_classes == {"a": 1, "b": 3} and clf.hidden_size is None and clf.n_shared_layers == 2
    w = rng.standard_normal((4, d)).astype(np.float32)
    trunk = numpy_forward(w, [params["shared.0"], params["shared.2"], ((np.eye(d)), np.zeros(d))])
    probs = clf.predict(w)
    logit_a = trunk @ params["classifiers.0.classifier.0"][0].T.astype(np.float64) + params["classifiers.0.classifier.0"][1]
    np.testing.assert_allclose(probs["a"], 1 / (1 + np.exp(-logit_a[:, 0])), atol=1e-5)
    logit_b = trunk @ params["classifiers.1.classifier.0"][0].T.astype(np.float64) + params["classifiers.1.classifier.0"][1]
    e = np.exp(logit_b - logit_b.max(1, keepdims=True))
    np.testing.assert_allclose(probs["b"], e / e.sum(1, keepdims=True), atol=1e-5)


_S = _FakeStorage("0", np.arange(6, dtype=np.float32))


def _pid(key="0", n=6, kind="FloatStorage"):
    return lambda storage, torch: ("storage", getattr(torch, kind), key, "cpu", n, None)


# Crafted checkpoints (issue 13, item 6): each field the reader uses, given a value PyTorch never writes.
CRAFTED = {
    "negative storage count": (dict(t=_FakeTensor(_S, 0, (2, 3), (3, 1))),
                               dict(announce=_pid(n=-1), count=lambda s: -1),
                               r"storage 0 has element count -1, not an integer >= 0"),
    "huge storage count": (dict(t=_FakeTensor(_S, 0, (2, 3), (3, 1))),
                           dict(announce=_pid(n=2 ** 60), count=lambda s: 2 ** 60),
                           r"is truncated \(storage 0 needs 4611686018427387904 bytes, 24 are left\)"),
    "count unlike the header": (dict(t=_FakeTensor(_S, 0, (2, 3), (3, 1))), dict(count=lambda s: 5),
                                r"storage 0 holds 5 elements, its header says 6"),
    "non-integer count": (dict(t=_FakeTensor(_S, 0, (2, 3), (3, 1))), dict(announce=_pid(n=6.0)),
                          r"storage 0 has element count 6\.0, not an integer"),
    "non-string key": (dict(t=_FakeTensor(_S, 0, (2, 3), (3, 1))), dict(announce=_pid(key=("0",))),
                       r"a storage key is \('0',\), not a string"),
    "duplicate keys": (dict(t=_FakeTensor(_S, 0, (2, 3), (3, 1))), dict(keys=["0", "0"]),
                       r"its storage list does not match its state dict"),
    "non-integer offset": (dict(t=_FakeTensor(_S, 1.5, (2, 2), (2, 1))), {},
                           r"tensor 't' has storage offset 1\.5, not an integer >= 0"),
    "negative offset": (dict(t=_FakeTensor(_S, -2, (2,), (1,))), {},
                        r"tensor 't' has storage offset -2, not an integer >= 0"),
    "offset past the storage": (dict(t=_FakeTensor(_S, 5, (2,), (1,))), {},
                                r"tensor 't' reaches element 6 of a storage of 6"),
    "offset past an empty view": (dict(t=_FakeTensor(_S, 99, (0,), (1,))), {},
                                  r"tensor 't' has storage offset 99 past the end of its storage of 6"),
    "float size": (dict(t=_FakeTensor(_S, 0, (2.0, 3), (3, 1))), {}, r"tensor 't' has size \(2\.0, 3\)"),
    "bool stride": (dict(t=_FakeTensor(_S, 0, (2, 3), (True, 1))), {}, r"tensor 't' has stride \(True, 1\)"),
    "size not a tuple": (dict(t=_FakeTensor(_S, 0, 6, (1,))), {}, r"tensor 't' has size 6, not a tuple"),
    "negative stride": (dict(t=_FakeTensor(_S, 5, (2,), (-1,))), {}, r"tensor 't' has stride \(-1,\)"),
    "size and stride of different lengths": (dict(t=_FakeTensor(_S, 0, (2, 3), (1,))), {},
                                             r"tensor 't' has a size \(2, 3\) and a stride \(1,\) of different"),
    "a view larger than its storage": (dict(t=_FakeTensor(_S, 0, (10 ** 6, 10 ** 6), (0, 0))), {},
                                       r"tensor 't' has 1000000000000 elements \(size \(1000000, 1000000\)\) "
                                       r"but its storage holds 6"),
    "no storage": (dict(t=_FakeTensor(7, 0, (1,), (1,))), {}, r"tensor 't' is not backed by one of the file's"),
    "non-string name": ({3: _FakeTensor(_S, 0, (6,), (1,))}, {}, r"a state-dict entry is named 3, not a string"),
}


@pytest.mark.parametrize("case", list(CRAFTED))
def test_crafted_checkpoints_are_one_line_errors(tmp_path, fake_torch, case):
    tensors, crafting, message = CRAFTED[case]
    write_legacy(tmp_path / "model.pth", tensors, fake_torch, **crafting)
    with pytest.raises(InputError, match=rf"^PyTorch checkpoint '{tmp_path / 'model.pth'}'.*{message}"):
        authors.read_legacy_state_dict(tmp_path / "model.pth")


def test_crafted_released_models_are_one_line_errors_of_the_commands(tmp_path, fake_torch, capsys):
    """Through a command: exit code 2, one line, no traceback; integer weights and bad parameters are refused."""
    from gradctrl.commands import manipulate

    model = tmp_path / "model"
    model.mkdir()
    weights = {"classifiers.0.classifier.0.weight": _FakeTensor(_S, 0, (1, 3), (3, 1)),
               "classifiers.0.classifier.0.bias": _FakeTensor(_S, 0, (1,), (1,))}
    checks = [(dict(announce=_pid(n=-1), count=lambda s: -1), {}, "element count -1"),
              (dict(announce=_pid(n=3, kind="LongStorage"), count=lambda s: 3), {},
               "'classifiers.0.classifier.0.weight' holds int64 values, not floating-point weights"),
              ({}, {"hidden_size": True}, "'hidden_size' must be a positive integer or None, not True"),
              ({}, {"attributes": "a,a", "n_attributes": 2}, "'attributes' 'a,a' must name distinct attributes")]
    for crafting, params, message in checks:
        write_legacy(model / "model.pth", weights, fake_torch, **crafting)
        with open(model / "model_params.pkl", "wb") as f:
            pickle.dump({"attributes": "a", "n_attributes": 1, "n_shared_layers": 0, "hidden_size": None, **params}, f)
        with pytest.raises(SystemExit) as e:
            manipulate.main(["--model_dir", str(model), "--attribute", "a", "--out_dir", str(tmp_path / "edits")])
        err = capsys.readouterr().err
        assert e.value.code == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "edits").exists()


def test_released_weights_with_nan_are_refused_naming_the_file_and_the_tensor(tmp_path, fake_torch, capsys):
    """Issue 25 item 8: a NaN in the authors' checkpoint (every edit step would be a zero-gradient no-op) is
    refused when the model is read, naming model.pth and the tensor."""
    from gradctrl.commands import manipulate

    model = tmp_path / "model"
    model.mkdir()
    kernel = np.arange(3, dtype=np.float32)
    kernel[1] = np.nan
    write_legacy(model / "model.pth", {"classifiers.0.classifier.0.weight": _FakeTensor(_FakeStorage("w", kernel), 0,
                                                                                          (1, 3), (3, 1)),
                                       "classifiers.0.classifier.0.bias": _FakeTensor(_S, 0, (1,), (1,))}, fake_torch)
    with open(model / "model_params.pkl", "wb") as f:
        pickle.dump({"attributes": "a", "n_attributes": 1, "n_shared_layers": 0, "hidden_size": None}, f)
    with pytest.raises(SystemExit) as e:
        manipulate.main(["--model_dir", str(model), "--attribute", "a", "--out_dir", str(tmp_path / "edits")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1, err
    assert f"'{model / 'model.pth'}': 'classifiers.0.classifier.0.weight' holds NaN or infinite values" in err, err
    assert not (tmp_path / "edits").exists()


def test_refuses_foreign_globals(tmp_path):
    data = shared_file("released/model_cat/model.pth").read_bytes()
    header_end = data.index(b"\x80\x02\x63collections")          # the state-dict pickle starts here
    evil = b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."
    (tmp_path / "model.pth").write_bytes(data[:header_end] + evil)
    with pytest.raises(InputError, match=r"'os\.system', which is not on the allow-list"):
        authors.read_legacy_state_dict(tmp_path / "model.pth")


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:-10], "truncated"),
    (lambda b: pickle.dumps(12345, protocol=2) + b[15:], "wrong magic number"),
    (lambda b: b"PK\x03\x04" + b[4:], "newer zip format"),
    (lambda b: b"", "truncated or empty"),
])
def test_damaged_checkpoints(tmp_path, damage, message):
    data = shared_file("released/model_cat/model.pth").read_bytes()
    (tmp_path / "model.pth").write_bytes(damage(data))
    with pytest.raises(InputError, match=message):
        authors.read_legacy_state_dict(tmp_path / "model.pth")


def test_params_not_matching_weights(tmp_path):
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    (model_dir / "model.pth").write_bytes(shared_file("released/model_cat/model.pth").read_bytes())
    with open(model_dir / "model_params.pkl", "wb") as f:
        pickle.dump({"attributes": "color", "n_attributes": 1, "n_shared_layers": 0, "hidden_size": 16,
                     "multiclass_classes": "5"}, f)
    with pytest.raises(UserError, match="layer branch_0_out has shapes"):
        classifier.load_classifier(model_dir)
    with open(model_dir / "model_params.pkl", "wb") as f:
        pickle.dump({"attributes": "color,size", "n_attributes": 2, "n_shared_layers": 0, "hidden_size": 16}, f)
    with pytest.raises(UserError, match="lacks 'classifiers.1.classifier.0.weight'"):
        classifier.load_classifier(model_dir)
    with open(model_dir / "model_params.pkl", "wb") as f:
        pickle.dump({"attributes": "a,b", "n_attributes": 3}, f)
    with pytest.raises(UserError, match="'n_attributes' is 3 but 'attributes' names 2"):
        classifier.load_classifier(model_dir)
