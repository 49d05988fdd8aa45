"""safetensors files written by hand, checkpoint directories written atomically."""
import json
import os
import struct

import numpy as np
import pytest

import minitl
from minitl import checkpoint, nn, serialization
from minitl.optim import AdamW
from minitl.serialization import CheckpointError


def _arrays():
    rng = np.random.default_rng(0)
    return {
        "w32": rng.normal(size=(3, 5)).astype(np.float32),
        "w64": rng.normal(size=(2, 2, 2)),
        "half": np.array([1.5, -2.0], dtype=np.float16),
        "ids": np.arange(7, dtype=np.int64) - 3,
        "i32": np.array([[1, -2]], dtype=np.int32),
        "i8": np.array([-128, 127], dtype=np.int8),
        "u8": np.array([0, 255], dtype=np.uint8),
        "mask": np.array([True, False, True]),
        "scalar": np.array(3.25, dtype=np.float32),          # 0-d
        "empty": np.zeros((0, 4), dtype=np.float32),          # no bytes at all
        "transposed": rng.normal(size=(4, 3)).astype(np.float32).T,  # non-contiguous
        "big_endian": np.array([1.0, 2.0], dtype=">f4"),
    }


def test_round_trip_dtypes_shapes_and_order(tmp_path):
    arrays = _arrays()
    path = tmp_path / "w.safetensors"
    minitl.save(arrays, path)
    back = minitl.load(path)
    assert list(back) == list(arrays)  # the caller's order survives
    for k, a in arrays.items():
        assert back[k].shape == a.shape, k
        assert back[k].dtype.kind == a.dtype.kind and back[k].dtype.itemsize == a.dtype.itemsize, k
        assert np.array_equal(back[k], a), k
    assert back["scalar"].shape == () and back["empty"].shape == (0, 4)
    back["w32"][0, 0] = 1.0  # loaded arrays are writable


def test_file_layout_follows_the_spec(tmp_path):
    path = tmp_path / "w.safetensors"
    minitl.save({"b": np.array([1, 2], dtype=np.int8), "a": np.ones((2, 3), dtype=np.float64)}, path,
                metadata={"step": "7"})
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    assert (8 + n) % 8 == 0  # header padded so the data is 8-byte aligned
    header = json.loads(raw[8:8 + n].decode())
    assert header["__metadata__"] == {"step": "7"}
    assert header["a"] == {"dtype": "F64", "shape": [2, 3], "data_offsets": [0, 48]}  # widest first
    assert header["b"] == {"dtype": "I8", "shape": [2], "data_offsets": [48, 50]}
    assert raw[8 + n:8 + n + 8] == struct.pack("<d", 1.0) and raw[-2:] == b"\x01\x02"
    assert len(raw) == 8 + n + 50
    assert serialization.load_metadata(path) == {"step": "7"}


def _handmade(tmp_path, header, data, name="hand.safetensors"):
    blob = json.dumps(header).encode()
    path = tmp_path / name
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data)
    return path


def test_reads_a_file_built_by_hand_from_the_spec(tmp_path):
    data = struct.pack("<3f", 1.0, 2.0, 3.0) + struct.pack("<q", -5)
    path = _handmade(tmp_path, {"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]},
                                "n": {"dtype": "I64", "shape": [], "data_offsets": [12, 20]}}, data)
    back = minitl.load(path)
    assert back["x"].tolist() == [1.0, 2.0, 3.0] and back["n"].item() == -5 and back["n"].shape == ()


def test_accepts_tensors_and_parameters(tmp_path):
    lin = nn.Linear(3, 2)
    minitl.save({"p": lin.weight, "t": minitl.tensor([1.0, 2.0])}, tmp_path / "t.safetensors")
    back = minitl.load(tmp_path / "t.safetensors")
    assert np.array_equal(back["p"], lin.weight.data) and back["t"].dtype == np.float32


def test_model_round_trip_through_file(tmp_path):
    minitl.manual_seed(0)
    a = nn.Sequential(nn.Embedding(5, 3), nn.LayerNorm(3), nn.Linear(3, 2))
    minitl.save(a.state_dict(), tmp_path / "m.safetensors")
    minitl.manual_seed(1)
    b = nn.Sequential(nn.Embedding(5, 3), nn.LayerNorm(3), nn.Linear(3, 2))
    b.load_state_dict(minitl.load(tmp_path / "m.safetensors"))
    ids = np.array([[0, 4, 2]])
    assert np.array_equal(a(ids).data, b(ids).data)


