"""Checkpoints are directories, written all-or-nothing.

    runs/gpt-nano/
        config.json          the model's config dataclass, as JSON
        model.safetensors    the weights (minitl.save)
        meta.json            seed, data checksums, versions, metrics...
        tokenizer.json, optimizer.safetensors, trainer_state.json   (optional extras)

``save_dir`` writes everything into a hidden temporary sibling
(``.gpt-nano.tmp-XXXX``) and only then renames it into place.  Replacing an
existing checkpoint is rename old away -> rename new in -> delete old, so at
every instant either the old or the new checkpoint is complete on disk; an
interrupted save never leaves a half-written ``runs/gpt-nano``.  What a kill
leaves behind (``.gpt-nano.tmp-*``, ``.gpt-nano.old-*``) is cleaned up by
``recover`` at the next ``save_dir`` / ``load_dir``, which first renames the
previous checkpoint back into place when the kill came between the two renames.
Files and folders get the usual permissions (0666 / 0777 minus the umask).

``save_optimizer_state`` / ``load_optimizer_state`` put an optimizer's
``state_dict()`` in a safetensors file too (arrays as tensors, step counts and
hyper-parameters as JSON in the header's metadata), so resuming needs no pickle.
"""
import contextlib
import glob
import json
import os
import shutil
import tempfile
import uuid
import warnings

import numpy as np

from minitl import serialization
from minitl.serialization import CheckpointError

CONFIG, WEIGHTS, META = "config.json", "model.safetensors", "meta.json"


def _json_default(o):
    # numpy scalars and arrays sneak into metrics; write them as plain numbers/lists.
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def _write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _write_json(path, obj):
    _write_bytes(path, (json.dumps(obj, indent=2, default=_json_default) + "\n").encode("utf-8"))


