"""``minitl.save`` / ``minitl.load``: the safetensors file format, written by hand.

The format (https://github.com/huggingface/safetensors) is three parts::

    [8 bytes]  N, the header length, unsigned little-endian
    [N bytes]  a JSON header, padded with spaces so 8 + N is a multiple of 8:
               {"fc.weight": {"dtype": "F32", "shape": [3, 2], "data_offsets": [0, 24]},
                "__metadata__": {"step": "100"}}          (metadata: optional, str -> str)
    [rest]     the raw little-endian bytes of every tensor; data_offsets are
               [begin, end) into this part.

Loading it is parsing JSON and slicing bytes: no code runs, unlike pickle.
Files written here load with ``safetensors.numpy.load_file`` and vice versa.

``save`` is atomic: it writes a temporary file beside the target, flushes and
fsyncs it, then ``os.replace``s it into place, so a crash mid-save leaves the
old file untouched.  ``load`` checks everything it reads and names the file
and the problem (truncated, bad header, overlapping offsets, unknown dtype).
"""
import json
import os
import tempfile

import numpy as np

from minitl.tensor import Tensor

# safetensors dtype code <-> numpy dtype (always little-endian on disk).
_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1",
    "BOOL": "?",
}
_CODES = {(np.dtype(v).kind, np.dtype(v).itemsize): k for k, v in _DTYPES.items()}
_MAX_HEADER = 100 * 1024 * 1024  # the safetensors package's limit too


class CheckpointError(ValueError):
    """A weights file that cannot be read: the message names the file and the problem."""


