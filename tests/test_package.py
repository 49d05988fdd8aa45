"""``import minitl`` gives PyTorch's shape: nn, nn.functional, optim and data are reachable.

Each check runs in a fresh interpreter, because this test session has long since
imported every submodule and would see them whatever ``minitl/__init__.py`` says.
"""
import json
import subprocess
import sys

import pytest

PROBE = r"""
import json, sys
import minitl
loaded_at_import = sorted(m for m in ("minitl.data", "minitl.models", "minitl.text") if m in sys.modules)
# no Numba kernel may be compiled (or loaded from its cache) by the import itself
from numba.core.registry import CPUDispatcher
compiled = sorted(f"{name}.{attr}" for name, mod in list(sys.modules.items()) if name.startswith("minitl")
                  for attr, obj in vars(mod).items() if isinstance(obj, CPUDispatcher) and obj.signatures)
reach = {
    "nn.Linear": minitl.nn.Linear.__module__,
    "nn.functional.cross_entropy": minitl.nn.functional.cross_entropy.__module__,
    "optim.AdamW": minitl.optim.AdamW.__module__,
    "optim.schedules.WarmupCosine": minitl.optim.schedules.WarmupCosine.__module__,
    "data.load": minitl.data.load.__module__,
    "models.GPT": minitl.models.GPT.__module__,
    "text.BPETokenizer": minitl.text.BPETokenizer.__module__,
}
print(json.dumps({"loaded_at_import": loaded_at_import, "compiled": compiled, "reach": reach,
                  "dir_has_data": "data" in dir(minitl)}))
"""


def _run(code):
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_import_minitl_reaches_the_pytorch_shaped_namespaces():
    out = _run(PROBE)
    assert out["reach"] == {
        "nn.Linear": "minitl.nn.layers",
        "nn.functional.cross_entropy": "minitl.nn.functional",
        "optim.AdamW": "minitl.optim.adamw",
        "optim.schedules.WarmupCosine": "minitl.optim.schedules",
        "data.load": "minitl.data",
        "models.GPT": "minitl.models.gpt",
        "text.BPETokenizer": "minitl.text.bpe",
    }
    assert out["dir_has_data"]


def test_import_minitl_stays_light():
    out = _run(PROBE)
    # data/models/text import on first touch (data's fetcher pulls in urllib and ssl)
    assert out["loaded_at_import"] == []
    assert out["compiled"] == [], f"import minitl compiled Numba kernels: {out['compiled']}"


def test_unknown_attribute_names_itself():
    r = subprocess.run([sys.executable, "-c", "import minitl; minitl.optimm"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode != 0 and "has no attribute 'optimm'" in r.stderr


@pytest.mark.parametrize("stmt", ["from minitl import data; data.load", "import minitl.data; minitl.data.corpus",
                                  "from minitl import optim; optim.SGD"])
def test_the_usual_import_forms_still_work(stmt):
    r = subprocess.run([sys.executable, "-c", stmt], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
