"""A tiny ELMo: two LSTM language models, one reading left-to-right, one right-to-left.

Shape legend:
    B  batch size            T  sequence length (<= block_size)
    C  d_model               H  hidden size of one direction = C // 2
    V  vocab_size            L  n_layer (LSTM layers per direction)

Peters et al. (2018): a forward LM predicts token t+1 from tokens <= t, a
backward LM predicts token t-1 from tokens >= t.  Each has L stacked LSTM
layers (a residual connection from layer 2 on); they share the token
embedding and the output softmax.  Layer k's representation of a token is
[forward h ; backward h] -- (B, T, 2H) = (B, T, C) -- and layer 0 is the token
embedding itself (C wide, so all L + 1 layers line up).  Input is BPE, as
for GPT (the paper used characters through a CNN).

The contextual embedding a downstream task gets is a *scalar mix*, a learned
softmax-normalised weighted sum of the L + 1 layers times a scale gamma:

    ELMo_t = gamma * sum_k softmax(s)_k * h_{t,k}

``ScalarMix`` starts at equal weights and gamma = 1 (the average of the
layers); it has no say in pretraining (the LMs read only their top layer)
and is trained per task -- it sits in the "head" layer group, so a frozen
ELMo with a trainable head learns its own mix.

    model = ELMo(ELMoConfig.from_preset("nano"))
    (logits_fwd, logits_bwd), loss = model(idx)     # idx (B, T): both LMs' mean loss
    h = model.hidden(idx, attention_mask)           # (B, T, C): the scalar mix
    contextual_similarity(model, ["I sat on the river bank.", "The bank raised rates."], "bank")
"""
import re
from dataclasses import dataclass, fields, replace

import numpy as np

import minitl
from minitl import random as mrandom
from minitl.models.base import PretrainedMixin
from minitl.nn import functional as F
from minitl.nn import Dropout, Embedding, Linear, Module, ModuleList, Parameter
from minitl.ops.lstm import lstm

# "nano" trains in seconds (tests, lessons); "micro" is the pretraining size of GPT/BERT's micro.
PRESETS = {
    "nano": dict(n_layer=2, d_model=64, block_size=32, vocab_size=512, dropout=0.0),
    "micro": dict(n_layer=2, d_model=256, block_size=64, vocab_size=8192, dropout=0.1),
}


