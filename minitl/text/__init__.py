"""Tokenizers: ``words`` (word-level vocabulary, for word2vec) and ``bpe``
(byte-level BPE, for GPT and BERT).  ``minitl.text.BPETokenizer`` and
``minitl.text.WordVocab`` are loaded on first use."""


def __getattr__(name):
    if name == "BPETokenizer":
        from minitl.text.bpe import BPETokenizer
        return BPETokenizer
    if name in ("WordVocab", "tokenize_words"):
        from minitl.text import words
        return words.WordVocab if name == "WordVocab" else words.tokenize
    raise AttributeError(f"module 'minitl.text' has no attribute {name!r}")
