"""A tiny T5: an encoder-decoder transformer where every task is text in, text out.

Shape legend:
    B  batch size        S  encoder length (<= block_size)     T  decoder length (<= target_size)
    C  d_model           nh n_head     hs head size = C // nh     V  vocab_size

Raffel et al. (2020).  The encoder is BERT's stack (``blocks.Block``, a key-padding
mask, no causal mask); each decoder block is GPT's causal self-attention, then
*cross-attention* -- queries from the decoder, keys and values from the
encoder's output -- then the MLP.  One token embedding serves the encoder
input, the decoder input and (tied) the output layer.

Positions: learned absolute position embeddings (one table for the encoder,
one for the decoder), not T5's relative position bias.  A relative bias is a
(nh, S, S) term added to the attention scores; the fused attention kernel here
takes only causal / key-padding masks, so a bias would push every
self-attention onto the slow composed path.  At block_size 32-64 relative
positions' strength -- lengths beyond those seen in training -- does not come up.

Pretraining is span corruption (``span_corrupt``): ~15% of the tokens, in spans
of mean length 3, are cut out of the input and each span replaced by one
sentinel; the target is the spans, each after its sentinel.  minitl's BPE has
no <extra_id_k> tokens, so every span's sentinel is [MASK]: the spans come in
order, so the target is still unambiguous.

    model = T5(T5Config.from_preset("nano"))
    logits, loss = model(input_ids, attention_mask, labels=labels)   # teacher forcing, -100 ignored
    model.generate_text(["sentiment: what a lovely day"])           # greedy decoding -> ["positive"]
"""
from dataclasses import dataclass

import numpy as np

import minitl
from minitl.models.base import PretrainedMixin
from minitl.models.blocks import MLP, Block, SelfAttention, TransformerConfig, init_weights
from minitl.nn import functional as F
from minitl.nn import Dropout, Embedding, LayerNorm, Linear, Module, ModuleList

PRESETS = {
    "nano": dict(n_layer=2, n_head=2, d_model=64, block_size=32, target_size=16, vocab_size=512, dropout=0.0),
    "micro": dict(n_layer=3, n_head=4, d_model=128, block_size=64, target_size=32, vocab_size=8192, dropout=0.0),
}