@dataclass
class ELMoConfig:
    """n_layer (per direction), d_model (= 2 x the LSTM hidden size), block_size, vocab_size, dropout."""
    n_layer: int = 2
    d_model: int = 64
    block_size: int = 32
    vocab_size: int = 512
    dropout: float = 0.0

    def __post_init__(self):
        if self.d_model % 2:
            raise ValueError(f"ELMoConfig: d_model={self.d_model} must be even (two directions of d_model / 2)")
        if self.n_layer < 1:
            raise ValueError(f"ELMoConfig: n_layer={self.n_layer} must be >= 1")

    @property
    def hidden_size(self):
        return self.d_model // 2

    @classmethod
    def from_preset(cls, name, **overrides):
        """``ELMoConfig.from_preset("nano", vocab_size=1024)``."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}: expected one of {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    def to_dict(self):
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d):
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown config keys {unknown}")
        return cls(**d)

    def replace(self, **changes):
        return replace(self, **changes)


class LSTM(Module):
    """One LSTM layer, batch first: (B, T, input_size) -> (B, T, hidden_size).

    Args:
        input_size, hidden_size: as ``torch.nn.LSTM`` (gates i, f, g, o; one bias
            instead of torch's two).  The forget gate's bias starts at 1 (remember by default).
    """

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        k = 1.0 / np.sqrt(hidden_size)
        rng = mrandom.rng()
        self.weight_ih = Parameter(rng.uniform(-k, k, (4 * hidden_size, input_size)))
        self.weight_hh = Parameter(rng.uniform(-k, k, (4 * hidden_size, hidden_size)))
        bias = rng.uniform(-k, k, 4 * hidden_size)
        bias[hidden_size:2 * hidden_size] = 1.0
        self.bias = Parameter(bias)

    def forward(self, x, lengths=None, reverse=False):
        """x (B, T, I) -> (B, T, H); ``lengths`` (B,) real positions per row, ``reverse`` right-to-left."""
        return lstm(x, self.weight_ih, self.weight_hh, self.bias, lengths, reverse)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}"


class BiLSTMBlock(Module):
    """Layer k of both LMs: (B, T, C) -> (B, T, C) = [forward h ; backward h].

    Layer 0's two LSTMs both read the token embedding (C wide); a later layer's
    forward LSTM reads only the forward half of the layer below (the LMs never
    see each other's states) and adds it back (a residual connection).
    """

    def __init__(self, cfg, first):
        super().__init__()
        C, H = cfg.d_model, cfg.hidden_size
        self.first, self.H = first, H
        self.fwd = LSTM(C if first else H, H)
        self.bwd = LSTM(C if first else H, H)
        self.drop = Dropout(cfg.dropout)

    def forward(self, x, lengths=None):
        H = self.H
        xf, xb = (x, x) if self.first else (x[:, :, :H], x[:, :, H:])    # (B, T, C) or (B, T, H) each
        hf = self.drop(self.fwd(xf, lengths))                            # (B, T, H)
        hb = self.drop(self.bwd(xb, lengths, reverse=True))              # (B, T, H)
        if not self.first:
            hf, hb = hf + xf, hb + xb
        return minitl.cat([hf, hb], dim=2)                               # (B, T, C)


class ScalarMix(Module):
    """gamma * sum_k softmax(s)_k * layers[k]: the task-specific weighting of the layers."""

    def __init__(self, n_layers):
        super().__init__()
        self.scalar_parameters = Parameter(np.zeros(n_layers))    # s, softmax-normalised
        self.gamma = Parameter(np.ones(1))

    def weights(self):
        """The current normalised layer weights, a numpy array summing to 1."""
        s = self.scalar_parameters.data.astype(np.float64)
        e = np.exp(s - s.max())
        return e / e.sum()

    def forward(self, layers):
        if len(layers) != self.scalar_parameters.shape[0]:
            raise ValueError(f"ScalarMix: {len(layers)} layers but {self.scalar_parameters.shape[0]} weights")
        w = F.softmax(self.scalar_parameters, dim=0)                      # (L+1,)
        mixed = layers[0] * w[0]
        for k in range(1, len(layers)):
            mixed = mixed + layers[k] * w[k]
        return mixed * self.gamma                                         # (B, T, C)


def lengths_from_mask(attention_mask, B, T):
    """(B, T) bool prefix mask -> (B,) lengths; None -> all T.  Left padding is an error."""
    if attention_mask is None:
        return np.full(B, T, np.int64)
    m = np.asarray(attention_mask.data if isinstance(attention_mask, minitl.Tensor) else attention_mask).astype(bool)
    if m.shape != (B, T):
        raise ValueError(f"ELMo: attention_mask shape {m.shape} != ids shape {(B, T)}")
    lengths = m.sum(axis=1)
    if not (m == (np.arange(T)[None, :] < lengths[:, None])).all():
        raise ValueError("ELMo: attention_mask must be True on a prefix of each row (right padding only)")
    return lengths.astype(np.int64)


class ELMo(PretrainedMixin, Module):
    config_class = ELMoConfig

    def __init__(self, config):
        super().__init__()
        self.config = config
        C, H, V = config.d_model, config.hidden_size, config.vocab_size
        self.wte = Embedding(V, C)                       # token embedding = layer 0
        self.wte.weight.data *= 0.1                      # about the scale of the LSTM outputs
        self.drop = Dropout(config.dropout)
        self.blocks = ModuleList([BiLSTMBlock(config, first=i == 0) for i in range(config.n_layer)])
        self.scalar_mix = ScalarMix(config.n_layer + 1)
        self.lm_head = Linear(H, V)                      # one softmax, shared by both directions

    def encoder_parts(self):
        """{"embeddings", "blocks", "final"}: what ``hidden()`` runs (the mix is the final part)."""
        return {"embeddings": [self.wte], "blocks": list(self.blocks), "final": [self.scalar_mix]}

    def layers(self, idx, attention_mask=None):
        """All L + 1 representations, layer 0 (the embedding) first: a list of (B, T, C)."""
        idx = np.asarray(idx.data if isinstance(idx, minitl.Tensor) else idx)
        if idx.ndim != 2:
            raise ValueError(f"ELMo: ids must be (B, T), got shape {idx.shape}")
        B, T = idx.shape
        if T > self.config.block_size:
            raise ValueError(f"ELMo: sequence length {T} > block_size {self.config.block_size}")
        lengths = lengths_from_mask(attention_mask, B, T)
        x = self.drop(self.wte(idx))                     # (B, T, C)
        out = [x]
        for block in self.blocks:
            x = block(x, lengths)                        # (B, T, C)
            out.append(x)
        return out

    def hidden(self, idx, attention_mask=None):
        """(B, T) ids -> (B, T, C): the scalar mix of every layer, for transfer."""
        return self.scalar_mix(self.layers(idx, attention_mask))

    def forward(self, idx, attention_mask=None):
        """Both LMs on the same window: ((logits_fwd, logits_bwd) (B, T-1, V) each, mean loss).

        The forward LM at position t predicts idx[t+1]; the backward LM at
        position t+1 predicts idx[t].  Padding (``attention_mask`` False) is ignored.
        The loss is the mean of the two directions' mean cross-entropies.
        """
        idx = np.asarray(idx.data if isinstance(idx, minitl.Tensor) else idx)
        B, T = idx.shape
        if T < 2:
            raise ValueError(f"ELMo: a language-model window needs >= 2 tokens, got {T}")
        top = self.layers(idx, attention_mask)[-1]       # (B, T, C)
        H = self.config.hidden_size
        real = np.ones((B, T), bool) if attention_mask is None else \
            np.arange(T)[None, :] < lengths_from_mask(attention_mask, B, T)[:, None]
        pair = real[:, 1:] & real[:, :-1]                # (B, T-1): both tokens real
        logits_f = self.lm_head(top[:, :-1, :H])         # (B, T-1, V): reads <= t, predicts t+1
        logits_b = self.lm_head(top[:, 1:, H:])          # (B, T-1, V): reads >= t+1, predicts t
        y_f = np.where(pair, idx[:, 1:], -100).reshape(-1)
        y_b = np.where(pair, idx[:, :-1], -100).reshape(-1)
        V = self.config.vocab_size
        loss_f = F.cross_entropy(logits_f.reshape(-1, V), y_f)
        loss_b = F.cross_entropy(logits_b.reshape(-1, V), y_b)
        return (logits_f, logits_b), (loss_f + loss_b) * 0.5

    def trace(self):
        raise NotImplementedError("ELMo.trace: an LSTM has no attention maps; use layers() to inspect")

    def perplexity(self, ids, batch_size=32):
        """{"forward", "backward", "mean"}: exp(mean cross-entropy) over block_size windows of a 1-D id array."""
        nll = evaluate_bilm(self, ids, batch_size)
        return {k: float(np.exp(v)) for k, v in nll.items()}


def evaluate_bilm(model, ids, batch_size=32):
    """Mean NLL per direction over consecutive non-overlapping windows: {"forward", "backward", "mean"}.

    Each window of block_size tokens gives block_size - 1 predictions per direction.
    """
    T = model.config.block_size
    ids = np.asarray(ids, dtype=np.int64)
    n_win = len(ids) // T
    if n_win < 1:
        raise ValueError(f"evaluate_bilm: {len(ids)} tokens is fewer than one window of {T}")
    was_training = model.training
    model.eval()
    sums = np.zeros(2)
    n = 0
    with minitl.no_grad():
        for s in range(0, n_win, batch_size):
            x = ids[s * T:min(s + batch_size, n_win) * T].reshape(-1, T)    # (b, T)
            (lf, lb), _ = model(x)
            for d, (lg, y) in enumerate(((lf, x[:, 1:]), (lb, x[:, :-1]))):
                sums[d] += float(F.cross_entropy(lg.reshape(-1, lg.shape[-1]), y.reshape(-1), reduction="sum").data)
            n += x[:, 1:].size
    model.train(was_training)
    f, b = sums / n
    return {"forward": f, "backward": b, "mean": (f + b) / 2}


# -- the "bank" demonstration -------------------------------------------------------
def word_positions(tokenizer, sentence, word):
    """Token positions [start, stop) of the first whole-word occurrence of ``word`` in ``sentence``."""
    m = re.search(rf"(?<!\w){re.escape(word)}(?!\w)", sentence, flags=re.IGNORECASE)
    if m is None:
        raise ValueError(f"contextual_similarity: {word!r} does not occur as a word in {sentence!r}")
    cut = m.start() - 1 if m.start() > 0 and sentence[m.start() - 1] == " " else m.start()  # " bank" is one piece
    start = len(tokenizer.encode(sentence[:cut]))
    stop = len(tokenizer.encode(sentence[:m.end()]))
    ids = tokenizer.encode(sentence)
    if tokenizer.decode(ids[start:stop]).strip().lower() != m.group(0).lower():
        raise ValueError(f"contextual_similarity: could not line {word!r} up with the tokens of {sentence!r}")
    return ids, start, stop


def contextual_similarity(model, sentences, word, layer=None, tokenizer=None):
    """Cosine similarities of ``word``'s vectors across sentences: (N, N) numpy array.

    Each sentence's vector for the word is the mean over its BPE pieces of the
    scalar mix (``layer=None``) or of one layer (``layer=0`` is the context-free
    token embedding: every occurrence gets the same vector, as in word2vec).
    """
    tok = tokenizer or model.tokenizer
    if tok is None:
        raise ValueError("contextual_similarity: no tokenizer (pass tokenizer= or load with from_pretrained)")
    vecs = []
    was_training = model.training
    model.eval()
    with minitl.no_grad():
        for s in sentences:
            ids, a, b = word_positions(tok, s, word)
            ids = ids[:model.config.block_size]
            if b > len(ids):
                raise ValueError(f"contextual_similarity: {word!r} lies beyond block_size in {s!r}")
            x = np.array([ids])
            h = model.hidden(x) if layer is None else model.layers(x)[layer]     # (1, T, C)
            vecs.append(h.data[0, a:b].astype(np.float64).mean(axis=0))          # (C,)
    model.train(was_training)
    v = np.stack(vecs)
    v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    return v @ v.T
