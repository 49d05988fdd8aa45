"""Lesson 00 draws its story (issue 16): decision regions trained vs frozen, and the frozen layer's motion."""
import pathlib
import subprocess
import sys

LESSON = pathlib.Path(__file__).resolve().parents[1] / "lessons" / "00_autograd.py"


def test_lesson_00_saves_both_plots_and_checks_the_frozen_layer(tmp_path):
    res = subprocess.run([sys.executable, str(LESSON), "--smoke", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "check: the frozen first layer moved exactly 0 and the trained one did not: True" in res.stdout
    for name in ("00_autograd_spirals.png", "00_autograd_frozen.png"):
        with open(tmp_path / name, "rb") as f:
            assert f.read(4) == b"\x89PNG", name
