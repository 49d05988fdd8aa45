"""SequenceClassifier: a pretrained backbone + pooling + a new linear head.

Shape legend:  B batch   T tokens   C d_model   K classes

    backbone = GPT.from_pretrained("runs/gpt/model")
    clf = SequenceClassifier(backbone, n_classes=2, pool="mean", label_names=["negative", "positive"])
    logits = clf(ids, attention_mask)          # (B, T) -> (B, K)
    clf.layer_groups()                         # embeddings, blocks.0 .. blocks.L-1, head
    clf.freeze_to(-1)                          # fast.ai: only the head trains
    clf.save_pretrained("runs/clf"); SequenceClassifier.from_pretrained("runs/clf")

What runs, for one text:  ids -> backbone.hidden (embeddings -> L blocks -> final
layer norm) -> (B, T, C) -> pool over the real tokens -> (B, C) -> dropout ->
Linear(C, K) -> logits.  The pretraining head (GPT's tied output layer is part of
the embedding; BERT's MLM head and its never-trained pooler) is kept, so the
pretraining loss can still be measured after fine-tuning (catastrophic
forgetting), but it is not part of the classifier: its parameters are frozen
and belong to no layer group.

Layer groups come from modules (``backbone.encoder_parts()``), never from
parameter names, so they survive any wrapping: "embeddings", one group per
block, and "head" = the backbone's final layer norm + the new linear head.
"""
import os
from dataclasses import dataclass, asdict, field

import numpy as np

import minitl
from minitl import checkpoint
from minitl.data.batching import pad_sequences
from minitl.models.base import freeze_groups, mean_pool
from minitl.nn import Module, Linear, Dropout

POOLS = ("mean", "cls", "last")


@dataclass
class ClassifierConfig:
    """What ``from_pretrained`` needs to rebuild a classifier (saved as config.json)."""
    backbone: str                       # "GPT" / "BERT" (a class in BACKBONES)
    backbone_config: dict
    n_classes: int
    pool: str = "mean"
    dropout: float = 0.1
    label_names: list = field(default_factory=list)

    def to_dict(self):
        return asdict(self)


def backbones():
    """{class name: class} of the backbones a classifier can wrap and reload."""
    from minitl.models import BERT, GPT
    out = {"GPT": GPT, "BERT": BERT}
    from minitl.models.elmo import ELMo
    from minitl.models.t5 import T5
    out.update(ELMo=ELMo, T5=T5)
    return out


