"""A tiny BERT: a masked language model that learns to fill in blanks.

Shape legend:
    B  batch size            T  sequence length (<= block_size)
    C  d_model               nh n_head            hs  head size = C // nh
    V  vocab_size            M  number of masked positions in the batch

Same ``Block`` as GPT (``blocks.py``), but every token sees every other real
token: the mask hides only padding (``attention_mask``, 1 = real token).
Inputs add a segment embedding (sentence A / B).  The MLM head
(Linear -> GELU -> LayerNorm -> the token embedding again, plus a bias) runs
only at the masked positions: with 15% masking that is ~7x less work in the
vocabulary projection, which dominates at this size.  ``pooled()`` is BERT's
[CLS] pooler (Linear + tanh) for sentence-level heads.

    model = BERT(BERTConfig.from_preset("nano"))
    logits, loss = model(idx, attention_mask, mlm_labels=labels)   # logits (M, V)
    model.fill_mask("the quick [MASK] fox", top_k=5)               # [(token, prob), ...]
"""
import re
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

import minitl
from minitl.models.base import PretrainedMixin
from minitl.tensor import Tensor
from minitl.models.blocks import Block, TransformerConfig, init_weights
from minitl.nn import functional as F
from minitl.nn import Module, Parameter, Embedding, LayerNorm, Linear, Dropout, ModuleList

IGNORE = -100  # label of a position that is not predicted


@dataclass
class BERTConfig(TransformerConfig):
    """The shared fields (see ``blocks.PRESETS``) plus ``type_vocab_size`` segments."""
    type_vocab_size: int = 2