def umask():
    """The process's umask (read from /proc where possible: setting it to read it races with threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _as_array(name, value):
    arr = np.asarray(value.data if isinstance(value, Tensor) else value)
    code = _CODES.get((arr.dtype.kind, arr.dtype.itemsize))  # big-endian input is fine too
    if code is None:
        raise TypeError(f"save: tensor {name!r} has dtype {arr.dtype}, which safetensors cannot "
                        f"store (supported: {', '.join(sorted(_DTYPES))})")
    return code, arr


def save(state_dict, path, metadata=None):
    """Write {name: array or Tensor} to ``path`` in the safetensors format, atomically.

    Args:
        state_dict: names (str) -> numpy arrays, Tensors or Parameters.
        path: the file to (over)write.
        metadata: optional {str: str}, stored in the header's "__metadata__".
    """
    path = os.fspath(path)
    header, arrays = {}, []
    for name, value in state_dict.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise KeyError(f"save: tensor names must be strings other than '__metadata__', got {name!r}")
        code, arr = _as_array(name, value)
        arrays.append((name, code, arr))
    if metadata is not None:
        bad = [k for k, v in metadata.items() if not (isinstance(k, str) and isinstance(v, str))]
        if bad:
            raise TypeError(f"save: metadata must map str -> str; bad entries: {bad}")
        header["__metadata__"] = dict(metadata)
    # Lay the bytes out widest dtype first (as safetensors does), so every tensor
    # starts on a multiple of its own item size; the JSON keeps the caller's order.
    offsets, pos = {}, 0
    for name, code, arr in sorted(arrays, key=lambda t: (-t[2].dtype.itemsize, t[0])):
        offsets[name] = (pos, pos + arr.nbytes)
        pos += arr.nbytes
    for name, code, arr in arrays:
        header[name] = {"dtype": code, "shape": list(arr.shape), "data_offsets": list(offsets[name])}
    blob = json.dumps(header, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-(8 + len(blob)) % 8)  # pad: data starts 8-byte aligned

    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~umask())  # mkstemp made it 0600: give it the mode open() would
        with os.fdopen(fd, "wb") as f:
            f.write(len(blob).to_bytes(8, "little"))
            f.write(blob)
            for name, code, arr in sorted(arrays, key=lambda t: offsets[t[0]][0]):
                f.write(np.ascontiguousarray(arr, dtype=_DTYPES[code]).tobytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read_header(path, raw):
    """Parse and check the header; returns (entries in file order, metadata, data start)."""
    def fail(msg):
        raise CheckpointError(f"{path}: not a valid safetensors file: {msg}")

    if len(raw) < 8:
        fail(f"file is {len(raw)} bytes, shorter than the 8-byte header length (truncated?)")
    n = int.from_bytes(raw[:8], "little")
    if n > _MAX_HEADER or 8 + n > len(raw):
        fail(f"header length {n} does not fit in a file of {len(raw)} bytes (truncated or corrupt)")
    try:
        header = json.loads(bytes(raw[8:8 + n]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        fail(f"header is not valid JSON ({e})")
    if not isinstance(header, dict):
        fail(f"header is a JSON {type(header).__name__}, expected an object")
    meta = header.pop("__metadata__", None)
    if meta is not None and not (isinstance(meta, dict)
                                 and all(isinstance(v, str) for v in meta.values())):
        fail("__metadata__ must be an object of strings")
    entries = []
    for name, info in header.items():
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= set(info):
            fail(f"tensor {name!r}: entry needs dtype, shape and data_offsets, got {info!r}")
        dtype, shape, offs = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in _DTYPES:
            fail(f"tensor {name!r}: unknown dtype {dtype!r} (minitl reads {', '.join(sorted(_DTYPES))})")
        if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
            fail(f"tensor {name!r}: bad shape {shape!r}")
        if not (isinstance(offs, list) and len(offs) == 2 and all(isinstance(o, int) for o in offs)
                and 0 <= offs[0] <= offs[1]):
            fail(f"tensor {name!r}: bad data_offsets {offs!r}")
        want = int(np.prod(shape, dtype=np.int64)) * np.dtype(_DTYPES[dtype]).itemsize
        if offs[1] - offs[0] != want:
            fail(f"tensor {name!r}: data_offsets {offs} span {offs[1] - offs[0]} bytes, "
                 f"but {dtype} {shape} needs {want}")
        entries.append((name, dtype, tuple(shape), offs[0], offs[1]))
    return entries, meta or {}, 8 + n


def _check_layout(path, entries, nbytes):
    # Every byte of the data part belongs to exactly one tensor (safetensors' rule):
    # sorted by begin, each tensor must start where the previous one ended.
    pos, prev = 0, None
    for name, _, _, begin, end in sorted(entries, key=lambda e: (e[3], e[4])):
        if begin != pos:
            what = f"overlaps {prev!r}" if begin < pos else f"leaves a gap of {begin - pos} bytes before it"
            raise CheckpointError(f"{path}: not a valid safetensors file: tensor {name!r} at "
                                  f"bytes [{begin}, {end}) {what}")
        pos, prev = end, name
    if pos > nbytes:
        raise CheckpointError(f"{path}: truncated: the header says the data is {pos} bytes, "
                              f"the file holds {nbytes} (tensor {prev!r} is cut off)")
    if pos < nbytes:
        raise CheckpointError(f"{path}: not a valid safetensors file: {nbytes - pos} unexplained "
                              "bytes after the last tensor")


def _read(path):
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = bytearray(f.read())  # bytearray: the arrays below are writable views of it
    entries, meta, start = _read_header(path, raw)
    _check_layout(path, entries, len(raw) - start)
    out = {}
    for name, dtype, shape, begin, end in entries:
        arr = np.frombuffer(raw, dtype=_DTYPES[dtype], count=int(np.prod(shape, dtype=np.int64)),
                            offset=start + begin)
        out[name] = arr.reshape(shape)  # (n,) -> shape; a 0-d tensor is shape ()
    return out, meta


def load(path):
    """Read a safetensors file into {name: numpy array}, in the file's header order.

    Args:
        path: the file.
    Returns:
        dict of arrays (dtypes as stored; ``Module.load_state_dict`` casts them).
    Raises:
        CheckpointError (a ValueError) naming the file and what is wrong with it.
    """
    return _read(path)[0]


def load_metadata(path):
    """The header's "__metadata__" dict ({} when absent), after the same checks as ``load``."""
    return _read(path)[1]
