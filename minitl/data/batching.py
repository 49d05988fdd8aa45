"""Turning token ids into training batches: LM windows, MLM masking, padded classification.

Every random choice uses ``generator`` when one is given, else
``minitl.random.rng()`` (looked up at call time, so ``minitl.manual_seed(n)``
just before makes the batches reproducible).
"""
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np

from minitl import random as _random
from minitl.text.bpe import BPETokenizer

IGNORE_INDEX = -100


def _gen(generator):
    return generator if generator is not None else _random.rng()


def encode_corpus(docs: Sequence[str], tokenizer: BPETokenizer, eot: bool = True) -> np.ndarray:
    """Documents -> one int64 stream, each document followed by ``<|endoftext|>``."""
    out = []
    for doc in docs:
        out.extend(tokenizer.encode(doc))
        if eot:
            out.append(tokenizer.eot_id)
    return np.asarray(out, dtype=np.int64)


# ---- language modelling (GPT) ----------------------------------------------------------
def get_lm_batch(tokens: np.ndarray, block_size: int, batch_size: int,
                 generator: Optional[np.random.Generator] = None) -> Tuple[np.ndarray, np.ndarray]:
    """``batch_size`` windows of ``block_size + 1`` tokens at random offsets (nanoGPT's get_batch).

    Returns ``x, y`` int64 (B, T): ``y`` is ``x`` shifted by one, so ``y[:, t]``
    is the token after ``x[:, t]``. Example with tokens [5,6,7,8], block_size 2,
    offset 1: window [6,7,8] -> x=[6,7], y=[7,8].
    """
    tokens = np.asarray(tokens)
    n_start = len(tokens) - block_size
    if n_start < 1:
        raise ValueError(f"need more than block_size={block_size} tokens for one window, got {len(tokens)}")
    ix = _gen(generator).integers(0, n_start, size=batch_size)
    windows = np.stack([tokens[i:i + block_size + 1] for i in ix]).astype(np.int64)   # (B, T+1)
    return windows[:, :-1], windows[:, 1:]


def lm_batches(tokens: np.ndarray, block_size: int, batch_size: int, shuffle: bool = True,
               generator: Optional[np.random.Generator] = None,
               drop_last: bool = False) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """One epoch of non-overlapping windows of ``block_size + 1`` tokens (stride ``block_size``).

    Every token is a target exactly once per epoch (except the very first), so this
    is the iterator for evaluation (``shuffle=False``) and for epoch-style training.
    Yields ``x, y`` int64 (B, T).
    """
    tokens = np.asarray(tokens)
    n_windows = (len(tokens) - 1) // block_size
    if n_windows < 1:
        raise ValueError(f"need more than block_size={block_size} tokens for one window, got {len(tokens)}")
    starts = np.arange(n_windows) * block_size
    if shuffle:
        starts = _gen(generator).permutation(starts)
    for b in range(0, n_windows, batch_size):
        s = starts[b:b + batch_size]
        if drop_last and len(s) < batch_size:
            return
        windows = np.stack([tokens[i:i + block_size + 1] for i in s]).astype(np.int64)
        yield windows[:, :-1], windows[:, 1:]


# ---- masked language modelling (BERT) --------------------------------------------------
def mlm_mask(ids: np.ndarray, vocab_size: int, mask_id: int = BPETokenizer.mask_id,
             special_ids: Sequence[int] = BPETokenizer.all_special_ids, attention_mask: Optional[np.ndarray] = None,
             mlm_probability: float = 0.15, generator: Optional[np.random.Generator] = None,
             ignore_index: int = IGNORE_INDEX) -> Tuple[np.ndarray, np.ndarray]:
    """BERT's masking: choose 15% of the real, non-special tokens; of those, 80% become
    ``[MASK]``, 10% a random (non-special) token, 10% stay as they are.

    Args:
        ids: int array (B, T). attention_mask: bool (B, T), False on padding (never chosen).
        vocab_size, mask_id: ``tok.vocab_size`` and ``tok.mask_id`` (minitl's BPE by default).
        special_ids: ids never chosen and never drawn as random tokens: ``tok.all_special_ids``
            (``[PAD] [UNK] [CLS] [SEP] [MASK] <|endoftext|>`` for minitl's BPE, the default).
    Returns:
        ``inputs`` (the corrupted ids) and ``labels`` int64 (B, T): the original id
        where a token was chosen, ``ignore_index`` elsewhere.
    """
    rng = _gen(generator)
    ids = np.asarray(ids, dtype=np.int64)
    special_ids = np.asarray(sorted(set(int(s) for s in special_ids)), dtype=np.int64)
    eligible = ~np.isin(ids, special_ids)
    if attention_mask is not None:
        eligible &= np.asarray(attention_mask, dtype=bool)
    chosen = eligible & (rng.random(ids.shape) < mlm_probability)
    labels = np.where(chosen, ids, ignore_index)
    action = rng.random(ids.shape)              # < 0.8: [MASK]; 0.8..0.9: random token; else keep
    inputs = ids.copy()
    inputs[chosen & (action < 0.8)] = mask_id
    to_random = chosen & (action >= 0.8) & (action < 0.9)
    normal = np.setdiff1d(np.arange(vocab_size), special_ids)
    inputs[to_random] = normal[rng.integers(0, len(normal), size=int(to_random.sum()))]
    return inputs, labels


