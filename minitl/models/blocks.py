"""The transformer block GPT and BERT share, and the config fields they share.

Shape legend (used in every comment below and in gpt.py / bert.py):
    B  batch size            T  sequence length (<= block_size)
    C  d_model               nh n_head            hs  head size = C // nh
    V  vocab_size

A block is pre-LayerNorm (GPT-2's order, which trains without warmup tricks):

    x = x + attn(ln_1(x))      # tokens look at each other
    x = x + mlp(ln_2(x))       # each token thinks on its own

GPT and BERT use this same ``Block``; they differ only in the attention mask
(causal vs. a key-padding mask) and in the head on top.  The attention
arithmetic itself is ``F.packed_self_attention`` (a fused kernel).  While
``minitl.config.FUSED`` is on, each Linear runs as one tape node with its tail
(``minitl/ops/fused_block.py``): bias + GELU in the MLP, bias + the residual add
in the two projections that write into the stream -- 7 nodes per block instead
of 26 (11 with dropout > 0 in training: the dropout and the residual add stay
separate nodes after each projection).

Inspection: set ``block.record = True`` (``model.trace()`` does it for every
block) and each forward keeps ``block.attn.probs`` (B, nh, T, T) -- the
attention map, recomputed in numpy from the same q and k -- and
``block.act_norm``, the mean L2 norm of the block's output vectors.
"""
from dataclasses import dataclass, fields, replace

import numpy as np

from minitl import config, random as mrandom
from minitl.kernels.reference import attention_ref
from minitl.nn import functional as F
from minitl.ops import fused_block
from minitl.nn import Module, Linear, LayerNorm, Dropout, Embedding

# Named sizes.  "nano" trains in seconds (tests, lessons); "micro" is the default
# for pretraining (the benchmark's shape; <= 15 minutes on 2 cores); "mini" is
# for a machine with more time.
PRESETS = {
    "nano": dict(n_layer=2, n_head=2, d_model=32, block_size=32, vocab_size=512, dropout=0.0),
    "micro": dict(n_layer=4, n_head=4, d_model=128, block_size=64, vocab_size=8192, dropout=0.0),
    "mini": dict(n_layer=6, n_head=6, d_model=192, block_size=128, vocab_size=8192, dropout=0.1),
    # 12 narrow layers, so the notes' Option B runs exactly as written: layers 1-10 frozen,
    # 11-12 + a new head trained (strategy "freeze_bottom:10"); ~1.1M parameters.
    "deep": dict(n_layer=12, n_head=2, d_model=64, block_size=64, vocab_size=8192, dropout=0.0),
}


@dataclass
class TransformerConfig:
    """The fields GPTConfig and BERTConfig share (nanoGPT's names; ``n_embd`` is ``d_model``)."""
    n_layer: int = 2
    n_head: int = 2
    d_model: int = 32
    block_size: int = 32
    vocab_size: int = 512
    dropout: float = 0.0

    def __post_init__(self):
        if self.d_model % self.n_head:
            raise ValueError(f"{type(self).__name__}: d_model={self.d_model} is not divisible "
                             f"by n_head={self.n_head}")

    @classmethod
    def from_preset(cls, name, **overrides):
        """``GPTConfig.from_preset("micro", vocab_size=4096)``."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}: expected one of {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    def to_dict(self):
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d):
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown config keys {unknown} (known: {sorted(known)})")
        return cls(**d)

    def replace(self, **changes):
        return replace(self, **changes)


class SelfAttention(Module):
    """Multi-head self-attention: one Linear makes q, k, v; the fused op mixes them."""

    def __init__(self, cfg):
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = Linear(cfg.d_model, cfg.d_model)
        self.drop = Dropout(cfg.dropout)
        self.record = False
        self.probs = None

    def forward(self, x, is_causal=False, key_padding_mask=None, residual=None):
        """x (B, T, C) -> attention's output (B, T, C), plus ``residual`` (B, T, C) when given."""
        B, T, C = x.shape
        nh, hs = self.n_head, C // self.n_head
        qkv = linear(x, self.qkv)                                   # (B, T, 3C) = [q | k | v]
        if self.record:
            heads = qkv.data.reshape(B, T, 3, nh, hs).transpose(2, 0, 3, 1, 4)   # (3, B, nh, T, hs)
            self.probs = attention_probs(heads[0], heads[1], is_causal, key_padding_mask)
        # the fused op splits the heads as views of qkv and writes one packed gradient (one tape node)
        y = F.packed_self_attention(qkv, nh, is_causal=is_causal, key_padding_mask=key_padding_mask,
                                    dropout_p=self.drop.p if self.training else 0.0)  # (B, T, C)
        return linear(y, self.proj, residual=residual, drop=self.drop)  # (B, T, C)


