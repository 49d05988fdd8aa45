"""Layers point down only: no import cycle between minitl's modules.

A static walk: every ``import`` / ``from ... import`` statement in every file of
the package, at any depth (an import inside a function is still an arrow from
that file to the other one), becomes an edge; a strongly connected component of
more than one module is a cycle. ``from pkg import name`` points at
``pkg.name`` when that is a module, else at ``pkg`` itself.

Every cycle fails the test: the ones removed so far are named below, so that
a change bringing one back reads as a regression.
"""
import ast
import os

import pytest

import minitl

# name -> (module, module) that once sat on a cycle; each must stay gone.
REMOVED = {
    "ops/fused <-> nn/functional": ("minitl.ops.fused", "minitl.nn.functional"),
    "data/registry <-> data/canonical": ("minitl.data.registry", "minitl.data.canonical"),
    "models/keyedvectors <-> models/word2vec": ("minitl.models.keyedvectors", "minitl.models.word2vec"),
    # Tensor.__setitem__ imported ops.methods._index_key; tensor.index_key now lives in tensor.py
    "tensor <-> ops/methods": ("minitl.tensor", "minitl.ops.methods"),
}


def package_modules(root):
    """{dotted module name: file path} for every .py file under the package directory ``root``."""
    base = os.path.dirname(os.path.abspath(root))
    out = {}
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if not x.startswith((".", "__pycache__")))
        for f in sorted(files):
            if f.endswith(".py"):
                path = os.path.join(d, f)
                name = os.path.relpath(path, base)[:-3].replace(os.sep, ".")
                out[name[: -len(".__init__")] if name.endswith(".__init__") else name] = path
    return out


def import_graph(root):
    """{module: set of package modules it imports anywhere in its file}."""
    mods = package_modules(root)
    graph = {}
    for name, path in mods.items():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        pkg = name if path.endswith("__init__.py") else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                edges.update(a.name for a in node.names if a.name in mods)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = pkg.split(".")
                    src = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
                else:
                    src = node.module
                for a in node.names:
                    if f"{src}.{a.name}" in mods:
                        edges.add(f"{src}.{a.name}")
                    elif src in mods:
                        edges.add(src)
        edges.discard(name)
        graph[name] = edges
    return graph


def cycles(graph):
    """Strongly connected components with more than one module (Tarjan, iterative), each sorted."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def path(graph, a, b):
    """A shortest import chain a -> ... -> b (breadth first), or None."""
    prev, frontier = {a: None}, [a]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v]):
                if w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    if b not in prev:
        return None
    chain = [b]
    while chain[-1] != a:
        chain.append(prev[chain[-1]])
    return chain[::-1]


def describe(graph, comp):
    """The shortest cycle through the component's first module, as "a -> b -> a"."""
    a = comp[0]
    back = [p for p in (path(graph, w, a) for w in sorted(graph[a]) if w in comp) if p]
    return " -> ".join([a] + min(back, key=len))


ROOT = os.path.dirname(minitl.__file__)


# -- the walker itself, on a package made here --------------------------------

def _write(root, files):
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def test_walker_finds_lazy_relative_and_package_cycles(tmp_path):
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/low.py": "def f():\n    from pkg.high import g  # lazy: still an arrow\n",
        "pkg/high.py": "from . import low\n",
        "pkg/sub/__init__.py": "from pkg.sub.a import x\n",
        "pkg/sub/a.py": "from .. import low\nimport pkg.sub.b\n",
        "pkg/sub/b.py": "from pkg.sub import a\n",
        "pkg/alone.py": "import os\nimport pkg.low\n",
    })
    g = import_graph(tmp_path / "pkg")
    assert g["pkg.low"] == {"pkg.high"} and g["pkg.high"] == {"pkg.low"}
    assert g["pkg.sub.a"] == {"pkg.low", "pkg.sub.b"} and g["pkg.sub"] == {"pkg.sub.a"}
    assert cycles(g) == [["pkg.high", "pkg.low"], ["pkg.sub.a", "pkg.sub.b"]]
    assert describe(g, ["pkg.high", "pkg.low"]) == "pkg.high -> pkg.low -> pkg.high"


def test_walker_sees_no_cycle_in_a_layered_package(tmp_path):
    _write(tmp_path, {"pkg/__init__.py": "from pkg import top\n", "pkg/base.py": "",
                      "pkg/mid.py": "from pkg.base import *\n", "pkg/top.py": "from pkg import mid, base\n"})
    assert cycles(import_graph(tmp_path / "pkg")) == []


# -- minitl -------------------------------------------------------------------

def test_no_import_cycle():
    g = import_graph(ROOT)
    assert "minitl.models.keyedvectors" in g and "minitl.tensor" in g      # the walk saw the package
    found = [describe(g, c) for c in cycles(g)]
    assert not found, "import cycles (layers must point down only):\n  " + "\n  ".join(found)


def test_keyedvectors_and_word2vec_point_one_way():
    g = import_graph(ROOT)
    assert "minitl.models.keyedvectors" in g["minitl.models.word2vec"]
    assert path(g, "minitl.models.keyedvectors", "minitl.models.word2vec") is None


@pytest.mark.parametrize("name", sorted(REMOVED))
def test_removed_cycle_stays_gone(name):
    g = import_graph(ROOT)
    a, b = REMOVED[name]
    assert a in g and b in g, f"{name}: module renamed? update REMOVED"
    assert path(g, a, b) is None or path(g, b, a) is None, f"{name}: {path(g, a, b)} and {path(g, b, a)}"
