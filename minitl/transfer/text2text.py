"""Text-to-text fine-tuning of a T5: every task is a prefix in, a string out.

    model = T5.from_pretrained(hub.pretrained("t5"))
    res = fit_text2text(model, texts, labels, ["negative", "positive"], FinetuneConfig(epochs=10, lr=5e-4),
                        aux="copy")                       # multi-task: sentiment + a copy task
    predict_labels(model, test_texts, ["negative", "positive"])   # (N,) class ids, + the invalid rate

What one run does (Raffel et al. 2020, section 2.4):
1. each labelled text becomes a pair ``"sentiment: <text>" -> "<label name>"``; with
   ``aux`` a second task from the same texts joins it under its own prefix --
   ``"copy: <text>" -> its first words`` or ``"cloze: <text with a word as ___>" -> that word``
   -- so one model, one loss, two tasks told apart only by the prefix;
2. the pairs are encoded once; batch ``step`` is a slice of a per-epoch permutation
   seeded by ``(seed, epoch)`` (the data position is the step: exact resume);
3. the shared ``Trainer`` (``minitl/train.py``) runs teacher-forced cross-entropy
   over the target tokens, AdamW, a warmup-linear / slanted-triangular / constant schedule;
4. prediction is greedy decoding; a decoded string that is not exactly one of the
   label names (a tiny model can say "posit" or "the") falls back to *rank
   classification*: the label whose whole string (+ end token) the decoder scores
   most likely.  So a prediction is always a class id, and ``invalid_rate`` says how
   often the fallback was needed.
"""
from dataclasses import dataclass
import time

import numpy as np

import minitl
from minitl.models.t5 import pad_batch, shift_right
from minitl.optim import LinearDecay, SlantedTriangular
from minitl.train import TrainConfig, Trainer

TASK_PREFIX = "sentiment: "
AUX_TASKS = ("copy", "cloze")
COPY_WORDS = 4            # the copy task's target: the text's first 4 words (fits any target_size >= 16)


@dataclass
class Text2TextResult:
    model: object
    config: object                      # the FinetuneConfig used
    history: list
    seconds: float
    steps: int
    trainable_params: int
    n_pairs: int                        # training pairs, every task together
    interrupted: bool = False


def copy_pairs(texts):
    """'copy: <text>' -> its first COPY_WORDS words, for texts with at least one word."""
    src, tgt = [], []
    for t in texts:
        words = t.split()
        if words:
            src.append("copy: " + t)
            tgt.append(" ".join(words[:COPY_WORDS]))
    return src, tgt


def cloze_pairs(texts, rng):
    """'cloze: <text with one word blanked as ___>' -> that word, for texts with >= 3 words
    and an alphabetic word longer than 2 letters."""
    src, tgt = [], []
    for t in texts:
        words = t.split()
        cand = [i for i, w in enumerate(words) if w.isalpha() and len(w) > 2]
        if len(words) >= 3 and cand:
            i = cand[rng.integers(len(cand))]
            src.append("cloze: " + " ".join(words[:i] + ["___"] + words[i + 1:]))
            tgt.append(words[i])
    return src, tgt


def task_pairs(texts, labels, label_names, aux=None, seed=0):
    """(sources, targets): the sentiment pairs, then the ``aux`` task's pairs from the same texts."""
    if aux not in (None,) + AUX_TASKS:
        raise ValueError(f"text2text: unknown auxiliary task {aux!r}; expected one of {AUX_TASKS} or None")
    src = [TASK_PREFIX + t for t in texts]
    tgt = [label_names[int(k)] for k in labels]
    if aux == "copy":
        s, t = copy_pairs(texts)
    elif aux == "cloze":
        s, t = cloze_pairs(texts, np.random.default_rng(seed))
    else:
        s, t = [], []
    return src + s, tgt + t


def encode_pairs(tok, sources, targets, config):
    """Encode once: source id lists (<= block_size) and target id lists ending in <|endoftext|> (<= target_size)."""
    src = [tok.encode(s)[:config.block_size] or [tok.unk_id] for s in sources]
    tgt = [tok.encode(t)[:config.target_size - 1] + [tok.eot_id] for t in targets]
    return src, tgt