@dataclass
class T5Config(TransformerConfig):
    """n_layer (encoder layers = decoder layers), n_head, d_model, block_size (encoder),
    target_size (decoder), vocab_size, dropout."""
    target_size: int = 16

    @classmethod
    def from_preset(cls, name, **overrides):
        """``T5Config.from_preset("nano", vocab_size=1024)``."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}: expected one of {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})


class CrossAttention(Module):
    """Queries from x (B, T, C), keys and values from memory (B, S, C) -> (B, T, C)."""

    def __init__(self, cfg):
        super().__init__()
        self.n_head = cfg.n_head
        self.q = Linear(cfg.d_model, cfg.d_model)
        self.kv = Linear(cfg.d_model, 2 * cfg.d_model)
        self.proj = Linear(cfg.d_model, cfg.d_model)
        self.drop = Dropout(cfg.dropout)

    def forward(self, x, memory, memory_mask=None):
        B, T, C = x.shape
        S = memory.shape[1]
        nh, hs = self.n_head, C // self.n_head
        q = self.q(x).reshape(B, T, nh, hs).transpose(1, 2)               # (B, nh, T, hs)
        kv = self.kv(memory).reshape(B, S, 2, nh, hs)                     # (B, S, 2, nh, hs)
        k = kv[:, :, 0].transpose(1, 2)                                   # (B, nh, S, hs)
        v = kv[:, :, 1].transpose(1, 2)                                   # (B, nh, S, hs)
        y = F.scaled_dot_product_attention(q, k, v, key_padding_mask=memory_mask)   # (B, nh, T, hs)
        return self.drop(self.proj(y.transpose(1, 2).reshape(B, T, C)))  # (B, T, C)


class DecoderBlock(Module):
    """x = x + self_attn(ln_1(x), causal); x = x + cross(ln_2(x), memory); x = x + mlp(ln_3(x))."""

    def __init__(self, cfg):
        super().__init__()
        self.ln_1 = LayerNorm(cfg.d_model)
        self.attn = SelfAttention(cfg)
        self.ln_2 = LayerNorm(cfg.d_model)
        self.cross = CrossAttention(cfg)
        self.ln_3 = LayerNorm(cfg.d_model)
        self.mlp = MLP(cfg)

    def forward(self, x, memory, memory_mask=None):
        x = x + self.attn(self.ln_1(x), is_causal=True)                   # (B, T, C)
        x = x + self.cross(self.ln_2(x), memory, memory_mask)
        return x + self.mlp(self.ln_3(x))


def _ids(x):
    return np.asarray(x.data if isinstance(x, minitl.Tensor) else x)


class T5(PretrainedMixin, Module):
    config_class = T5Config
    decoder_start_id = 0          # [PAD], as in T5: the decoder's first input token

    def __init__(self, config):
        super().__init__()
        self.config = config
        C = config.d_model
        self.wte = Embedding(config.vocab_size, C)          # shared: encoder in, decoder in, output
        self.wpe = Embedding(config.block_size, C)          # encoder positions
        self.wpe_dec = Embedding(config.target_size, C)     # decoder positions
        self.drop = Dropout(config.dropout)
        self.blocks = ModuleList([Block(config) for _ in range(config.n_layer)])        # the encoder
        self.ln_enc = LayerNorm(C)
        self.decoder = ModuleList([DecoderBlock(config) for _ in range(config.n_layer)])
        self.ln_f = LayerNorm(C)
        init_weights(self, 2 * config.n_layer)

    def encoder_parts(self):
        """The encoder, which is what ``hidden()`` runs: the decoder is not part of it."""
        return {"embeddings": [self.wte, self.wpe], "blocks": list(self.blocks), "final": [self.ln_enc]}

    def hidden(self, idx, attention_mask=None):
        """The encoder: (B, S) ids -> (B, S, C) (after ln_enc); padding (mask False) is never attended to."""
        idx = _ids(idx)
        B, S = idx.shape
        if S > self.config.block_size:
            raise ValueError(f"T5: input length {S} > block_size {self.config.block_size}")
        mask = None if attention_mask is None else _ids(attention_mask).astype(bool)
        if mask is not None and mask.shape != (B, S):
            raise ValueError(f"T5: attention_mask shape {mask.shape} != input shape {(B, S)}")
        x = self.drop(self.wte(idx) + self.wpe(np.arange(S)))            # (B, S, C)
        for block in self.blocks:
            x = block(x, key_padding_mask=mask)
        return self.ln_enc(x)

    def decode(self, decoder_input_ids, memory, memory_mask=None):
        """(B, T) decoder ids + encoder output (B, S, C) -> logits (B, T, V)."""
        d = _ids(decoder_input_ids)
        B, T = d.shape
        if T > self.config.target_size:
            raise ValueError(f"T5: decoder length {T} > target_size {self.config.target_size}")
        x = self.drop(self.wte(d) + self.wpe_dec(np.arange(T)))          # (B, T, C)
        for block in self.decoder:
            x = block(x, memory, memory_mask)
        h = self.ln_f(x)
        return F.linear(h.reshape(B * T, -1), self.wte.weight).reshape(B, T, -1)    # tied output layer

    def forward(self, input_ids, attention_mask=None, labels=None, decoder_input_ids=None):
        """Teacher forcing: (logits (B, T, V), mean cross-entropy over labels != -100, or None).

        Without ``decoder_input_ids`` the decoder reads ``labels`` shifted right
        behind the start token ([PAD]); -100 in the labels is read as [PAD].
        """
        if decoder_input_ids is None:
            if labels is None:
                raise ValueError("T5: pass labels or decoder_input_ids")
            decoder_input_ids = shift_right(_ids(labels), self.decoder_start_id)
        memory = self.hidden(input_ids, attention_mask)                    # (B, S, C)
        mask = None if attention_mask is None else _ids(attention_mask).astype(bool)
        logits = self.decode(decoder_input_ids, memory, mask)              # (B, T, V)
        if labels is None:
            return logits, None
        y = _ids(labels)
        if y.shape != logits.shape[:2]:
            raise ValueError(f"T5: labels shape {y.shape} != decoder shape {logits.shape[:2]}")
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1).astype(np.int64))
        return logits, loss

    def generate(self, input_ids, attention_mask=None, max_new_tokens=None, eos_id=None):
        """Greedy decoding: (B, S) ids -> (B, n) generated ids (start token not included).

        Each step reruns the decoder on everything so far (no cache: T is tiny) and
        appends the most likely token; rows stop at ``eos_id`` (later tokens are [PAD]).
        """
        n = min(max_new_tokens or self.config.target_size, self.config.target_size)
        ids = _ids(input_ids)
        was_training = self.training
        self.eval()
        out = np.full((len(ids), 1), self.decoder_start_id, np.int64)
        done = np.zeros(len(ids), bool)
        mask = None if attention_mask is None else _ids(attention_mask).astype(bool)
        with minitl.no_grad():
            memory = self.hidden(ids, mask)
            for _ in range(n):
                logits = self.decode(out, memory, mask).data[:, -1]        # (B, V)
                nxt = np.where(done, self.decoder_start_id, logits.argmax(-1))
                out = np.concatenate([out, nxt[:, None]], axis=1)
                if eos_id is not None:
                    done |= nxt == eos_id
                    if done.all():
                        break
        self.train(was_training)
        return out[:, 1:]

    def generate_text(self, texts, tokenizer=None, max_new_tokens=None, batch_size=128):
        """Strings in, strings out (greedy; stops at <|endoftext|>)."""
        tok = tokenizer or self.tokenizer
        if tok is None:
            raise ValueError("T5.generate_text: no tokenizer (pass tokenizer= or load with from_pretrained)")
        out = []
        for s in range(0, len(texts), batch_size):
            ids, mask = tok.encode_batch(list(texts[s:s + batch_size]), max_length=self.config.block_size)
            mask[:, 0] = True
            gen = self.generate(ids, mask, max_new_tokens, eos_id=tok.eot_id)
            for row in gen.tolist():
                row = row[:row.index(tok.eot_id)] if tok.eot_id in row else row
                out.append(tok.decode([i for i in row if i != self.decoder_start_id]).strip())
        return out

    def trace(self):
        raise NotImplementedError("T5.trace: not supported; use the encoder blocks' record flags")


def shift_right(labels, start_id=0):
    """(B, T) labels -> decoder inputs: start_id, then labels[:, :-1] (-100 read as start_id)."""
    labels = np.where(labels == -100, start_id, labels)
    return np.concatenate([np.full((len(labels), 1), start_id, labels.dtype), labels[:, :-1]], axis=1)


def span_corrupt(ids, sentinel_id, noise_density=0.15, mean_span=3.0, generator=None):
    """T5's span corruption of one id sequence -> (input ids, target ids), both 1-D int64.

    About ``noise_density`` of the tokens, in spans of mean length ``mean_span``
    (at least one span), are removed from the input, each span replaced by one
    ``sentinel_id``; the target lists every span after its sentinel, in order:

        ids  = [a b c d e f g]        spans [b c] and [f]
        input  = [a S d e S g]        target = [S b c S f]
    """
    rng = generator if generator is not None else minitl.random.rng()
    ids = np.asarray(ids, np.int64)
    n = len(ids)
    if n < 2:
        raise ValueError(f"span_corrupt: need at least 2 tokens, got {n}")
    n_noise = int(np.clip(round(n * noise_density), 1, n - 1))
    n_spans = int(np.clip(round(n_noise / mean_span), 1, n_noise))
    # split n_noise noise tokens into n_spans spans and n - n_noise kept tokens into n_spans + 1 gaps
    def parts(total, k, min_first):
        cuts = np.sort(rng.choice(np.arange(1, total), size=k - 1, replace=False)) if k > 1 else np.array([], int)
        sizes = np.diff(np.concatenate([[0], cuts, [total]]))
        return sizes
    noise = parts(n_noise, n_spans, 1)                                 # each >= 1
    keep = parts(n - n_noise + 1, n_spans + 1, 1)                      # gaps >= 1 ...
    keep[0] -= 1                                                       # ... except the first may be 0
    inp, tgt, pos = [], [], 0
    for k in range(n_spans):
        inp.extend(ids[pos:pos + keep[k]])
        pos += keep[k]
        inp.append(sentinel_id)
        tgt.append(sentinel_id)
        tgt.extend(ids[pos:pos + noise[k]])
        pos += noise[k]
    inp.extend(ids[pos:])
    return np.asarray(inp, np.int64), np.asarray(tgt, np.int64)


def pad_batch(seqs, width, pad_id, ignore=False):
    """Ragged id lists -> (B, width) int64, padded with pad_id (or -100 with ``ignore``), + bool mask."""
    out = np.full((len(seqs), width), -100 if ignore else pad_id, np.int64)
    mask = np.zeros((len(seqs), width), bool)
    for i, s in enumerate(seqs):
        s = list(s)[:width]
        out[i, :len(s)] = s
        mask[i, :len(s)] = True
    return out, mask


def span_batch(tokens, model_config, batch_size, sentinel_id, eos_id, pad_id=0, generator=None):
    """A pretraining batch from a 1-D id stream: random windows, corrupted.

    Returns (input_ids (B, S), attention_mask (B, S), labels (B, T) with -100 on padding);
    each target ends with ``eos_id`` (cut to target_size).
    """
    rng = generator if generator is not None else minitl.random.rng()
    S, T = model_config.block_size, model_config.target_size
    L = S                                                # a window of S tokens: its input is shorter
    starts = rng.integers(0, len(tokens) - L, size=batch_size)
    inputs, targets = [], []
    for s in starts:
        i, t = span_corrupt(tokens[s:s + L], sentinel_id, generator=rng)
        inputs.append(i)
        targets.append(list(t[:T - 1]) + [eos_id])
    ids, mask = pad_batch(inputs, S, pad_id)
    labels, _ = pad_batch(targets, T, pad_id, ignore=True)
    return ids, mask, labels


def text_pairs_batch(tok, sources, targets, model_config):
    """Encode (source text, target text) pairs: (input_ids, attention_mask, labels ending in <|endoftext|>)."""
    ids, mask = tok.encode_batch(list(sources), max_length=model_config.block_size)
    mask[:, 0] = True
    tgt = [tok.encode(t)[:model_config.target_size - 1] + [tok.eot_id] for t in targets]
    labels, _ = pad_batch(tgt, max(len(t) for t in tgt), tok.pad_id, ignore=True)
    return ids, mask, labels