class BERT(PretrainedMixin, Module):
    config_class = BERTConfig
    uses_special_tokens = True           # [CLS] text [SEP], as in pretraining

    def __init__(self, config):
        super().__init__()
        self.config = config
        C = config.d_model
        self.wte = Embedding(config.vocab_size, C)          # token embedding, also the MLM decoder
        self.wpe = Embedding(config.block_size, C)          # position embedding
        self.wtt = Embedding(config.type_vocab_size, C)     # segment (token type) embedding
        self.drop = Dropout(config.dropout)
        self.blocks = ModuleList([Block(config) for _ in range(config.n_layer)])
        self.ln_f = LayerNorm(C)
        self.mlm_dense = Linear(C, C)                       # MLM head transform
        self.mlm_ln = LayerNorm(C)
        self.mlm_bias = Parameter(np.zeros(config.vocab_size))  # (V,) per-token output bias
        self.pooler = Linear(C, C)                          # [CLS] pooler
        init_weights(self, config.n_layer)

    def hidden(self, idx: np.ndarray, attention_mask: Optional[np.ndarray] = None,
               token_type_ids: Optional[np.ndarray] = None) -> Tensor:
        """(B, T) ids -> (B, T, C) final hidden states; padding (mask 0) is never attended to."""
        idx = np.asarray(idx.data if isinstance(idx, minitl.Tensor) else idx)
        B, T = idx.shape
        if T > self.config.block_size:
            raise ValueError(f"BERT: sequence length {T} > block_size {self.config.block_size}")
        tt = np.zeros_like(idx) if token_type_ids is None else np.asarray(token_type_ids)
        x = self.wte(idx) + self.wpe(np.arange(T)) + self.wtt(tt)  # (B, T, C)
        x = self.drop(x)
        kpm = None
        if attention_mask is not None:
            kpm = np.asarray(attention_mask).astype(bool)            # (B, T), True = real token
            if kpm.shape != (B, T):
                raise ValueError(f"BERT: attention_mask shape {kpm.shape} != idx shape {(B, T)}")
            if kpm.all():
                kpm = None                                           # nothing to hide: skip the mask
        for block in self.blocks:
            x = block(x, key_padding_mask=kpm)                       # (B, T, C)
        return self.ln_f(x)                                          # (B, T, C)

    def mlm_logits(self, h: Tensor) -> Tensor:
        """(..., C) hidden states -> (..., V) scores over the vocabulary (tied decoder)."""
        lead, C = h.shape[:-1], h.shape[-1]
        h = h.reshape(-1, C)                                         # (N, C): one 2-D matrix product
        h = self.mlm_ln(F.gelu(self.mlm_dense(h)))                   # (N, C)
        return F.linear(h, self.wte.weight, self.mlm_bias).reshape(*lead, -1)  # (..., V)

    def forward(self, idx: np.ndarray, attention_mask: Optional[np.ndarray] = None,
                token_type_ids: Optional[np.ndarray] = None,
                mlm_labels: Optional[np.ndarray] = None) -> Tuple[Tensor, Optional[Tensor]]:
        """With ``mlm_labels`` (B, T) (-100 = not predicted): (logits (M, V) at the M
        labelled positions, mean cross-entropy).  Without: (logits (B, T, V), None)."""
        h = self.hidden(idx, attention_mask, token_type_ids)         # (B, T, C)
        if mlm_labels is None:
            return self.mlm_logits(h), None
        B, T, C = h.shape
        labels = np.asarray(mlm_labels).reshape(B * T)               # (B*T,)
        pos = np.flatnonzero(labels != IGNORE)                       # (M,)
        if pos.size == 0:
            raise ValueError("BERT: mlm_labels has no position to predict (all -100)")
        hm = h.reshape(B * T, C)[pos]                                # (M, C): masked positions only
        logits = self.mlm_logits(hm)                                 # (M, V)
        return logits, F.cross_entropy(logits, labels[pos])

    def pooled(self, idx: np.ndarray, attention_mask: Optional[np.ndarray] = None,
               token_type_ids: Optional[np.ndarray] = None) -> Tensor:
        """tanh(Linear(h[CLS])): (B, T) -> (B, C), the sentence vector BERT's heads read."""
        h = self.hidden(idx, attention_mask, token_type_ids)         # (B, T, C)
        return F.tanh(self.pooler(h[:, 0]))                          # (B, C): [CLS] is position 0

    def fill_mask(self, text: str, top_k: int = 5, tokenizer=None) -> list:
        """Top-k fillers for each ``[MASK]`` in ``text``: [(token, probability), ...]
        for one mask, a list of such lists for several."""
        tok = tokenizer or self.tokenizer
        if tok is None:
            raise ValueError("BERT.fill_mask: no tokenizer (pass tokenizer= or load with from_pretrained)")
        ids = encode_with_masks(tok, text)
        if len(ids) > self.config.block_size:
            raise ValueError(f"fill_mask: {len(ids)} tokens > block_size {self.config.block_size}")
        where = [i for i, t in enumerate(ids) if t == tok.mask_id]
        if not where:
            raise ValueError(f"fill_mask: no [MASK] in {text!r}")
        was_training = self.training
        self.eval()
        with minitl.no_grad():
            h = self.hidden(np.array([ids]))                         # (1, T, C)
            logits = self.mlm_logits(h[0, np.array(where)]).data.astype(np.float64)  # (n_masks, V)
        self.train(was_training)
        p = np.exp(logits - logits.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)                                # (n_masks, V)
        out = [[(tok.decode([int(j)]).strip(), float(row[j])) for j in np.argsort(-row)[:top_k]]
               for row in p]
        return out[0] if len(out) == 1 else out


def encode_with_masks(tok, text):
    """[CLS] + ids + [SEP] where each literal "[MASK]" in ``text`` becomes mask_id.

    The text before a mask is right-stripped so that the space goes with the
    predicted word (" brown"), as byte-level BPE tokenised it during training.
    """
    parts = re.split(r"\[MASK\]", text)
    ids = [tok.cls_id]
    for i, part in enumerate(parts):
        piece = part.rstrip() if i < len(parts) - 1 else part
        if piece:
            ids += tok.encode(piece)
        if i < len(parts) - 1:
            ids.append(tok.mask_id)
    return ids + [tok.sep_id]