def _batch(src, tgt, rows, pad_id):
    ids, mask = pad_batch([src[i] for i in rows], max(len(src[i]) for i in rows), pad_id)
    labels, _ = pad_batch([tgt[i] for i in rows], max(len(tgt[i]) for i in rows), pad_id, ignore=True)
    return ids, mask, labels


def fit_text2text(model, texts, labels, label_names, config, aux=None, out_dir=None, resume=False):
    """Fine-tune a T5 in place on sentiment-as-text (+ an ``aux`` task); returns a ``Text2TextResult``.

    Args:
        model: a T5 with its tokenizer set.
        texts, labels: training texts and their class ids (0..K-1).
        label_names: K strings, the targets the decoder learns to write.
        config: a FinetuneConfig; ``epochs``, ``lr``, ``batch_size``, ``schedule``,
            ``weight_decay``, ``grad_clip``, ``seed``, ``progress`` are used; its strategy
            must be "full" (every T5 weight trains: the decoder is the head).
        aux: None, "copy" or "cloze": a second task under its own prefix (multi-task).
        out_dir, resume: the Trainer's checkpoint directory and exact resume.
    """
    from minitl.transfer.finetune import check_labels
    if config.strategy != "full":
        raise ValueError(f"text2text: strategy {config.strategy!r} is not supported; the decoder is the "
                         f"head, so text-to-text fine-tuning trains every weight ('full')")
    tok = model.tokenizer
    if tok is None:
        raise ValueError("text2text: the T5 has no tokenizer (load it with from_pretrained)")
    y = check_labels(labels, len(label_names), "text2text labels")
    if len(texts) != len(y):
        raise ValueError(f"text2text: {len(texts)} texts but {len(y)} labels")
    t0 = time.perf_counter()
    sources, targets = task_pairs(list(texts), y, list(label_names), aux, config.seed)
    src, tgt = encode_pairs(tok, sources, targets, model.config)
    B = min(config.batch_size, len(src))
    per_epoch = -(-len(src) // B)
    steps = config.epochs * per_epoch

    def get_batch(step):            # epoch e's order: a permutation seeded by (seed, e)
        e, i = divmod(step, per_epoch)
        order = np.random.default_rng((config.seed, e)).permutation(len(src))
        return _batch(src, tgt, order[i * B:(i + 1) * B], tok.pad_id)

    schedule = {"linear": LinearDecay(steps, warmup_steps=max(1, steps // 10)),
                "stlr": SlantedTriangular(steps, cut_frac=0.1, ratio=32),
                "constant": lambda s: 1.0}[config.schedule]
    minitl.manual_seed(config.seed)
    for p in model.parameters():
        p.requires_grad = True
    tcfg = TrainConfig(steps=steps, lr=config.lr, warmup_steps=0, weight_decay=config.weight_decay,
                       grad_clip=config.grad_clip, log_every=per_epoch, ckpt_every=per_epoch if out_dir else 0,
                       betas=(0.9, 0.999), progress=config.progress, desc=f"text2text{'+' + aux if aux else ''}")
    trainer = Trainer(model, lambda m, b: m(b[0], b[1], labels=b[2])[1], get_batch, tcfg, out_dir=out_dir,
                      schedule=schedule, tokens_fn=lambda b: int(b[1].sum()))
    trainer.fit(resume=resume)
    model.eval()
    return Text2TextResult(model, config, trainer.history, time.perf_counter() - t0, trainer.step,
                           model.num_parameters(trainable_only=True), len(src), trainer.interrupted)


def label_scores(model, texts, label_names, prefix=TASK_PREFIX, batch_size=128):
    """(N, K) log-likelihood of each label string (+ <|endoftext|>) given ``prefix + text``, teacher-forced."""
    tok = model.tokenizer
    src, tgt = encode_pairs(tok, [prefix + t for t in texts], list(label_names), model.config)
    out = np.zeros((len(texts), len(label_names)))
    was = model.training
    model.eval()
    with minitl.no_grad():
        for s in range(0, len(src), batch_size):
            rows = range(s, min(s + batch_size, len(src)))
            ids, mask = pad_batch([src[i] for i in rows], max(len(src[i]) for i in rows), tok.pad_id)
            memory = model.hidden(ids, mask)                                  # (b, S, C) once per batch
            for k, t in enumerate(tgt):
                y = np.tile(np.asarray(t, np.int64), (len(rows), 1))          # (b, L)
                logits = model.decode(shift_right(y, model.decoder_start_id), memory, mask).data  # (b, L, V)
                z = logits - logits.max(-1, keepdims=True)
                logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
                out[s:s + len(rows), k] = np.take_along_axis(logp, y[..., None], -1)[..., 0].sum(1)
    model.train(was)
    return out


def parse_label(text, label_names):
    """The class id whose name equals the decoded ``text`` (stripped, case-insensitive), else -1."""
    names = [n.strip().lower() for n in label_names]
    t = text.strip().lower()
    return names.index(t) if t in names else -1


def predict_labels(model, texts, label_names, prefix=TASK_PREFIX, batch_size=128):
    """Greedy decoding -> (N,) class ids, and the fraction of outputs that were not a label name
    (those fall back to the most likely label string: ``label_scores``)."""
    texts = list(texts)
    if not texts:
        return np.zeros(0, np.int64), 0.0
    tok = model.tokenizer
    longest = max(len(tok.encode(n)) for n in label_names) + 1                 # the label + <|endoftext|>
    decoded = model.generate_text([prefix + t for t in texts], max_new_tokens=longest, batch_size=batch_size)
    pred = np.array([parse_label(d, label_names) for d in decoded], np.int64)
    bad = np.flatnonzero(pred < 0)
    if len(bad):
        pred[bad] = label_scores(model, [texts[i] for i in bad], label_names, prefix, batch_size).argmax(1)
    return pred, len(bad) / len(texts)


class Text2TextClassifier:
    """A fine-tuned T5 seen as a classifier (what ``minitl evaluate`` / ``predict`` call):
    ``predict`` is greedy decoding with the fallback, ``predict_proba`` the softmax of the
    label strings' log-likelihoods (rank classification), ``config.label_names`` / ``n_classes``.

        clf = Text2TextClassifier.from_pretrained("runs/ft/model")   # saved by save_text2text
    """

    def __init__(self, model, label_names, prefix=TASK_PREFIX):
        from types import SimpleNamespace
        self.model, self.prefix = model, prefix
        self.config = SimpleNamespace(label_names=list(label_names), n_classes=len(label_names))
        self.tokenizer = model.tokenizer

    def predict(self, texts, batch_size=128):
        """(N,) texts -> (N,) class ids."""
        return predict_labels(self.model, texts, self.config.label_names, self.prefix, batch_size)[0]

    def predict_proba(self, texts, batch_size=128):
        """(N,) texts -> (N, K) softmax over the K label strings' log-likelihoods."""
        z = label_scores(self.model, list(texts), self.config.label_names, self.prefix, batch_size)
        z = np.exp(z - z.max(1, keepdims=True))
        return z / z.sum(1, keepdims=True)

    def save_pretrained(self, path, meta=None):
        """The T5's from_pretrained directory; meta.json records the task, label names and prefix."""
        return self.model.save_pretrained(path, tokenizer=self.tokenizer, meta={
            "task": "text2text", "label_names": self.config.label_names, "prefix": self.prefix, **(meta or {})})

    @classmethod
    def from_pretrained(cls, path):
        from minitl.models.t5 import T5
        model = T5.from_pretrained(path)
        meta = getattr(model, "meta", None) or {}
        if meta.get("task") != "text2text" or not meta.get("label_names"):
            raise ValueError(f"{path}: a pretrained T5, not one fine-tuned text-to-text (meta.json has no "
                             f"task 'text2text' and label_names); `minitl finetune --model {path}` makes one")
        return cls(model, meta["label_names"], meta.get("prefix", TASK_PREFIX))