def attention_probs(q, k, is_causal=False, key_padding_mask=None):
    """softmax(q k^T / sqrt(hs) + mask) in plain numpy, for looking at, not training.

    q, k: (B, nh, T, hs) arrays -> (B, nh, T, T), row i = where token i looks (zeros for a
    query that may see no key).  The masked softmax is the attention twin's
    (``kernels/reference.attention_ref``), applied to v = the identity: out = probs @ I.
    """
    B, nh, T, _ = q.shape
    eye = np.broadcast_to(np.eye(T, dtype=q.dtype), (B, nh, T, T))
    return attention_ref(q, k, eye, is_causal, key_padding_mask)[0]   # (B, nh, T, T)


def linear(x, lin, act=None, residual=None, drop=None):
    """drop(act(lin(x))) (+ residual), x (B, T, in) -> (B, T, out): one fused node while ``config.FUSED``
    is on (the residual add too, unless dropout is active); else, or when ``lin`` has forward hooks
    (``model.summary()``), the composed Linear on (B*T, in) rows, GELU, dropout, add."""
    active = drop is not None and drop.training and drop.p > 0
    if config.FUSED and lin.bias is not None and not lin._forward_hooks:
        if not active:
            return fused_block.linear(x, lin.weight, lin.bias, residual=residual, act=act)
        y = drop(fused_block.linear(x, lin.weight, lin.bias, act=act))  # dropout sits before the add
        return y if residual is None else residual + y
    B, T, C = x.shape
    y = lin(x.reshape(B * T, C))              # 2-D rows: one BLAS product instead of B small ones
    y = F.gelu(y) if act == "gelu" else y
    y = (drop(y) if drop is not None else y).reshape(B, T, y.shape[-1])
    return y if residual is None else residual + y


class MLP(Module):
    """Linear(C, 4C) -> GELU -> Linear(4C, C): each position on its own."""

    def __init__(self, cfg):
        super().__init__()
        self.fc = Linear(cfg.d_model, 4 * cfg.d_model)
        self.proj = Linear(4 * cfg.d_model, cfg.d_model)
        self.drop = Dropout(cfg.dropout)

    def forward(self, x, residual=None):
        """x (B, T, C) -> (B, T, C), plus ``residual`` (B, T, C) when given."""
        h = linear(x, self.fc, act="gelu")                         # (B, T, 4C)
        return linear(h, self.proj, residual=residual, drop=self.drop)   # (B, T, C)


class Block(Module):
    """x = x + attn(ln_1(x)); x = x + mlp(ln_2(x)).  ``is_causal`` (GPT) or
    ``key_padding_mask`` (BERT, bool (B, T), True = real token) picks the mask."""

    def __init__(self, cfg):
        super().__init__()
        self.ln_1 = LayerNorm(cfg.d_model)
        self.attn = SelfAttention(cfg)
        self.ln_2 = LayerNorm(cfg.d_model)
        self.mlp = MLP(cfg)
        self.record = False
        self.act_norm = None

    def forward(self, x, is_causal=False, key_padding_mask=None):
        x = self.attn(self.ln_1(x), is_causal=is_causal, key_padding_mask=key_padding_mask, residual=x)
        x = self.mlp(self.ln_2(x), residual=x)                     # x + mlp(ln_2(x)), (B, T, C)
        if self.record:
            self.act_norm = float(np.linalg.norm(x.data, axis=-1).mean())
        return x


def init_weights(model, n_layer):
    """GPT-2's initialisation: N(0, 0.02) for Linear and Embedding weights, zero
    biases, and the projections that write into the residual stream scaled by
    1/sqrt(2 * n_layer) so the stream's variance does not grow with depth."""
    rng = mrandom.rng()
    for name, m in model.named_modules():
        if isinstance(m, (Linear, Embedding)):
            std = 0.02 / np.sqrt(2 * n_layer) if name.endswith(".proj") else 0.02
            m.weight.data = rng.normal(0.0, std, m.weight.shape).astype(np.float32)
        if isinstance(m, Linear) and m.bias is not None:
            m.bias.data = np.zeros(m.bias.shape, np.float32)
