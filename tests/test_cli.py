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