def _read_json(path):
    try:
        with open(path, "rb") as f:
            return json.loads(f.read().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: invalid JSON ({e})") from None


def _fsync_dir(path):
    try:  # makes the renames durable on POSIX; not possible on every platform
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def dir_lock(folder, shared=False):
    """Hold ``flock`` on the directory ``folder`` for the ``with`` block (no lock file is made).

    ``save_dir`` holds it exclusively while it writes and swaps, ``load_dir``
    shared while it reads, so a reader never sees half a swap and never
    mistakes a live save's temporary folder for a leftover.  A killed process's
    lock goes with it.  Where ``fcntl`` is missing (Windows) this does nothing.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _leftovers(directory):
    parent, name = os.path.split(directory)
    pattern = os.path.join(glob.escape(parent), f".{glob.escape(name)}.%s-*")
    return sorted(glob.glob(pattern % "old"), key=os.path.getmtime), glob.glob(pattern % "tmp")


def recover(directory):
    """Clean up after a save that was killed: restore the checkpoint if needed, drop the leftovers.

    If ``directory`` is missing but a ``.<name>.old-*`` sibling exists (the kill
    came between renaming the old checkpoint away and the new one in), the newest
    one is renamed back (with a warning).  Then every ``.<name>.tmp-*`` and
    ``.<name>.old-*`` sibling is deleted.  Runs under ``dir_lock``, so a save in
    progress in another process is waited for, not mistaken for a leftover.

    Args:
        directory: the checkpoint directory.
    Returns:
        The list of paths removed or restored (empty when there was nothing to do).
    """
    directory = os.path.abspath(os.fspath(directory))
    if not any(_leftovers(directory)):
        return []
    with dir_lock(os.path.dirname(directory)):
        return _recover_locked(directory)


def _recover_locked(directory):
    olds, tmps = _leftovers(directory)
    done = []
    if olds and not os.path.exists(directory):
        os.rename(olds[-1], directory)
        warnings.warn(f"checkpoint {directory} was missing after an interrupted save; "
                      f"restored the previous one from {olds[-1]}", stacklevel=4)
        done.append(olds.pop())
    for leftover in olds + tmps:
        shutil.rmtree(leftover, ignore_errors=True)
        done.append(leftover)
    return done


def _check_target(directory):
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise FileExistsError(f"save_dir: {directory} exists and is not a directory")
    if os.path.isdir(directory) and os.listdir(directory) and not (
            os.path.exists(os.path.join(directory, CONFIG))
            or os.path.exists(os.path.join(directory, WEIGHTS))):
        # Never replace (and so delete) a folder of someone's files by mistake.
        raise FileExistsError(f"save_dir: refusing to replace {directory}: it is not empty and "
                              f"holds no {CONFIG} or {WEIGHTS}, so it is not a minitl checkpoint")


def save_dir(directory, state_dict, config, meta=None, extra_files=None):
    """Write a checkpoint directory atomically (temporary sibling, then rename).

    Args:
        directory: the checkpoint directory; an existing checkpoint there is replaced.
        state_dict: {name: array or Tensor}, saved as model.safetensors.
        config: JSON-able dict, saved as config.json.
        meta: JSON-able dict, saved as meta.json (minitl and numpy versions are added).
        extra_files: {file name: bytes, str, or callable(path) that writes the file}.
    Returns:
        The absolute path of the directory.
    """
    directory = os.path.abspath(os.fspath(directory))
    parent, name = os.path.split(directory)
    extra = dict(extra_files or {})
    for fname in extra:
        if (not fname or os.path.basename(fname) != fname or fname in (".", "..")
                or fname in (CONFIG, WEIGHTS, META)):
            raise ValueError(f"save_dir: extra file name {fname!r} must be a plain file name "
                             f"other than {CONFIG}, {WEIGHTS}, {META}")
    os.makedirs(parent, exist_ok=True)
    from minitl import __version__
    meta = {"minitl_version": __version__, "numpy_version": np.__version__, **(meta or {})}
    with dir_lock(parent):
        _recover_locked(directory)
        _check_target(directory)
        _write_and_swap(directory, state_dict, config, meta, extra)
    return directory


def _write_and_swap(directory, state_dict, config, meta, extra):
    parent, name = os.path.split(directory)
    tmp = tempfile.mkdtemp(dir=parent, prefix=f".{name}.tmp-")  # mode 0700: widen to what the umask allows
    try:
        os.chmod(tmp, 0o777 & ~serialization.umask())
        _write_json(os.path.join(tmp, CONFIG), config)
        serialization.save(state_dict, os.path.join(tmp, WEIGHTS))
        _write_json(os.path.join(tmp, META), meta)
        for fname, content in extra.items():
            target = os.path.join(tmp, fname)
            if callable(content):
                content(target)
            else:
                _write_bytes(target, content.encode("utf-8") if isinstance(content, str) else bytes(content))
        _fsync_dir(tmp)
        if os.path.isdir(directory):
            old = os.path.join(parent, f".{name}.old-{uuid.uuid4().hex[:8]}")
            os.rename(directory, old)
            try:
                os.rename(tmp, directory)
            except BaseException:
                os.rename(old, directory)  # put the previous checkpoint back
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, directory)
        _fsync_dir(parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load_dir(directory):
    """Read a checkpoint directory written by ``save_dir``.

    Args:
        directory: the checkpoint directory.
    Returns:
        (state_dict, config, meta): {name: numpy array}, dict, dict ({} if meta.json is absent).
    Raises:
        FileNotFoundError naming the missing directory or file; CheckpointError for corrupt files.
    """
    directory = os.path.abspath(os.fspath(directory))
    parent = os.path.dirname(directory)
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"load_dir: checkpoint directory {directory} does not exist")
    recover(directory)  # an interrupted save: the previous checkpoint is put back
    with dir_lock(parent, shared=True):  # a save in progress finishes first
        return _load_locked(directory)


def _load_locked(directory):
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"load_dir: checkpoint directory {directory} does not exist")
    for fname in (CONFIG, WEIGHTS):
        if not os.path.exists(os.path.join(directory, fname)):
            raise FileNotFoundError(f"load_dir: {directory} is missing {fname} "
                                    f"(it holds: {sorted(os.listdir(directory))})")
    config = _read_json(os.path.join(directory, CONFIG))
    meta_path = os.path.join(directory, META)
    meta = _read_json(meta_path) if os.path.exists(meta_path) else {}
    return serialization.load(os.path.join(directory, WEIGHTS)), config, meta


# -- optimizer state ---------------------------------------------------------
_OPT_FORMAT = "minitl-optimizer-1"


def save_optimizer_state(state_dict, path):
    """Write ``optimizer.state_dict()`` as safetensors: tensors "state.<i>.<name>", the rest in metadata."""
    tensors, scalars = {}, {}
    for i, st in state_dict["state"].items():
        for k, v in st.items():
            if isinstance(v, np.ndarray):
                tensors[f"state.{i}.{k}"] = v
            else:
                scalars[f"{i}.{k}"] = v
    meta = {"format": _OPT_FORMAT,
            "param_groups": json.dumps(state_dict["param_groups"], default=_json_default),
            "scalars": json.dumps(scalars, default=_json_default)}
    serialization.save(tensors, path, metadata=meta)


def load_optimizer_state(path):
    """Inverse of ``save_optimizer_state``; returns a dict for ``optimizer.load_state_dict``."""
    tensors, meta = serialization._read(path)
    if meta.get("format") != _OPT_FORMAT:
        raise CheckpointError(f"{os.fspath(path)}: not a minitl optimizer state file "
                              f"(metadata format={meta.get('format')!r}, expected {_OPT_FORMAT!r})")
    state = {}
    for name, arr in tensors.items():
        _, i, k = name.split(".", 2)  # "state.3.exp_avg" -> 3, "exp_avg"
        state.setdefault(int(i), {})[k] = arr
    for key, v in json.loads(meta["scalars"]).items():
        i, k = key.split(".", 1)
        state.setdefault(int(i), {})[k] = v
    return {"state": state, "param_groups": json.loads(meta["param_groups"])}