class SequenceClassifier(Module):
    """A backbone with ``hidden(ids, mask) -> (B, T, C)`` and ``encoder_parts()``, plus a head.

    Args:
        backbone: a GPT or BERT (anything with ``hidden``, ``encoder_parts``, ``config``).
        n_classes: K, the number of labels.
        pool: "mean" (average over real tokens), "cls" (position 0: BERT's [CLS]) or
            "last" (the last real token: the only one a causal GPT lets see the whole text).
        dropout: on the pooled vector, before the head.
        label_names: K names, saved with the model and used by ``predict``.
    """

    def __init__(self, backbone, n_classes, pool="mean", dropout=0.1, label_names=None):
        super().__init__()
        if pool not in POOLS:
            raise ValueError(f"SequenceClassifier: unknown pool {pool!r}; expected one of {POOLS}")
        if n_classes < 2:
            raise ValueError(f"SequenceClassifier: n_classes must be >= 2, got {n_classes}")
        label_names = list(label_names) if label_names is not None else [str(i) for i in range(n_classes)]
        if len(label_names) != n_classes:
            raise ValueError(f"SequenceClassifier: {len(label_names)} label names for {n_classes} classes")
        self.backbone = backbone
        self.drop = Dropout(dropout)
        self.head = Linear(backbone.config.d_model, n_classes)     # (C,) -> (K,), freshly initialised
        # a small head init, as BERT's: the first logits are near 0, the first loss near log K
        self.head.weight.data = (minitl.random.rng().standard_normal(self.head.weight.shape) * 0.02
                                 ).astype(np.float32)
        self.config = ClassifierConfig(type(backbone).__name__, backbone.config.to_dict(), n_classes,
                                       pool, dropout, label_names)
        self.tokenizer = getattr(backbone, "tokenizer", None)
        for p in self.unused_parameters():
            p.requires_grad = False

    # -- the forward pass ---------------------------------------------------
    def pool(self, h, attention_mask):
        """(B, T, C) hidden states -> (B, C) one vector per text."""
        if self.config.pool == "mean":
            return mean_pool(h, attention_mask)                       # (B, C)
        if self.config.pool == "cls":
            return h[:, 0]                                            # (B, C)
        B, T, C = h.shape                                             # "last"
        m = np.ones((B, T), bool) if attention_mask is None else np.asarray(attention_mask, bool)
        last = np.maximum(m.sum(1) - 1, 0)                            # (B,) index of the last real token
        return h[np.arange(B), last]                                  # (B, C)

    def forward(self, ids, attention_mask=None):
        """(B, T) ids (+ (B, T) bool mask, True on real tokens) -> (B, K) logits."""
        h = self.backbone.hidden(ids, attention_mask)                 # (B, T, C)
        return self.head(self.drop(self.pool(h, attention_mask)))     # (B, K)

    # -- layer groups, freezing ----------------------------------------------
    def module_groups(self):
        """[(name, [Module])]: "embeddings", "blocks.0" ... "blocks.L-1", "head" -- input first."""
        parts = self.backbone.encoder_parts()
        return ([("embeddings", parts["embeddings"])]
                + [(f"blocks.{i}", [b]) for i, b in enumerate(parts["blocks"])]
                + [("head", parts["final"] + [self.head])])

    def layer_groups(self):
        """[(name, [Parameter])], the groups fast.ai-style strategies freeze and unfreeze."""
        return [(name, [p for m in mods for p in m.parameters()]) for name, mods in self.module_groups()]

    def unused_parameters(self):
        """The backbone's parameters outside the encoder (LM head, pooler): never trained here."""
        used = {id(p) for _, ps in self.layer_groups() for p in ps}
        return [p for p in self.parameters() if id(p) not in used]

    def freeze_to(self, n):
        """Freeze the first ``n`` layer groups, train the rest (``-1``: only the head)."""
        freeze_groups(self.layer_groups(), n)
        return self

    def freeze(self):
        """fast.ai's ``freeze()``: only the head trains (``freeze_to(-1)``)."""
        return self.freeze_to(-1)

    def unfreeze(self):
        """Every layer group trains (the unused pretraining head stays frozen)."""
        return self.freeze_to(0)

    def train(self, mode=True):
        """Training mode, except that a layer group whose weights are all frozen stays in eval
        mode: a frozen layer is a fixed feature extractor, so its dropout is off."""
        super().train(mode)
        if mode:
            for _, mods in self.module_groups():
                if not any(p.requires_grad for m in mods for p in m.parameters()):
                    for m in mods:
                        m.eval()
        return self

    # -- texts in, labels out ------------------------------------------------
    def encode(self, texts, max_length=None):
        """Texts -> ragged id lists, wrapped as the backbone saw text in pretraining
        (``PretrainedMixin.encode``: the one place texts are wrapped)."""
        return self.backbone.encode(texts, self._tokenizer(), max_length)

    def map_batches(self, texts, fn, batch_size=128):
        """Run ``fn(ids, mask) -> (b, ...) Tensor`` over ``texts`` in batches, in eval mode without
        a graph, and concatenate the results: the one inference loop of the classifier."""
        was = self.training
        self.eval()
        out = []
        with minitl.no_grad():
            for s in range(0, len(texts), batch_size):
                ids, mask = pad_sequences(self.encode(texts[s:s + batch_size]), self._tokenizer().pad_id)
                out.append(fn(ids, mask).data)
        self.train(was)
        return np.concatenate(out)

    def features(self, texts, batch_size=128):
        """(N,) texts -> (N, C) pooled backbone features (what the head reads), float32."""
        return self.map_batches(list(texts), lambda ids, mask: self.pool(self.backbone.hidden(ids, mask), mask),
                                batch_size).astype(np.float32)

    def predict_proba(self, texts, batch_size=128):
        """(N,) texts -> (N, K) class probabilities (eval mode, no graph)."""
        if len(texts) == 0:
            return np.zeros((0, self.config.n_classes))
        z = self.map_batches(list(texts), self, batch_size).astype(np.float64)    # (N, K) logits
        z = np.exp(z - z.max(1, keepdims=True))
        return z / z.sum(1, keepdims=True)

    def predict(self, texts, batch_size=128):
        """(N,) texts -> (N,) int class ids (``config.label_names`` names them)."""
        return self.predict_proba(texts, batch_size).argmax(1)

    def _tokenizer(self):
        if self.tokenizer is None:
            raise ValueError("SequenceClassifier: no tokenizer (load the backbone with from_pretrained "
                             "or set .tokenizer)")
        return self.tokenizer

    # -- saving and loading ----------------------------------------------------
    def save_pretrained(self, path, meta=None):
        """``path/``: config.json (backbone config, K, pool, label names), model.safetensors,
        tokenizer.json, meta.json (the recipe used); written atomically."""
        info = {"model": "SequenceClassifier", "backbone": self.config.backbone,
                "minitl_version": minitl.__version__, **(meta or {})}
        extra = {"tokenizer.json": self.tokenizer.save} if self.tokenizer is not None else None
        checkpoint.save_dir(path, self.state_dict(), self.config.to_dict(), meta=info, extra_files=extra)
        return path

    @classmethod
    def from_pretrained(cls, path):
        """Rebuild from ``save_pretrained``'s directory; loading is strict (keys and shapes)."""
        state, config, meta = checkpoint.load_dir(path)
        if "backbone" not in config or "n_classes" not in config:
            raise ValueError(f"{path}: config.json is not a SequenceClassifier's (it has "
                             f"{sorted(config)}); a pretrained backbone loads with its own class")
        cfg = ClassifierConfig(**config)
        classes = backbones()
        if cfg.backbone not in classes:
            raise ValueError(f"{path}: unknown backbone {cfg.backbone!r}; expected one of {sorted(classes)}")
        Backbone = classes[cfg.backbone]
        backbone = Backbone(Backbone.config_class.from_dict(cfg.backbone_config))
        model = cls(backbone, cfg.n_classes, cfg.pool, cfg.dropout, cfg.label_names)
        backbone.load_pretrained_weights({k[len("backbone."):]: v for k, v in state.items()
                                          if k.startswith("backbone.")}, source=path)
        head = {k[len("head."):]: v for k, v in state.items() if k.startswith("head.")}
        model.head.load_state_dict(head, strict=True)
        extra = sorted(k for k in state if not k.startswith(("backbone.", "head.")))
        if extra:
            raise ValueError(f"{path}: unexpected keys {extra}")
        tok_path = os.path.join(path, "tokenizer.json")
        if os.path.exists(tok_path):
            from minitl.text import BPETokenizer
            model.tokenizer = backbone.tokenizer = BPETokenizer.load(tok_path)
            if model.tokenizer.vocab_size != backbone.config.vocab_size:
                raise ValueError(f"{path}: tokenizer.json has {model.tokenizer.vocab_size} tokens, "
                                 f"the backbone's vocab_size is {backbone.config.vocab_size}")
        model.meta = meta
        return model.eval()

