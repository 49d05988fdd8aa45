"""The pretraining recipe for the tiny GPT and BERT: ``pretrain(PretrainConfig(...), out)``.

    from minitl.pretrain import PretrainConfig, pretrain
    run = pretrain(PretrainConfig("gpt", corpus="wiki+news+tweets-text", preset="micro", steps=1000), "runs/gpt")
    run["model"].generate_text("The history of")
    # ULMFiT stage 2: continue from a checkpoint on the target domain's unlabelled text
    pretrain(PretrainConfig("gpt", init="runs/gpt/model", corpus="tweets-text", steps=300, lr=5e-4), "runs/gpt-tw")

What a run does (``minitl pretrain gpt|bert`` is a thin face over it):
1. a byte-level BPE trained on the corpus (or, with ``init``, the checkpoint's own; with
   ``tokenizer``, that file's);
2. the corpus encoded once into one id stream per split, cached in the run
   directory under a name keyed by the tokenizer's and corpus's hash (a rerun with
   another corpus or vocabulary can never pick up stale ids), written atomically;
3. the shared ``Trainer``: GPT predicts each next token of random windows; BERT
   fills 15% masked tokens of random windows wrapped as ``[CLS] ... [SEP]``, its
   output bias started at the unigram log-frequencies;
4. ``out/model/``: a ``from_pretrained`` directory with the recipe and the final
   validation numbers in meta.json.

A run directory holds run.json (the recipe, checked on ``resume``), tokenizer.json,
the id caches, checkpoint/ and metrics.jsonl.  Ctrl-C writes a checkpoint;
``resume=True`` continues it exactly.
"""
import hashlib
import json
import os
import time
from dataclasses import dataclass, asdict
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

import minitl
from minitl.data.batching import encode_corpus, get_lm_batch, mlm_mask

KINDS = ("gpt", "bert")
# settings a resumed run must share with the run it continues
RESUME_KEYS = ("kind", "corpus", "preset", "batch_size", "lr", "warmup", "seed", "init", "vocab_size",
               "tokenizer")
# Training's validation evaluations read the first N windows of the validation split (and BERT masks
# them with EVAL_SEED): ``minitl evaluate --windows N`` reproduces the numbers in metrics.jsonl.
EVAL_WINDOWS = {"gpt": 200, "bert": 400}
EVAL_SEED = 1234


@dataclass
class PretrainConfig:
    kind: str = "gpt"                 # "gpt" (next token) or "bert" (masked tokens)
    corpus: str = "wiki"              # dataset names joined by "+", or a text/CSV file path
    preset: str = "micro"             # nano | micro | mini | deep (ignored with init)
    steps: int = 3000
    batch_size: int = 32
    lr: float = 2e-3
    warmup: int = 100
    vocab_size: Optional[int] = None  # BPE size (default: the preset's)
    eval_every: int = 500
    ckpt_every: int = 500
    seed: int = 0
    max_minutes: float = 0.0          # > 0: stop (evaluate, save) after this many minutes
    init: Optional[str] = None        # a from_pretrained directory to continue from (ULMFiT stage 2)
    tokenizer: Optional[str] = None   # a tokenizer.json to use instead of training a BPE on the corpus
    progress: bool = True

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"PretrainConfig: kind must be one of {KINDS}, got {self.kind!r}")
        for name in ("steps", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"PretrainConfig: {name} must be >= 1, got {getattr(self, name)}")
        if not (np.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"PretrainConfig: lr must be a positive finite number, got {self.lr}")


