"""The cache's integrity: every cached file is checked before use, and one process fetches at a time.

    problem = cache.verify(path, sha256)     # None when the bytes are right, else a sentence
    with cache.lock(cache_root()):            # other fetching processes wait here
        ...

A file with a pinned sha256 (the package members) is hashed the first time a
process uses it, and again whenever its size or mtime changes; a file minitl
wrote itself (the canonical JSONL splits) is checked against the sha256
recorded beside it in ``.verified.json`` when it was written.  A JSONL split
from before that record existed is trusted if it is non-empty and ends with a
newline, and its hash is recorded then.

This module knows nothing about datasets (paths and hashes only), so the
registry, the fetcher and the canonical parsers can all import it.
"""
import contextlib
import hashlib
import json
import os
from pathlib import Path

RECORD = ".verified.json"      # {basename: sha256} of the files minitl wrote into that folder
_CHECKED = {}                  # (path, sha256) -> (size, mtime_ns) of the bytes hashed in this process


def file_digest(path, algorithm="sha256"):
    """The hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _stamp(path):
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def _read_record(folder):
    try:
        with open(Path(folder) / RECORD, encoding="utf-8") as f:
            rec = json.load(f)
        return rec if isinstance(rec, dict) else {}
    except (OSError, ValueError):  # absent or damaged: nothing recorded
        return {}


def record(path, sha256):
    """Note that ``path`` (just written by minitl) has ``sha256``: later checks compare with it."""
    path = Path(path)
    rec = _read_record(path.parent)
    rec[path.name] = sha256
    tmp = path.parent / f"{RECORD}.{os.getpid()}.part"
    tmp.write_text(json.dumps(rec, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path.parent / RECORD)
    remember(path, sha256)


def remember(path, sha256):
    """``path`` was just hashed to ``sha256`` (while writing it): no need to hash it again."""
    _CHECKED[(str(path), sha256)] = _stamp(path)


def verify(path, sha256=None, remove=False):
    """Check a cached file against ``sha256`` (None: the sha256 recorded when minitl wrote it).

    Args:
        path: the cached file.
        sha256: the pinned hex digest, or None.
        remove: delete the file when it is wrong, so the caller fetches it again.
    Returns:
        None when the file is there and right; otherwise one sentence saying what is wrong.
    """
    path = Path(path)
    try:
        stamp = _stamp(path)
    except FileNotFoundError:
        return f"{path} is not in the cache"
    want = sha256 or _read_record(path.parent).get(path.name)
    if _CHECKED.get((str(path), want)) == stamp:
        return None
    if stamp[0] == 0:
        problem = f"{path} is empty (0 bytes)" + (f", expected sha256 {want}" if want else "")
    elif want is None:  # a split written before checksums were recorded: trust a complete file once
        with open(path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            complete = f.read(1) == b"\n"
        if complete:
            try:
                record(path, file_digest(path))
            except OSError:  # a read-only cache: check it again next time
                pass
            return None
        problem = f"{path} does not end with a newline (cut off while being written?)"
    else:
        got = file_digest(path)
        if got == want:
            _CHECKED[(str(path), want)] = stamp
            return None
        problem = f"{path} does not match its sha256: expected {want}, got {got}"
    if remove:
        path.unlink(missing_ok=True)
        problem += "; the file was removed"
    return problem


@contextlib.contextmanager
def lock(folder):
    """Hold an exclusive lock on the directory ``folder`` (created if needed) for the ``with`` block.

    Two ``minitl datasets fetch`` processes on one cache take turns instead of
    deleting each other's downloads.  The lock is ``flock`` on the directory
    itself (``minitl.checkpoint.dir_lock``), so no lock file is left behind.
    """
    from minitl.checkpoint import dir_lock
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with dir_lock(folder):
        yield
