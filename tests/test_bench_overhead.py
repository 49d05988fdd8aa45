"""benchmarks/bench_overhead.py keeps the PyTorch row when torch is absent: "not installed" (issue 16)."""
import importlib.util
import json
import pathlib

import pytest

PATH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "bench_overhead.py"


@pytest.fixture
def bench():
    spec = importlib.util.spec_from_file_location("bench_overhead_under_test", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_torch_row_says_not_installed_when_torch_is_absent(bench, monkeypatch, capsys):
    monkeypatch.setattr(bench, "peer_available", lambda name: False)
    monkeypatch.setattr(bench, "run_minitl", lambda iters, repeat: 12.5)
    monkeypatch.setattr(bench, "run_torch", lambda iters, repeat: pytest.fail("torch must not be timed"))
    bench.main(["--quick"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[1].split() == ["minitl", "12.50"]
    assert lines[2].split()[:3] == ["torch", "not", "installed"]
    record = json.loads(lines[-1])
    assert record["results"]["torch_us_per_op"] is None and record["config"]["torch_installed"] is False


def test_torch_row_shows_the_ratio_when_torch_is_there(bench, monkeypatch, capsys):
    monkeypatch.setattr(bench, "peer_available", lambda name: True)
    monkeypatch.setattr(bench, "run_minitl", lambda iters, repeat: 12.5)
    monkeypatch.setattr(bench, "run_torch", lambda iters, repeat: 5.0)
    bench.main(["--quick"])
    out = capsys.readouterr().out
    assert "minitl / torch = 2.50x" in out and "not installed" not in out