# ---- classification --------------------------------------------------------------------
class ClassificationBatches:
    """Padded, shuffled-per-epoch batches of ``(ids, attention_mask, labels)``.

        batches = ClassificationBatches(ds.texts, ds.labels, tok, batch_size=32, max_length=128)
        for epoch in range(3):
            for ids, mask, y in batches:      # a fresh order every epoch
                ...
        ids, mask, y = batches.get_batch(step)  # the same batches, indexed by the global step

    Texts are encoded once (``[CLS] text [SEP]`` with ``add_special_tokens``,
    truncated to ``max_length``); each batch is padded to its own longest row.
    ``ids`` int64 (B, T), ``mask`` bool (B, T) True on real tokens, ``labels`` int64 (B,).

    The order of epoch ``e`` is a permutation drawn from its own generator seeded
    with ``(seed, e)``, so batch ``step`` is a pure function of ``step``: this is
    what lets the Trainer resume a fine-tune exactly in the middle of an epoch.
    ``seed`` defaults to one draw from ``generator`` (or ``minitl.random.rng()``)
    at construction; nothing is drawn after that.
    """

    def __init__(self, texts: Sequence[str], labels: Sequence[int], tokenizer: BPETokenizer, batch_size: int = 32,
                 max_length: int = 128, shuffle: bool = True, generator: Optional[np.random.Generator] = None,
                 add_special_tokens: bool = True, drop_last: bool = False, seed: Optional[int] = None):
        self.seqs, _ = tokenizer.encode_batch(list(texts), max_length=max_length, padding=False,
                                              add_special_tokens=add_special_tokens)
        self._init(labels, tokenizer.pad_id, batch_size, shuffle, generator, drop_last, seed)

    def _init(self, labels, pad_id, batch_size, shuffle, generator, drop_last, seed):
        if labels is not None and len(labels) != len(self.seqs):
            raise ValueError(f"{len(self.seqs)} texts but {len(labels)} labels")
        if batch_size < 1:
            raise ValueError(f"ClassificationBatches: batch_size must be >= 1, got {batch_size}")
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        self.pad_id = pad_id
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.seed = int(_gen(generator).integers(2 ** 62)) if seed is None else int(seed)
        self._epoch = 0
        if len(self) == 0:
            raise ValueError(f"ClassificationBatches: {len(self.seqs)} texts make no batch of "
                             f"{batch_size} (drop_last={drop_last})")

    def __len__(self):
        n, b = len(self.seqs), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def epoch_order(self, epoch: int) -> np.ndarray:
        """The example order of epoch ``epoch``: (N,) int."""
        n = len(self.seqs)
        return np.random.default_rng([self.seed, epoch]).permutation(n) if self.shuffle else np.arange(n)

    def get_batch(self, step: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Batch ``step`` of the endless sequence epoch 0, epoch 1, ...: (ids, mask, labels)."""
        epoch, i = divmod(int(step), len(self))
        idx = self.epoch_order(epoch)[i * self.batch_size:(i + 1) * self.batch_size]
        return self.collate(idx)

    def __iter__(self):
        epoch, self._epoch = self._epoch, self._epoch + 1
        for i in range(len(self)):
            yield self.get_batch(epoch * len(self) + i)

    @classmethod
    def from_sequences(cls, seqs: Sequence[List[int]], labels: Sequence[int], pad_id: int, batch_size: int = 32,
                       shuffle: bool = True, generator: Optional[np.random.Generator] = None,
                       drop_last: bool = False, seed: Optional[int] = None) -> "ClassificationBatches":
        """The same batches over texts already encoded to id lists (e.g. ``SequenceClassifier.encode``)."""
        self = cls.__new__(cls)
        self.seqs = [list(s) for s in seqs]
        self._init(labels, pad_id, batch_size, shuffle, generator, drop_last, seed)
        return self

    def collate(self, idx: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        ids, mask = pad_sequences([self.seqs[i] for i in idx], self.pad_id)
        labels = None if self.labels is None else self.labels[idx]
        return ids, mask, labels


def pad_sequences(seqs: Sequence[List[int]], pad_id: int) -> Tuple[np.ndarray, np.ndarray]:
    """Ragged id lists -> (B, T) int64 ids right-padded with ``pad_id``, and a (B, T) bool
    mask, True on real tokens.  T is the longest row (at least 1)."""
    width = max([len(s) for s in seqs] + [1])
    ids = np.full((len(seqs), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(seqs), width), dtype=bool)
    for r, s in enumerate(seqs):
        ids[r, :len(s)] = s
        mask[r, :len(s)] = True
    return ids, mask