def test_save_rejects_bad_input(tmp_path):
    with pytest.raises(TypeError, match="tensor 'z' has dtype complex128"):
        minitl.save({"z": np.zeros(2, dtype=complex)}, tmp_path / "x")
    with pytest.raises(TypeError, match="metadata must map str -> str"):
        minitl.save({}, tmp_path / "x", metadata={"step": 3})
    with pytest.raises(KeyError, match="__metadata__"):
        minitl.save({"__metadata__": np.zeros(1)}, tmp_path / "x")
    assert os.listdir(tmp_path) == []


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "w.safetensors"
    minitl.save({"x": np.ones(3)}, path)
    before = path.read_bytes()

    def crash(fd):
        raise OSError("disk full (simulated)")
    monkeypatch.setattr(serialization.os, "fsync", crash)
    with pytest.raises(OSError, match="simulated"):
        minitl.save({"x": np.zeros(1000)}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["w.safetensors"]  # no temp file left behind


def _good_file(tmp_path):
    path = tmp_path / "good.safetensors"
    minitl.save({"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.arange(4)}, path)
    return path


@pytest.mark.parametrize("cut", [0, 5, 8, 30, -1, -20])
def test_truncated_file_names_the_file(tmp_path, cut):
    raw = _good_file(tmp_path).read_bytes()
    bad = tmp_path / "cut.safetensors"
    bad.write_bytes(raw[:cut])
    with pytest.raises(CheckpointError, match=r"cut\.safetensors.*(truncated|shorter)"):
        minitl.load(bad)


def test_corrupt_headers_are_named(tmp_path):
    raw = _good_file(tmp_path).read_bytes()
    huge = tmp_path / "huge.safetensors"
    huge.write_bytes(struct.pack("<Q", 2**40) + raw[8:])
    with pytest.raises(CheckpointError, match="huge.safetensors.*header length 1099511627776"):
        minitl.load(huge)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(struct.pack("<Q", 4) + b"{no}" + b"\0" * 8)
    with pytest.raises(CheckpointError, match="junk.safetensors.*not valid JSON"):
        minitl.load(junk)
    cases = {
        "dtype": ({"x": {"dtype": "F8_E9", "shape": [1], "data_offsets": [0, 1]}}, 1,
                  "unknown dtype 'F8_E9'"),
        "range": ({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, 4, "truncated"),
        "overlap": ({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                     "y": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, 8, "'y'.*overlaps 'x'"),
        "gap": ({"x": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, 8, "gap of 4 bytes"),
        "size": ({"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, 8,
                 "span 8 bytes, but F32 \\[3\\] needs 12"),
        "tail": ({"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, 9, "5 unexplained bytes"),
        "shape": ({"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, 4, "bad shape"),
        "meta": ({"__metadata__": {"a": 1}}, 0, "__metadata__ must be an object of strings"),
    }
    for name, (header, nbytes, msg) in cases.items():
        path = _handmade(tmp_path, header, b"\0" * nbytes, name=f"{name}.safetensors")
        with pytest.raises(CheckpointError, match=f"{name}.safetensors.*{msg}"):
            minitl.load(path)


def test_safetensors_package_reads_our_file(tmp_path):
    st = pytest.importorskip("safetensors.numpy",
                             reason="the safetensors package is not installed (optional cross-check)")
    arrays = {k: v for k, v in _arrays().items() if k != "big_endian"}
    minitl.save(arrays, tmp_path / "w.safetensors")
    theirs = st.load_file(str(tmp_path / "w.safetensors"))
    assert set(theirs) == set(arrays)
    for k, a in arrays.items():
        assert np.array_equal(theirs[k], a) and theirs[k].shape == a.shape, k
    st.save_file({"q": np.arange(3, dtype=np.int32)}, str(tmp_path / "theirs.safetensors"))
    assert minitl.load(tmp_path / "theirs.safetensors")["q"].tolist() == [0, 1, 2]


# -- checkpoint directories ----------------------------------------------------
def _save(directory, value, **kw):
    return checkpoint.save_dir(directory, {"w": np.full(3, value, dtype=np.float32)},
                               {"d_model": int(value)}, meta={"seed": 0, "loss": np.float32(0.5)}, **kw)


def test_checkpoint_round_trip_with_extra_files(tmp_path):
    def write_tok(path):
        with open(path, "w") as f:
            f.write('{"vocab": {}}')
    d = _save(tmp_path / "run" / "ckpt", 1.0,
              extra_files={"tokenizer.json": write_tok, "trainer_state.json": '{"step": 3}',
                           "blob.bin": b"\x00\x01"})
    assert sorted(os.listdir(d)) == ["blob.bin", "config.json", "meta.json", "model.safetensors",
                                     "tokenizer.json", "trainer_state.json"]
    sd, config, meta = checkpoint.load_dir(d)
    assert sd["w"].tolist() == [1.0, 1.0, 1.0] and config == {"d_model": 1}
    assert meta["seed"] == 0 and meta["loss"] == 0.5 and meta["minitl_version"] == minitl.__version__
    _save(d, 2.0)  # replace an existing checkpoint
    assert checkpoint.load_dir(d)[1] == {"d_model": 2}
    assert sorted(os.listdir(tmp_path / "run")) == ["ckpt"]  # no temp or old dirs left


def test_crash_mid_save_keeps_previous_checkpoint(tmp_path):
    d = _save(tmp_path / "ckpt", 1.0)

    def crash(path):
        raise KeyboardInterrupt("killed while writing (simulated)")
    with pytest.raises(KeyboardInterrupt):
        _save(d, 2.0, extra_files={"tokenizer.json": crash})
    sd, config, _ = checkpoint.load_dir(d)
    assert sd["w"].tolist() == [1.0] * 3 and config == {"d_model": 1}
    assert os.listdir(tmp_path) == ["ckpt"]
    assert sorted(os.listdir(d)) == ["config.json", "meta.json", "model.safetensors"]


def test_crash_while_swapping_restores_previous(tmp_path, monkeypatch):
    d = _save(tmp_path / "ckpt", 1.0)
    real_rename = os.rename

    def flaky(src, dst):
        if ".tmp-" in os.fspath(src):  # the "rename new in" step fails
            raise OSError("rename failed (simulated)")
        return real_rename(src, dst)
    monkeypatch.setattr(checkpoint.os, "rename", flaky)
    with pytest.raises(OSError, match="simulated"):
        _save(d, 2.0)
    monkeypatch.undo()
    assert checkpoint.load_dir(d)[1] == {"d_model": 1}
    assert os.listdir(tmp_path) == ["ckpt"]


def test_checkpoint_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope does not exist"):
        checkpoint.load_dir(tmp_path / "nope")
    d = _save(tmp_path / "ckpt", 1.0)
    os.remove(os.path.join(d, "model.safetensors"))
    with pytest.raises(FileNotFoundError, match="ckpt is missing model.safetensors"):
        checkpoint.load_dir(d)
    d = _save(tmp_path / "ckpt2", 1.0)
    with open(os.path.join(d, "config.json"), "w") as f:
        f.write("{oops")
    with pytest.raises(CheckpointError, match="config.json: invalid JSON"):
        checkpoint.load_dir(d)
    user = tmp_path / "my_files"
    user.mkdir()
    (user / "thesis.tex").write_text("precious")
    with pytest.raises(FileExistsError, match="refusing to replace .*my_files"):
        _save(user, 1.0)
    assert (user / "thesis.tex").read_text() == "precious"
    with pytest.raises(ValueError, match="plain file name"):
        _save(tmp_path / "c3", 1.0, extra_files={"../escape.txt": b""})


def test_optimizer_state_file_resumes_exactly(tmp_path):
    def make():
        minitl.manual_seed(0)
        m = nn.Linear(3, 2)
        return m, AdamW([{"params": [m.weight]}, {"params": [m.bias], "lr": 0.01}], lr=0.1)

    def step(m, opt, g):
        m.weight.grad, m.bias.grad = g[:6].reshape(2, 3).astype(np.float32), g[6:].astype(np.float32)
        opt.step()

    grads = np.random.default_rng(0).normal(size=(4, 8))
    a, opt_a = make()
    step(a, opt_a, grads[0])
    step(a, opt_a, grads[1])
    checkpoint.save_optimizer_state(opt_a.state_dict(), tmp_path / "optimizer.safetensors")
    b, opt_b = make()
    b.load_state_dict(a.state_dict())
    opt_b.load_state_dict(checkpoint.load_optimizer_state(tmp_path / "optimizer.safetensors"))
    assert opt_b.param_groups[0]["betas"] == (0.9, 0.999) and opt_b.state[id(b.weight)]["step"] == 2
    for g in grads[2:]:
        step(a, opt_a, g)
        step(b, opt_b, g)
    assert np.array_equal(a.weight.data, b.weight.data) and np.array_equal(a.bias.data, b.bias.data)
    minitl.save({"x": np.zeros(1)}, tmp_path / "plain.safetensors")
    with pytest.raises(CheckpointError, match="plain.safetensors: not a minitl optimizer state"):
        checkpoint.load_optimizer_state(tmp_path / "plain.safetensors")


# ---- issue 15: relabelled or non-finite tensors, leftovers of a killed save, the umask -----
def _relabel(path, name, old, new):
    """Rewrite tensor ``name``'s dtype code in the header (same length: the bytes stay put)."""
    raw = bytearray(open(path, "rb").read())
    n = int.from_bytes(raw[:8], "little")
    header = raw[8:8 + n].decode()
    entry = f'"{name}":{{"dtype":"{old}"'
    assert entry in header and len(old) == len(new)
    raw[8:8 + n] = header.replace(entry, f'"{name}":{{"dtype":"{new}"').encode()
    open(path, "wb").write(bytes(raw))


def test_relabelled_dtype_is_refused_by_load_state_dict(tmp_path):
    minitl.manual_seed(0)
    m = nn.Linear(3, 2)
    minitl.save(m.state_dict(), tmp_path / "m.safetensors")
    _relabel(tmp_path / "m.safetensors", "weight", "F32", "I32")
    sd = minitl.load(tmp_path / "m.safetensors")     # the file itself is well-formed
    fresh = nn.Linear(3, 2)
    before = fresh.weight.data.copy()
    with pytest.raises(CheckpointError, match=r"dtype mismatch \(1\): weight is int32 in the state_dict "
                                              r"but float32 in the model"):
        fresh.load_state_dict(sd)
    assert np.array_equal(fresh.weight.data, before)  # nothing half-loaded
    fresh.load_state_dict({k: v.astype(np.float64) for k, v in m.state_dict().items()})  # float64 -> float32 is fine
    assert fresh.weight.dtype == np.float32 and np.array_equal(fresh.weight.data, m.weight.data)


def test_non_finite_weights_load_with_a_warning():
    m = nn.Linear(3, 2)
    sd = m.state_dict()
    sd["weight"][0, :2] = [np.nan, np.inf]
    with pytest.warns(RuntimeWarning, match=r"non-finite weights \(NaN/Inf\) in weight \(2 of 6\)"):
        m.load_state_dict(sd)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.load_state_dict(nn.Linear(3, 2).state_dict())  # finite: silent


def test_leftovers_of_a_killed_save_are_cleaned_up(tmp_path):
    d = _save(tmp_path / "ckpt", 1.0)
    # a kill mid-write leaves a .tmp- folder; a kill between the renames leaves only an .old- one
    os.mkdir(tmp_path / ".ckpt.tmp-dead1")
    (tmp_path / ".ckpt.tmp-dead1" / "config.json").write_text("{")
    os.rename(d, tmp_path / ".ckpt.old-1234abcd")
    with pytest.warns(UserWarning, match=r"ckpt was missing after an interrupted save; restored"):
        sd, config, _ = checkpoint.load_dir(d)
    assert sd["w"].tolist() == [1.0] * 3 and config == {"d_model": 1}
    assert os.listdir(tmp_path) == ["ckpt"]
    os.mkdir(tmp_path / ".ckpt.old-deadbeef")                  # a superseded copy: just removed
    _save(d, 2.0)
    assert os.listdir(tmp_path) == ["ckpt"] and checkpoint.load_dir(d)[0]["w"].tolist() == [2.0] * 3


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_checkpoints_follow_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        d = _save(tmp_path / "ckpt", 1.0)
        minitl.save({"x": np.zeros(1)}, tmp_path / "plain.safetensors")
    finally:
        os.umask(old)
    assert os.stat(d).st_mode & 0o777 == 0o777 & ~mask
    for f in ("config.json", "model.safetensors", "meta.json"):
        assert os.stat(os.path.join(d, f)).st_mode & 0o777 == 0o666 & ~mask, f
    assert os.stat(tmp_path / "plain.safetensors").st_mode & 0o777 == 0o666 & ~mask


def test_a_load_during_a_save_waits_and_never_removes_the_live_save(tmp_path):
    import threading
    d = _save(tmp_path / "ckpt", 1.0)
    writing, release, results = threading.Event(), threading.Event(), {}

    def slow_tokenizer(path):  # the save is in the middle of writing its temporary folder
        writing.set()
        assert release.wait(10)
        with open(path, "w") as f:
            f.write("{}")

    def save():
        try:
            results["saved"] = _save(d, 2.0, extra_files={"tokenizer.json": slow_tokenizer})
        except BaseException as e:  # noqa: BLE001 - reported below
            results["save_error"] = e

    saver = threading.Thread(target=save)
    saver.start()
    assert writing.wait(10)
    loader = threading.Thread(target=lambda: results.setdefault("loaded", checkpoint.load_dir(d)))
    loader.start()
    loader.join(0.3)
    assert loader.is_alive()                     # waiting for the save, not reading half of it
    release.set()
    saver.join(10)
    loader.join(10)
    assert "save_error" not in results, results.get("save_error")
    assert results["loaded"][0]["w"].tolist() == [2.0] * 3 and os.listdir(tmp_path) == ["ckpt"]
