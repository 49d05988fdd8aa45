"""A size budget, teenygrad's ``sz.py`` style: every file in the package stays
readable in one sitting.  The total is printed so it is easy to watch it grow."""
import pathlib

PKG = pathlib.Path(__file__).resolve().parents[1] / "minitl"
MAX_LINES_PER_FILE = 400


def _count(path):
    return sum(1 for _ in path.open(encoding="utf-8"))


def test_every_package_file_within_line_budget():
    sizes = {p.relative_to(PKG.parent).as_posix(): _count(p) for p in sorted(PKG.rglob("*.py"))}
    print(f"\nminitl: {len(sizes)} files, {sum(sizes.values())} lines")
    for name, n in sorted(sizes.items(), key=lambda kv: -kv[1])[:10]:
        print(f"  {n:5d}  {name}")
    too_big = {k: v for k, v in sizes.items() if v > MAX_LINES_PER_FILE}
    assert not too_big, f"files over {MAX_LINES_PER_FILE} lines (split them): {too_big}"


def test_kernels_never_import_the_tensor_layer():
    # kernels see raw arrays only (docs/ARCHITECTURE.md: the layers point down).
    for p in (PKG / "kernels").glob("*.py"):
        text = p.read_text(encoding="utf-8")
        assert "minitl.tensor" not in text and "from minitl import" not in text, p.name
