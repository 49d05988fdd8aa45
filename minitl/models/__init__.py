"""minitl.models: the pretrained models the course transfers from.

``GPT`` / ``GPTConfig`` (causal LM, ``gpt.py``), ``BERT`` / ``BERTConfig``
(masked LM, ``bert.py``), both built from ``blocks.Block``; ``ELMo`` / ``ELMoConfig``
(forward + backward LSTM LMs, ``elmo.py``); ``T5`` / ``T5Config`` (encoder-decoder,
``t5.py``); ``Word2Vec`` and
``KeyedVectors`` (``word2vec.py``, ``keyedvectors.py``) load on first use.
"""
from minitl.models.gpt import GPT, GPTConfig  # noqa: F401
from minitl.models.bert import BERT, BERTConfig  # noqa: F401
from minitl.models.elmo import ELMo, ELMoConfig  # noqa: F401
from minitl.models.t5 import T5, T5Config  # noqa: F401

_LAZY = {"Word2Vec": "minitl.models.word2vec", "KeyedVectors": "minitl.models.keyedvectors"}

__all__ = ["GPT", "GPTConfig", "BERT", "BERTConfig", "ELMo", "ELMoConfig", "T5", "T5Config", *_LAZY]


def __getattr__(name):
    # word2vec lives in its own files, which need not import the transformer stack
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'minitl.models' has no attribute {name!r}")
