"""What every pretrained model here can do, whatever its architecture.

``PretrainedMixin`` sits beside ``Module`` in GPT and BERT (``class GPT(PretrainedMixin,
Module)``) and expects ``self.config`` (a config dataclass), ``self.blocks`` (a
ModuleList, in order from the input up) and ``self.hidden(idx, attention_mask)``
returning the final hidden states (B, T, C).  It adds:

* ``save_pretrained(dir)`` / ``from_pretrained(dir)``: a checkpoint directory
  (config.json, model.safetensors, tokenizer.json, meta.json), written atomically;
  loading is strict -- every key present, every shape equal, errors name them.
* ``summary()``: each layer's parameter count and output shape.
* ``trace()``: attention maps and per-layer activation / gradient norms.
* ``layer_groups()`` and ``freeze_to(n)``: embeddings, block 0 ... block N-1,
  head -- the groups fast.ai-style transfer freezes and unfreezes.
* ``features(idx, attention_mask)``: mean-pooled hidden states (B, C) for probes.
"""
import contextlib
import os
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

import minitl
from minitl import checkpoint
from minitl.data.batching import pad_sequences
from minitl.nn.loading import StateDictError, state_dict_problems
from minitl.optim.clip import grad_norm
from minitl.tensor import Tensor

PathLike = Union[str, os.PathLike]


def freeze_groups(groups, n):
    """``requires_grad = False`` on the first ``n`` of ``groups`` [(name, [Parameter])], True on the rest.

    Negative ``n`` counts from the end, as in fast.ai: ``-1`` leaves only the last group trainable.
    """
    n = n % len(groups) if n < 0 else min(n, len(groups))
    for i, (_, params) in enumerate(groups):
        for p in params:
            p.requires_grad = i >= n


def mean_pool(h, attention_mask=None):
    """(B, T, C) hidden states -> (B, C): the mean over the real tokens (mask True), all when None."""
    if attention_mask is None:
        return h.sum(dim=1) * (1.0 / h.shape[1])               # (B, C)
    m = np.asarray(attention_mask, np.float32)[:, :, None]     # (B, T, 1)
    return (h * m).sum(dim=1) / np.maximum(m.sum(axis=1), 1.0)  # (B, C)