# -- data ------------------------------------------------------------------------
def corpus_documents(spec: str, split: str) -> List[str]:
    """Documents of a corpus spec: registered names joined by "+", or a file (95% train / 5% validation)."""
    if os.path.exists(spec):
        from minitl.data import load_file
        docs = load_file(spec, label_column=None).texts
        cut = len(docs) - max(1, len(docs) // 20)
        return docs[:cut] if split == "train" else docs[cut:]
    return minitl.data.corpus(spec, split=split)


def corpus_ids(tok, spec: str, split: str, cache_dir: Optional[str] = None) -> np.ndarray:
    """The corpus split as one id stream (documents separated by <|endoftext|>).

    With ``cache_dir`` the stream is kept as ``ids-<split>-<hash>.npy``, the hash over
    the tokenizer's merges and the corpus spec, written to a temporary file and
    renamed: a stale or half-written cache can never be read.
    """
    path = None
    if cache_dir:
        key = hashlib.sha256(json.dumps([tok.pattern, [list(m) for m in tok.merges], spec, split]).encode()
                             ).hexdigest()[:16]
        path = os.path.join(cache_dir, f"ids-{split}-{key}.npy")
        if os.path.exists(path):
            return np.load(path, allow_pickle=False)
    ids = encode_corpus(corpus_documents(spec, split), tok)
    if path:
        tmp = f"{path}.tmp-{os.getpid()}.npy"
        np.save(tmp, ids, allow_pickle=False)
        os.replace(tmp, path)
    return ids


def bert_windows(ids: np.ndarray, block_size: int, cls_id: int, sep_id: int) -> np.ndarray:
    """Consecutive windows of block_size - 2 tokens, as [CLS] window [SEP]: (n, block_size)."""
    w = block_size - 2
    n = len(ids) // w
    body = ids[:n * w].reshape(n, w)                                     # (n, T-2)
    return np.concatenate([np.full((n, 1), cls_id), body, np.full((n, 1), sep_id)], 1)


def mlm_eval_batches(tok, ids: np.ndarray, block_size: int, seed: int, batch_size: int = 64,
                     limit: Optional[int] = None) -> List[Tuple[np.ndarray, np.ndarray]]:
    """Fixed masked batches (their own generator, so every evaluation sees the same masks)."""
    win = bert_windows(ids, block_size, tok.cls_id, tok.sep_id)[:limit]
    gen = np.random.default_rng(seed)
    return [mlm_mask(win[s:s + batch_size], tok.vocab_size, tok.mask_id, tok.all_special_ids, generator=gen)
            for s in range(0, len(win), batch_size)]


def evaluate_mlm(model, batches: Sequence[Tuple[np.ndarray, np.ndarray]]) -> Dict[str, float]:
    """{'mlm_loss', 'mlm_perplexity', 'masked_accuracy'} over fixed (inputs, labels) batches."""
    nll, hit, n = 0.0, 0, 0
    was = model.training
    model.eval()
    with minitl.no_grad():
        for x, labels in batches:
            logits, loss = model(x, mlm_labels=labels)
            y = labels[labels != -100]
            nll += float(loss.data) * len(y)
            hit += int((logits.data.argmax(-1) == y).sum())
            n += len(y)
    model.train(was)
    return {"mlm_loss": nll / n, "mlm_perplexity": float(np.exp(nll / n)), "masked_accuracy": hit / n}


def evaluate_pretraining(model, ids: np.ndarray, seed: int = EVAL_SEED, limit: int = 400) -> Dict[str, float]:
    """The pretraining objective on held-out ids: GPT {'val_loss', 'val_perplexity'}, BERT evaluate_mlm's."""
    from minitl.models.gpt import evaluate_lm
    T = model.config.block_size
    if model.uses_special_tokens:
        return evaluate_mlm(model, mlm_eval_batches(model.tokenizer, ids, T, seed, limit=limit))
    nll, n = evaluate_lm(model, ids[:limit * T + 1])
    return {"val_loss": nll / n, "val_perplexity": float(np.exp(nll / n))}


def unigram_counts(train_ids: np.ndarray, V: int) -> np.ndarray:
    """How often each of the V ids occurs in ``train_ids``: (V,) float64."""
    return np.bincount(train_ids, minlength=V).astype(np.float64)


def unigram_logp(train_ids: np.ndarray, V: int, never: Sequence[int] = ()) -> np.ndarray:
    """log p(token) of the add-one unigram model of ``train_ids``: (V,) float64.

    Ids in ``never`` (e.g. the special tokens, for an output layer) are counted as
    0 before the +1, so they get the smallest probability.
    """
    counts = unigram_counts(train_ids, V)
    counts[list(never)] = 0
    return np.log((counts + 1) / (counts.sum() + V))


def write_loss_plot(out: str, latest: Optional[Dict[str, Any]] = None, kind: str = "") -> Optional[str]:
    """Redraw ``out/loss.png`` from ``out/metrics.jsonl`` (plus ``latest``, a record not written yet).

    Returns the path, or None when there is nothing to plot yet.
    """
    from minitl.viz.curves import plot_loss_curves
    records = []
    path = os.path.join(out, "metrics.jsonl")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
    records += [latest] if latest else []
    if not any("loss" in r for r in records):
        return None
    return plot_loss_curves(records, os.path.join(out, "loss.png"), title=f"pretraining {kind.upper()}".strip())


# -- the recipe --------------------------------------------------------------------
def train_tokenizer(corpus: str, vocab_size: int) -> "minitl.text.BPETokenizer":
    """A ``vocab_size``-token byte-level BPE trained on ``corpus``'s train split (every pretraining recipe's first step)."""
    from minitl.text import BPETokenizer
    docs = corpus_documents(corpus, "train")
    print(f"training a {vocab_size}-token BPE on {corpus} ({len(docs)} documents)...")
    return BPETokenizer.train(docs, vocab_size)


def check_run_dir(cfg, out: str, resume: bool, keys: Sequence[str] = RESUME_KEYS) -> None:
    """Refuse a resume whose recipe differs from the run's in ``keys`` (or with no run to resume), and a
    new run over a directory that already holds one.  Every pretraining recipe calls it first."""
    run_file = os.path.join(out, "run.json")
    if not resume:
        if os.path.exists(os.path.join(out, "checkpoint")):
            raise FileExistsError(f"pretrain {cfg.kind}: {out} already holds a run; resume it or choose "
                                  f"another directory")
        return
    if not os.path.exists(run_file):
        raise FileNotFoundError(f"pretrain {cfg.kind}: resume, but {run_file} does not exist (nothing to resume)")
    with open(run_file) as f:
        saved = json.load(f)
    for key in keys:
        if key in saved and saved[key] != getattr(cfg, key):
            raise ValueError(f"pretrain {cfg.kind}: resume with {key}={getattr(cfg, key)!r} but the run in {out} "
                             f"used {saved[key]!r}")


def build_model(cfg: PretrainConfig, tok) -> "minitl.nn.Module":
    """The model to train: a fresh one of the preset, or the ``init`` checkpoint."""
    from minitl.models import BERT, BERTConfig, GPT, GPTConfig
    Model, Config = (GPT, GPTConfig) if cfg.kind == "gpt" else (BERT, BERTConfig)
    if cfg.init:
        meta = os.path.join(cfg.init, "meta.json")
        held = None
        if os.path.exists(meta):
            with open(meta) as f:
                held = json.load(f).get("model")
        if held != Model.__name__:
            raise ValueError(f"pretrain {cfg.kind}: init {cfg.init} holds a {held} model, not a {Model.__name__}")
        return Model.from_pretrained(cfg.init).train()
    return Model(Config.from_preset(cfg.preset, vocab_size=tok.vocab_size))


def pretrain(cfg: PretrainConfig, out: str, resume: bool = False) -> Dict[str, Any]:
    """Run the recipe into the run directory ``out``; returns a dict (model, tokenizer, history, ...).

    Each evaluation also redraws ``out/loss.png``: the training loss and the validation loss so far.
    """
    from minitl.text import BPETokenizer
    from minitl.train import TrainConfig, Trainer
    t0 = time.perf_counter()
    run_file, tok_file = os.path.join(out, "run.json"), os.path.join(out, "tokenizer.json")
    check_run_dir(cfg, out, resume)
    if resume:
        tok = BPETokenizer.load(tok_file)
    else:
        os.makedirs(out, exist_ok=True)
        if cfg.init:
            if not os.path.exists(os.path.join(cfg.init, "tokenizer.json")):
                raise FileNotFoundError(f"pretrain: init {cfg.init} has no tokenizer.json")
            tok = BPETokenizer.load(os.path.join(cfg.init, "tokenizer.json"))     # the model's own
        elif cfg.tokenizer:
            if not os.path.exists(cfg.tokenizer):
                raise FileNotFoundError(f"pretrain: tokenizer {cfg.tokenizer} does not exist")
            tok = BPETokenizer.load(cfg.tokenizer)       # e.g. an earlier run's BPE on the same text
        else:
            from minitl.models.blocks import PRESETS
            if cfg.preset not in PRESETS:
                raise ValueError(f"pretrain: unknown preset {cfg.preset!r}; expected one of {sorted(PRESETS)}")
            tok = train_tokenizer(cfg.corpus, cfg.vocab_size or PRESETS[cfg.preset]["vocab_size"])
        tok.save(tok_file)
        with open(run_file, "w") as f:
            json.dump(asdict(cfg), f, indent=1)
    train_ids = corpus_ids(tok, cfg.corpus, "train", out)
    val_ids = corpus_ids(tok, cfg.corpus, "validation", out)
    print(f"{cfg.corpus}: {len(train_ids):,} training tokens, {len(val_ids):,} validation tokens")

    minitl.manual_seed(cfg.seed)
    model = build_model(cfg, tok)
    model.tokenizer = tok
    T, B = model.config.block_size, cfg.batch_size
    if cfg.kind == "gpt":
        def get_batch(step):
            return get_lm_batch(train_ids, T, B)

        def loss_fn(m, batch):
            return m(*batch)[1]
    else:
        if not cfg.init:
            # Start the MLM head at the unigram model: bias = log p(token).  An output bias
            # moves only ~lr per step, so from zero it needs thousands of steps to learn
            # the 10-nat spread of log-frequencies; measured: 7.45 vs 7.61 MLM loss after
            # 100 steps.  (On resume the checkpoint's weights replace this.)
            model.mlm_bias.data = unigram_logp(train_ids, tok.vocab_size, never=tok.all_special_ids).astype(np.float32)

        def get_batch(step):
            x, _ = get_lm_batch(train_ids, T - 2, B)                          # (B, T-2)
            x = np.concatenate([np.full((B, 1), tok.cls_id), x, np.full((B, 1), tok.sep_id)], 1)  # (B, T)
            return mlm_mask(x, tok.vocab_size, tok.mask_id, tok.all_special_ids)

        def loss_fn(m, batch):
            return m(batch[0], mlm_labels=batch[1])[1]

    def eval_fn(m):
        metrics = evaluate_pretraining(m, val_ids, limit=EVAL_WINDOWS[cfg.kind])
        write_loss_plot(out, {"step": trainer.step, "split": "validation", **metrics}, cfg.kind)
        return metrics
    tcfg = TrainConfig(steps=cfg.steps, lr=cfg.lr, warmup_steps=min(cfg.warmup, cfg.steps),
                       eval_every=cfg.eval_every, ckpt_every=cfg.ckpt_every, max_minutes=cfg.max_minutes,
                       progress=cfg.progress, desc=f"pretrain {cfg.kind}")
    trainer = Trainer(model, loss_fn, get_batch, tcfg, out_dir=out, eval_fn=eval_fn)
    trainer.fit(resume=resume)
    result = {"model": model, "tokenizer": tok, "history": trainer.history, "steps": trainer.step,
              "interrupted": trainer.interrupted, "train_tokens": int(len(train_ids)),
              "seconds": time.perf_counter() - t0, "model_dir": None}
    if trainer.interrupted:
        return result
    final = [r for r in trainer.history if r.get("split") == "validation"][-1:]
    result["validation"] = final[0] if final else None
    result["model_dir"] = os.path.join(out, "model")
    model.save_pretrained(result["model_dir"], tokenizer=tok, meta={
        "recipe": asdict(cfg), "steps": trainer.step, "train_tokens": result["train_tokens"],
        "seconds": round(result["seconds"], 1), "validation": result["validation"]})
    print(f"saved {result['model_dir']}")
    return result
