"""How the command line reports a failure: a user's mistake in one sentence, a bug with its traceback.

The rule (``minitl.cli.main``): these are the user's to fix, and print as
``minitl: <sentence>`` with exit status 2 --

* ``ValueError``: a bad value or a bad file.  minitl's own errors are
  ValueErrors: ``CheckpointError``, ``ChecksumError``, ``ShapeError``,
  ``UnknownDatasetError``; so are ``json.JSONDecodeError`` and ``UnicodeDecodeError``;
* ``OSError``: a missing, unreadable or unwritable file or folder, a network error;
* ``OfflineError``: a dataset that is not cached and cannot be downloaded.

Anything else is a bug in minitl and keeps its traceback.  ``--debug``
(anywhere on the command line) or ``MINITL_DEBUG=1`` keeps the traceback for
the user errors too.
"""
import json
import os


def debug_flag(argv):
    """``(argv without --debug, whether a traceback was asked for)``."""
    argv = list(argv)
    env = os.environ.get("MINITL_DEBUG", "").strip().lower() not in ("", "0", "false", "no", "off")
    if "--" in argv:  # nothing after "--" is an option
        cut = argv.index("--")
        head, tail = argv[:cut], argv[cut:]
    else:
        head, tail = argv, []
    asked = "--debug" in head
    return [a for a in head if a != "--debug"] + tail, asked or env


def is_user_error(exc):
    """True for the errors the user can fix (see the module docstring)."""
    from minitl.data.fetch import OfflineError
    return isinstance(exc, (ValueError, OSError, OfflineError))


def _file_in_traceback(tb):
    """The innermost existing file named by a ``path``-like local in the traceback: the file that was bad."""
    found = None
    while tb is not None:
        local = tb.tb_frame.f_locals
        for name in ("path", "filename", "fname", "file"):
            v = local.get(name)
            if isinstance(v, (str, os.PathLike)) and os.path.isfile(v):
                found = os.fspath(v)
        tb = tb.tb_next
    return found


def sentence(exc):
    """One line saying what went wrong, naming the file where the error knows it."""
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        msg = f"{exc.filename}: {exc.strerror[0].lower()}{exc.strerror[1:]}"
    elif isinstance(exc, KeyError) and exc.args and isinstance(exc.args[0], str):
        msg = exc.args[0]
    else:
        msg = str(exc) or type(exc).__name__
    if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)):
        where = _file_in_traceback(exc.__traceback__)
        kind = "invalid JSON" if isinstance(exc, json.JSONDecodeError) else "undecodable text"
        if where is not None and where not in msg:
            msg = f"{where}: {kind} ({msg})"
        elif where is None:
            msg = f"{kind}: {msg}"
    return " ".join(msg.split())
