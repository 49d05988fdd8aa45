"""Type hints on the public API of Tensor, nn, optim, data's loaders and batching, GPT and BERT.

A public function or method must say what it returns (``-> ...``); a constructor must
annotate its arguments.  ``nn.functional`` is checked in tests/test_functional.py.
"""
import inspect

import pytest

import minitl
from minitl import data, nn, optim
from minitl.data import batching
from minitl.models import BERT, GPT
from minitl.models.base import PretrainedMixin
from minitl.tensor import Tensor


def _public_methods(cls):
    for name, obj in vars(cls).items():
        obj = obj.__func__ if isinstance(obj, (classmethod, staticmethod)) else obj
        if callable(obj) and (not name.startswith("_") or name == "__init__"):
            yield name, obj


def _missing(fn, name):
    sig = inspect.signature(fn)
    if name == "__init__":
        args = [p for p in sig.parameters.values()
                if p.name not in ("self", "cls") and p.kind not in (p.VAR_KEYWORD,)]
        return [p.name for p in args if p.annotation is inspect.Parameter.empty]
    return [] if sig.return_annotation is not inspect.Signature.empty else ["return"]


def _targets():
    yield "minitl.tensor", minitl.tensor
    for name, fn in _public_methods(Tensor):
        yield f"Tensor.{name}", fn
    for mod in (nn, optim):
        for name in mod.__all__:
            obj = getattr(mod, name)
            if inspect.isclass(obj):
                for m, fn in _public_methods(obj):
                    yield f"{mod.__name__}.{name}.{m}", fn
            elif inspect.isfunction(obj):
                yield f"{mod.__name__}.{name}", obj
    for name in ("load", "corpus", "word_eval", "path", "load_file", "encode_corpus", "get_lm_batch",
                 "lm_batches", "mlm_mask"):
        yield f"minitl.data.{name}", getattr(data, name)
    yield "minitl.data.pad_sequences", batching.pad_sequences
    for cls in (batching.ClassificationBatches, PretrainedMixin, GPT, BERT):
        for m, fn in _public_methods(cls):
            if m != "__init__" or cls is batching.ClassificationBatches:
                yield f"{cls.__name__}.{m}", fn


TARGETS = dict(_targets())


def test_the_walk_sees_the_api():
    for want in ("Tensor.backward", "Tensor.sum", "minitl.nn.Module.state_dict", "minitl.nn.Linear.__init__",
                 "minitl.optim.AdamW.__init__", "minitl.optim.clip_grad_norm_", "minitl.optim.LRScheduler.step",
                 "minitl.data.load", "GPT.generate", "BERT.fill_mask", "PretrainedMixin.from_pretrained"):
        assert want in TARGETS, want


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_public_api_is_annotated(name):
    missing = _missing(TARGETS[name], name.rsplit(".", 1)[-1])
    assert not missing, f"{name}: no type hint for {', '.join(missing)}"
