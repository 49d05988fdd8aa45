import subprocess
import sys

from minitl.cli import build_parser


def test_help_lists_the_command_groups():
    out = subprocess.run([sys.executable, "-m", "minitl.cli", "--help"],
                         capture_output=True, text=True, check=True).stdout
    for word in ("pretrain", "datasets", "demo"):
        assert word in out, f"{word!r} missing from minitl --help:\n{out}"


def test_pretrain_requires_a_model_name():
    parser = build_parser()
    try:
        parser.parse_args(["pretrain"])
    except SystemExit as e:
        assert e.code == 2
    else:
        raise AssertionError("`minitl pretrain` without a model should be a usage error")


# ---- errors in one sentence (issue 15) ---------------------------------------------------
import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402

import pytest  # noqa: E402

from minitl.cli import main  # noqa: E402
from minitl.commands import _args, _errors  # noqa: E402


def _run(*argv, env=None):
    return subprocess.run([sys.executable, "-m", "minitl.cli", *argv], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


@pytest.mark.parametrize("fn, good, bad, says", [
    (_args.positive_int, ("1", "64"), ("0", "-5", "2.5", "x"), "positive integer|not an integer"),
    (_args.nonnegative_int, ("0", "7"), ("-1", "1e3"), "negative|not an integer"),
    (_args.positive_float, ("3e-4", "1"), ("0", "-1", "nan", "inf", "-inf", "lr"), "positive number|finite|not a number"),
    (_args.nonnegative_float, ("0", "0.5"), ("-0.1", "nan"), "negative|finite"),
    (_args.probability, ("0", "0.1", "1"), ("1.5", "-0.1", "nan"), "probability|finite"),
])
def test_argument_types_refuse_bad_numbers_naming_them(fn, good, bad, says):
    for text in good:
        assert fn(text) == (int(text) if fn in (_args.positive_int, _args.nonnegative_int) else float(text))
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError, match=says) as e:
            fn(text)
        assert text in str(e.value)
    assert math.isclose(_args.positive_float("3e-4"), 3e-4)


def test_bad_numbers_are_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "w2v"
    for flag, value, says in (("--dim", "0", "argument --dim: 0 is not a positive integer"),
                              ("--alpha", "nan", "argument --alpha: nan is not a finite number"),
                              ("--epochs", "-5", "argument --epochs: -5 is not a positive integer")):
        r = _run("pretrain", "word2vec", "--out", str(out), flag, value)
        assert r.returncode == 2 and says in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not out.exists()


def test_user_errors_print_one_sentence_and_exit_2(tmp_path, capsys, monkeypatch):
    assert main(["datasets", "fetch", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("minitl: unknown dataset 'nope'; known: wiki") and err.count("\n") == 1
    blocker = tmp_path / "home"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("MINITL_HOME", str(blocker))
    assert main(["datasets", "fetch", "news", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"minitl: {blocker}") and err.count("\n") == 1, err


def test_debug_keeps_the_traceback():
    r = _run("datasets", "fetch", "nope")
    assert r.returncode == 2 and r.stderr.startswith("minitl: unknown dataset") and "Traceback" not in r.stderr
    for argv, env in ((("--debug", "datasets", "fetch", "nope"), None),
                      (("datasets", "fetch", "nope", "--debug"), None),
                      (("datasets", "fetch", "nope"), {"MINITL_DEBUG": "1"})):
        r = _run(*argv, env=env)
        assert r.returncode == 1 and "Traceback" in r.stderr and "UnknownDatasetError" in r.stderr, argv


def test_a_bug_keeps_its_traceback(monkeypatch):
    from minitl.commands import datasets

    def broken(args, out=None):
        raise TypeError("a bug, not the user's fault")
    monkeypatch.setattr(datasets, "list_datasets", broken)
    with pytest.raises(TypeError, match="a bug"):
        main(["datasets"])


def test_bad_json_is_named_by_its_file(tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text('{"vocab": ')

    def load(path):
        with open(path) as f:
            return json.load(f)
    with pytest.raises(json.JSONDecodeError) as e:
        load(str(path))
    assert _errors.sentence(e.value) == f"{path}: invalid JSON (Expecting value: line 1 column 11 (char 10))"
    assert _errors.is_user_error(e.value) and not _errors.is_user_error(TypeError("x"))
