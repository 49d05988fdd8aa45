"""Every lesson runs in --smoke mode, and its own printed checks hold."""
import pathlib
import subprocess
import sys

import pytest

from minitl.lesson import parse

LESSONS = sorted((pathlib.Path(__file__).resolve().parents[1] / "lessons").glob("[0-9][0-9]_*.py"))


@pytest.mark.parametrize("path", LESSONS, ids=[p.name for p in LESSONS])
def test_lesson_smoke(path, tmp_path):
    out = subprocess.run([sys.executable, str(path), "--smoke", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert list(tmp_path.glob("*.png")), "each lesson saves its plots as PNG"
    if path.name == "00_autograd.py":
        assert "frozen -- unchanged: True" in out.stdout
        assert "first layer unchanged: False" in out.stdout


def test_overrides_take_the_default_type():
    args = parse(dict(steps=10, lr=0.1, name="a", flag=False), argv=["--steps=3", "--lr=0.5", "--flag=true"])
    assert (args.steps, args.lr, args.flag, args.name, args.mode) == (3, 0.5, True, "a", "quick")


def test_unknown_setting_and_bad_value_are_named(capsys):
    with pytest.raises(SystemExit):
        parse(dict(steps=10), argv=["--stpes=3"])
    assert "unknown setting 'stpes'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse(dict(steps=10), argv=["--steps=many"])
    assert "--steps: expected a int" in capsys.readouterr().err
