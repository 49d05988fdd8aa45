"""Generated markdown blocks (minitl.report), experiment summaries per mode, lesson transcripts."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from minitl import lesson
from minitl.report import splice
from minitl.transfer import experiments as E

DOC = "intro\n<!-- BEGIN res (written by `x`) -->\nold line\n<!-- END res -->\noutro\n"


def test_splice_replaces_only_the_block(tmp_path):
    p = tmp_path / "R.md"
    p.write_text(DOC)
    splice(str(p), "res", "| a |\n| 1 |\n")
    text = p.read_text()
    assert "old line" not in text and "| a |\n| 1 |" in text
    assert text.startswith("intro\n<!-- BEGIN res") and text.endswith("<!-- END res -->\noutro\n")
    splice(str(p), "res", "second")                    # the markers survive, so it can run again
    assert "second" in p.read_text() and "| a |" not in p.read_text()


@pytest.mark.parametrize("doc", ["no markers\n", DOC + DOC, "<!-- END res -->\n<!-- BEGIN res -->\n"])
def test_splice_refuses_bad_markers_and_leaves_the_file(tmp_path, doc):
    p = tmp_path / "R.md"
    p.write_text(doc)
    with pytest.raises(ValueError, match="BEGIN res"):
        splice(str(p), "res", "new")
    assert p.read_text() == doc


def _summary(out, name, mode, seeds, verdict, keep=True):
    s = {"experiment": name, "claim": "c", "mode": mode, "seeds": seeds, "machine": "m", "verdict": verdict,
         "measured": f"{mode} numbers", "table": [{"accuracy": 0.5, "seconds": 2.0, "seeds": seeds}]}
    base = os.path.join(out, "summaries", f"{name}.{mode}-s{seeds}") if keep else os.path.join(out, name)
    os.makedirs(os.path.dirname(base), exist_ok=True)
    with open(base + ".json", "w") as f:
        json.dump(s, f)
    with open(base + ".md", "w") as f:
        f.write(f"### {name}\n\n| accuracy |\n| {mode} |\n")


def test_claims_prefer_the_full_run_over_a_later_quick_one(tmp_path):
    out = str(tmp_path / "exp")
    _summary(out, "strategies", "full", 3, "holds")
    _summary(out, "strategies", "quick", 2, "does not hold at this scale")
    _summary(out, "strategies", "quick", 2, "does not hold at this scale", keep=False)   # the latest run
    rows, text = E.claims(out)
    (row,) = rows
    assert row["mode"] == "full" and row["verdict"] == "holds"
    assert "--full --seeds 3" in text and "(6 s)" in text          # 2 s per cell x 3 seeds
    readme = tmp_path / "README.md"
    readme.write_text("top\n<!-- BEGIN claims -->\n<!-- END claims -->\n")
    E.claims(out, readme=str(readme), figures=str(tmp_path / "fig"))
    body = readme.read_text()
    assert "| full |" in body and "| quick |" not in body and "**holds**" in body


def test_a_lesson_keeps_a_transcript_and_collect_writes_the_readme(tmp_path):
    script = tmp_path / "07_demo.py"
    script.write_text(textwrap.dedent("""
        from minitl.lesson import parse
        args = parse(dict(n=3))
        print("measured", args.n * 7)
    """))
    runs = tmp_path / "runs"
    subprocess.run([sys.executable, str(script), "--smoke", "--n=5", "--out", str(runs)], check=True,
                   capture_output=True, text=True)
    transcript = (runs / "07_demo.smoke.txt").read_text()
    assert "measured 35" in transcript
    assert "python lessons/07_demo.py --smoke --n=5" in transcript.splitlines()[-1]
    assert "s wall" in transcript.splitlines()[-1]
    (runs / "07_plot.png").write_bytes(b"png")
    (runs / "08_other.png").write_bytes(b"png")
    readme = tmp_path / "README.md"
    readme.write_text("<!-- BEGIN expected-smoke -->\n<!-- END expected-smoke -->\n")
    found = lesson.collect(str(runs), "smoke", str(tmp_path / "expected"), str(readme))
    assert found == ["07_demo"]
    body = readme.read_text()
    assert "measured 35" in body and "(expected/07_plot.png)" in body and "08_other" not in body
    assert (tmp_path / "expected" / "07_plot.png").exists()


def test_tour_markdown_states_the_verdict_from_the_rows(tmp_path):
    from minitl.transfer import tour
    rows = [{"method": m, "id": i, "kind": k, "n_train": 100, "mean": a, "std": 0.01, "seeds": 3,
             "seconds_per_fit": 1.0}
            for m, i, k, a in [("GPT ft", "gpt:full", "transfer", 0.80), ("GPT scratch", "scratch:gpt", "scratch", 0.61),
                               ("BoW", "bow", "scratch", 0.65)]]
    result = {"task": "t", "seconds": 5, "rows": rows, "verdict": tour.verdict(rows), "machine": "m"}
    text = tour.markdown(result)
    assert "holds here: +15.0 points" in text and "does not hold" not in text
    assert "worth +19.0 points to the same network" in text
    readme = tmp_path / "R.md"
    readme.write_text("<!-- BEGIN tour -->\n<!-- END tour -->\n")
    tour.write_readme(result, str(readme))
    assert "| GPT ft | transfer | 80.0% ± 1.0 | 1.0 |" in readme.read_text()


def test_report_cli_splices_a_file_and_names_a_missing_block(tmp_path):
    src, target = tmp_path / "t.md", tmp_path / "R.md"
    src.write_text("| lesson table |\n")
    target.write_text(DOC)
    ok = subprocess.run([sys.executable, "-m", "minitl.report", str(target), "res", str(src)],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "| lesson table |" in target.read_text()
    bad = subprocess.run([sys.executable, "-m", "minitl.report", str(target), "other", str(src)],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "BEGIN other" in bad.stderr
