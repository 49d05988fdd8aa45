"""A tiny GPT: a causal language model that learns to predict the next token.

Shape legend:
    B  batch size            T  sequence length (<= block_size)
    C  d_model               nh n_head            hs  head size = C // nh
    V  vocab_size

Read it leaves-first: ``Block`` lives in ``blocks.py`` (shared with BERT); here
are the embeddings, the stack of causal blocks and the output layer, which is
the token embedding again (weight tying, as in GPT-2): the vector that reads
token v in is the vector that scores token v out.

    model = GPT(GPTConfig.from_preset("nano"))
    logits, loss = model(idx, targets)        # idx, targets: (B, T) int
    model.generate(idx, max_new_tokens=20, temperature=0.8, top_k=40)
"""
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

import minitl
from minitl import random as mrandom
from minitl.data.batching import lm_batches
from minitl.models.base import PretrainedMixin
from minitl.models.blocks import Block, TransformerConfig, init_weights
from minitl.nn import functional as F
from minitl.nn import Module, Embedding, LayerNorm, Dropout, ModuleList


@dataclass
class GPTConfig(TransformerConfig):
    """n_layer, n_head, d_model, block_size, vocab_size, dropout (see ``blocks.PRESETS``)."""


class GPT(PretrainedMixin, Module):
    config_class = GPTConfig

    def __init__(self, config):
        super().__init__()
        self.config = config
        C = config.d_model
        self.wte = Embedding(config.vocab_size, C)       # token embedding, also the output layer
        self.wpe = Embedding(config.block_size, C)       # learned position embedding
        self.drop = Dropout(config.dropout)
        self.blocks = ModuleList([Block(config) for _ in range(config.n_layer)])
        self.ln_f = LayerNorm(C)
        init_weights(self, config.n_layer)

    def hidden(self, idx: np.ndarray, attention_mask: Optional[np.ndarray] = None) -> minitl.Tensor:
        """(B, T) ids -> (B, T, C) final hidden states (after ln_f).

        ``attention_mask`` is accepted for a uniform interface with BERT; a
        causal model never looks right, so right-padding needs no mask.
        """
        idx = np.asarray(idx.data if isinstance(idx, minitl.Tensor) else idx)
        B, T = idx.shape
        if T > self.config.block_size:
            raise ValueError(f"GPT: sequence length {T} > block_size {self.config.block_size}")
        pos = np.arange(T)                                 # (T,)
        x = self.drop(self.wte(idx) + self.wpe(pos))       # (B, T, C) + (T, C) -> (B, T, C)
        for block in self.blocks:
            x = block(x, is_causal=True)                   # (B, T, C)
        return self.ln_f(x)                                # (B, T, C)

    def forward(self, idx: np.ndarray,
                targets: Optional[np.ndarray] = None) -> Tuple[minitl.Tensor, Optional[minitl.Tensor]]:
        """Returns (logits (B, T, V), mean cross-entropy over targets or None).

        Target -100 is ignored (e.g. padding)."""
        h = self.hidden(idx)                               # (B, T, C)
        B, T, C = h.shape
        logits = F.linear(h.reshape(B * T, C), self.wte.weight)  # (B*T, V): tied output layer
        if targets is None:
            return logits.reshape(B, T, -1), None          # (B, T, V)
        targets = np.asarray(targets.data if isinstance(targets, minitl.Tensor) else targets)
        if targets.shape != (B, T):
            raise ValueError(f"GPT: targets shape {targets.shape} != idx shape {(B, T)}")
        loss = F.cross_entropy(logits, targets.reshape(B * T), ignore_index=-100)
        return logits.reshape(B, T, -1), loss              # (B, T, V)

    def generate(self, idx: np.ndarray, max_new_tokens: int, temperature: float = 1.0, top_k: Optional[int] = None,
                 stop_id: Optional[int] = None) -> np.ndarray:
        """Append ``max_new_tokens`` sampled tokens to ``idx`` (B, T0) -> (B, T0 + n).

        Sampling draws from ``minitl.random.rng()``, so ``minitl.manual_seed(n)``
        makes it repeatable.  ``temperature=0`` picks the most likely token.
        ``stop_id`` (e.g. the end-of-text id) ends generation once every row emitted it.
        """
        idx = np.array(idx, dtype=np.int64, ndmin=2)       # (B, T0)
        was_training = self.training
        self.eval()
        done = np.zeros(len(idx), bool)
        with minitl.no_grad():
            for _ in range(max_new_tokens):
                ctx = idx[:, -self.config.block_size:]             # (B, <=block_size)
                h = self.hidden(ctx)                               # (B, T, C)
                logits = h.data[:, -1, :] @ self.wte.weight.data.T  # (B, V): last position only
                nxt = sample(logits, temperature, top_k)           # (B,)
                idx = np.concatenate([idx, nxt[:, None]], axis=1)  # (B, T + 1)
                if stop_id is not None:
                    done |= nxt == stop_id
                    if done.all():
                        break
        self.train(was_training)
        return idx

    def generate_text(self, prompt: str, max_new_tokens: int = 40, temperature: float = 0.8, top_k: Optional[int] = 40,
                      tokenizer=None) -> str:
        """Encode ``prompt``, generate, decode: a string in, a string out."""
        tok = tokenizer or self.tokenizer
        if tok is None:
            raise ValueError("GPT.generate_text: no tokenizer (pass tokenizer= or load with from_pretrained)")
        ids = tok.encode(prompt) or [tok.eot_id]
        out = self.generate(np.array([ids]), max_new_tokens, temperature, top_k, stop_id=tok.eot_id)
        new = [i for i in out[0, len(ids):].tolist() if i != tok.eot_id]
        return prompt + tok.decode(new)

    def perplexity(self, ids: np.ndarray, batch_size: int = 32) -> float:
        """exp(mean next-token cross-entropy) over a 1-D token array, in block_size windows."""
        nll, n = evaluate_lm(self, ids, batch_size)
        return float(np.exp(nll / max(n, 1)))


def sample(logits: np.ndarray, temperature: float = 1.0, top_k: Optional[int] = None) -> np.ndarray:
    """One token per row from softmax(logits / temperature), keeping the top_k best.

    logits: (B, V) array -> (B,) int64."""
    if temperature == 0:
        return logits.argmax(axis=-1).astype(np.int64)
    z = logits.astype(np.float64) / temperature            # (B, V)
    if top_k is not None and top_k < z.shape[-1]:
        kth = np.partition(z, -top_k, axis=-1)[:, -top_k][:, None]  # (B, 1): the k-th largest
        z = np.where(z < kth, -np.inf, z)
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)                      # (B, V)
    u = mrandom.rng().random((len(p), 1))                   # (B, 1)
    return np.minimum((p.cumsum(axis=-1) < u).sum(axis=-1), p.shape[-1] - 1).astype(np.int64)


def evaluate_lm(model: "GPT", ids: np.ndarray, batch_size: int = 32) -> Tuple[float, int]:
    """(sum of next-token negative log-likelihoods, number of predicted tokens) over
    consecutive non-overlapping windows of a 1-D id array."""
    T = model.config.block_size
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) - 1 < T:
        raise ValueError(f"evaluate_lm: {len(ids)} tokens is fewer than one window of {T + 1}")
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with minitl.no_grad():
        for x, y in lm_batches(ids, T, batch_size, shuffle=False):        # (b, T) each, stride T
            _, loss = model(x, y)
            total += float(loss.data) * y.size
            count += y.size
    model.train(was_training)
    return total, count
