"""Type hints on the public API of the pretraining recipe, the plots, the probe and the demo (issue 16):
every public function and method says what it returns, and the hints resolve."""
import importlib
import inspect
import typing

import pytest

MODULES = ["minitl.pretrain", "minitl.viz.curves", "minitl.viz.embeddings", "minitl.viz.attention",
           "minitl.transfer.probe", "minitl.transfer.demo", "minitl.models.word2vec_eval", "minitl.progress"]


def _public(module):
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(obj):
            yield name, obj
        elif inspect.isclass(obj):
            for meth_name, meth in vars(obj).items():
                if inspect.isfunction(meth) and (not meth_name.startswith("_") or meth_name == "__init__"):
                    yield f"{name}.{meth_name}", meth


@pytest.mark.parametrize("name", MODULES)
def test_public_functions_say_what_they_return(name):
    module = importlib.import_module(name)
    found = list(_public(module))
    assert found, name
    missing = [qual for qual, fn in found if "return" not in fn.__annotations__]
    assert not missing, f"{name}: no return type on {missing}"
    from matplotlib.figure import Figure          # imported by the modules only when type checking
    for qual, fn in found:
        typing.get_type_hints(fn, localns={"Figure": Figure})   # every hint names something that exists