class PretrainedMixin:
    config_class = None          # set by each model: GPTConfig / BERTConfig
    tokenizer = None             # set by from_pretrained when the directory has one

    # -- saving and loading ------------------------------------------------
    def save_pretrained(self, path: PathLike, tokenizer=None, meta: Optional[dict] = None) -> PathLike:
        """Write ``path/`` = config.json + model.safetensors (+ tokenizer.json) + meta.json.

        The directory is written beside ``path`` and renamed into place, so an
        interrupted save leaves the previous version intact.
        """
        tokenizer = tokenizer if tokenizer is not None else self.tokenizer
        info = {"model": type(self).__name__, "minitl_version": minitl.__version__,
                "seed": minitl.random.initial_seed(), **(meta or {})}
        extra = {"tokenizer.json": tokenizer.save} if tokenizer is not None else None
        checkpoint.save_dir(path, self.state_dict(), self.config.to_dict(), meta=info, extra_files=extra)
        return path

    @classmethod
    def from_pretrained(cls, path: PathLike) -> "PretrainedMixin":
        """Build the model from ``path/config.json`` and load ``path/model.safetensors`` strictly."""
        state, config, meta = checkpoint.load_dir(path)
        model = cls(cls.config_class.from_dict(config))
        model.load_pretrained_weights(state, source=os.path.join(path, "model.safetensors"))
        model.meta = meta
        tok_path = os.path.join(path, "tokenizer.json")
        if os.path.exists(tok_path):
            from minitl.text import BPETokenizer
            tok = BPETokenizer.load(tok_path)
            if tok.vocab_size != model.config.vocab_size:
                raise ValueError(f"{path}: tokenizer.json has {tok.vocab_size} tokens but "
                                 f"config.json says vocab_size={model.config.vocab_size}")
            model.tokenizer = tok
        return model.eval()

    def load_pretrained_weights(self, state: Mapping[str, np.ndarray], source: str = "state_dict") -> "PretrainedMixin":
        """Strict load: equal key sets and equal shapes, every problem named at once (a StateDictError,
        which is a ValueError), then ``load_state_dict``."""
        what = "state_dict" if source == "state_dict" else "file"
        problems = state_dict_problems(self, state, strict=True, source=what)
        if problems:
            raise StateDictError(f"cannot load {source} into {type(self).__name__}:\n  " + "\n  ".join(problems),
                                 problems)
        self.load_state_dict(state, strict=True)
        return self

    # -- layer groups, for transfer learning -------------------------------
    # How texts are wrapped: BERT saw [CLS] text [SEP] in pretraining, GPT saw
    # documents each preceded by <|endoftext|> (the one separator in its stream).
    uses_special_tokens = False

    def encoder_parts(self) -> Dict[str, list]:
        """The modules ``hidden()`` runs, by role: {"embeddings": [...], "blocks": [...], "final": [...]}.

        Found from the module tree, not from parameter names: the embeddings are
        this model's direct ``Embedding`` children, the blocks are ``self.blocks``,
        the final part is ``self.ln_f``.  Anything else (an LM head, BERT's pooler)
        is not part of the encoder.
        """
        from minitl.nn import Embedding
        emb = [m for _, m in self.named_children() if isinstance(m, Embedding)]
        return {"embeddings": emb, "blocks": list(self.blocks), "final": [self.ln_f]}

    def layer_groups(self) -> List[Tuple[str, list]]:
        """[(name, [Parameter])]: "embeddings", "blocks.0" ... "blocks.N-1", "head", input first.

        "head" is everything above the blocks: the final layer norm and the
        pretraining head (GPT's output layer is tied to the token embedding, so
        it lives in "embeddings").
        """
        parts = self.encoder_parts()
        groups = [("embeddings", [p for m in parts["embeddings"] for p in m.parameters()])]
        groups += [(f"blocks.{i}", list(b.parameters())) for i, b in enumerate(parts["blocks"])]
        seen = {id(p) for _, ps in groups for p in ps}
        groups.append(("head", [p for p in self.parameters() if id(p) not in seen]))
        return groups

    def freeze_to(self, n: int) -> "PretrainedMixin":
        """Freeze the first ``n`` layer groups, unfreeze the rest (fast.ai's ``freeze_to``).

        ``freeze_to(-1)`` trains only the head; ``freeze_to(0)`` trains everything.
        """
        freeze_groups(self.layer_groups(), n)
        return self

    # -- features for probes and transfer ----------------------------------
    def features(self, idx: np.ndarray, attention_mask: Optional[np.ndarray] = None) -> Tensor:
        """Mean of the final hidden states over the real tokens: (B, T) ids -> (B, C)."""
        return mean_pool(self.hidden(idx, attention_mask), attention_mask)

    def encode(self, texts: Sequence[str], tokenizer=None, max_length: Optional[int] = None) -> List[List[int]]:
        """Texts -> ragged id lists, wrapped as the model saw text in pretraining.

        BERT (``uses_special_tokens``) gets ``[CLS] text [SEP]``; GPT and the others
        ``<|endoftext|>`` then the text (in the pretraining stream every document follows
        one).  The one place texts are wrapped: ``encode_texts`` and ``SequenceClassifier``
        both call it.

        Args:
            texts: strings.  tokenizer: default ``self.tokenizer``.
            max_length: longest sequence, the specials included (default block_size).
        Returns:
            A list of id lists, each at least one token long.
        """
        tok = tokenizer or self.tokenizer
        if tok is None:
            raise ValueError(f"{type(self).__name__}.encode: no tokenizer (pass tokenizer= or use from_pretrained)")
        T = max_length or self.config.block_size
        if self.uses_special_tokens:
            seqs, _ = tok.encode_batch(list(texts), max_length=T, padding=False, add_special_tokens=True)
            return seqs
        return [[tok.eot_id] + tok.encode(t)[:T - 1] for t in texts]

    def encode_texts(self, texts: Sequence[str], tokenizer=None, batch_size: int = 128) -> np.ndarray:
        """Frozen features for a list of texts: (N,) strings -> (N, C) float32 numpy array.

        Each text is wrapped by ``encode`` (truncated to block_size), and its hidden states
        are mean-pooled over its real tokens.
        """
        tok = tokenizer or self.tokenizer
        was_training = self.training
        self.eval()
        out = []
        with minitl.no_grad():
            for s in range(0, len(texts), batch_size):
                ids, mask = pad_sequences(self.encode(texts[s:s + batch_size], tok), tok.pad_id)  # (b, T)
                out.append(self.features(ids, mask).data)          # (b, C)
        self.train(was_training)
        return np.concatenate(out).astype(np.float32)

    # -- inspection --------------------------------------------------------
    def summary(self, T: Optional[int] = None, file=None) -> str:
        """Print each layer's parameter count and output shape (a dummy (1, T) forward)."""
        T = T or min(8, self.config.block_size)
        shapes = {}
        mods = [(n, m) for n, m in self.named_modules() if n]

        def record(name):
            def hook(module, args, out):
                first = out[0] if isinstance(out, tuple) else out
                shapes[name] = tuple(first.shape) if isinstance(first, Tensor) else None
            return hook
        handles = [m.register_forward_hook(record(name)) for name, m in mods]
        try:
            with minitl.no_grad():
                self.hidden(np.zeros((1, T), np.int64), None)
        finally:
            for h in handles:
                h.remove()
        lines = [f"{type(self).__name__} summary (input (1, {T})); params include sub-layers:",
                 f"{'layer':<28}{'type':<16}{'params':>10}  output shape"]
        for name, m in mods:
            n = m.num_parameters()
            lines.append(f"{name:<28}{type(m).__name__:<16}{n:>10,}  {shapes.get(name, '-')}")
        total, trainable = self.num_parameters(), self.num_parameters(trainable_only=True)
        lines.append(f"total: {total:,} parameters ({trainable:,} trainable, {total - trainable:,} frozen)")
        text = "\n".join(lines)
        print(text, file=file)
        return text

    @contextlib.contextmanager
    def trace(self) -> Iterator["Trace"]:
        """``with model.trace() as tr: loss = ...; loss.backward()`` then
        ``tr.attention[layer]`` (B, nh, T, T), ``tr.activation_norms`` and ``tr.grad_norms()``."""
        tr = Trace(self)
        for b in self.blocks:
            b.record = b.attn.record = True
        try:
            yield tr
        finally:
            for b in self.blocks:
                b.record = b.attn.record = False


class Trace:
    """What ``model.trace()`` captured during the last forward (and backward)."""

    def __init__(self, model):
        self.model = model

    @property
    def attention(self):
        return [b.attn.probs for b in self.model.blocks]

    @property
    def activation_norms(self):
        """Mean L2 norm of each block's output vectors, block 0 first."""
        return [b.act_norm for b in self.model.blocks]

    def grad_norms(self):
        """{layer group: L2 norm of its parameters' gradients} after ``backward()``."""
        return {name: grad_norm(params) if any(p.grad is not None for p in params) else None
                for name, params in self.model.layer_groups()}

