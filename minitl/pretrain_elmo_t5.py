"""The pretraining recipe for the tiny ELMo and T5: ``pretrain(ELMoT5PretrainConfig(...), out)``.

    from minitl.pretrain_elmo_t5 import ELMoT5PretrainConfig, pretrain
    run = pretrain(ELMoT5PretrainConfig("t5", corpus="wiki", preset="nano", steps=3000), "runs/t5")
    run["model_dir"]            # runs/t5/model: a from_pretrained directory (T5.from_pretrained)

``minitl pretrain elmo|t5`` and ``minitl.hub`` call it; GPT and BERT have theirs in
``minitl/pretrain.py`` (the same run directory layout: run.json, tokenizer.json, the
``ids-<split>-<hash>.npy`` id caches, checkpoint/, metrics.jsonl, model/).

- ELMo: both LSTM language models on random windows of the id stream, the shared
  softmax's bias started at the unigram log-frequencies (from zero an output bias
  needs thousands of steps to learn them); validation: perplexity per direction.
- T5: span corruption of random windows (``models.t5.span_batch``: ~15% of tokens
  in spans of mean length 3, each span one [MASK] sentinel); validation: teacher-forced
  accuracy on the targets and on the span tokens alone, on fixed batches.
"""
import json
import os
import time
from dataclasses import asdict, dataclass

import numpy as np

import minitl

KINDS = ("elmo", "t5")
DEFAULT_LR = {"elmo": 3e-3, "t5": 1e-3}
RESUME_KEYS = ("kind", "corpus", "preset", "batch_size", "lr", "warmup", "seed", "vocab_size")


@dataclass
class ELMoT5PretrainConfig:
    kind: str = "elmo"                # "elmo" (two LSTM LMs) or "t5" (span corruption)
    corpus: str = "wiki"              # dataset names joined by "+", or a text/CSV file path
    preset: str = "nano"              # nano | micro
    steps: int = 3000
    batch_size: int = 32
    lr: float = None                  # default: 3e-3 (ELMo), 1e-3 (T5)
    warmup: int = 100
    vocab_size: int = None            # BPE size (default: the preset's)
    eval_every: int = 500
    ckpt_every: int = 500
    seed: int = 0
    max_minutes: float = 0.0          # > 0: stop (evaluate, save) after this many minutes
    progress: bool = True

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"ELMoT5PretrainConfig: kind must be one of {KINDS}, got {self.kind!r}")
        if self.lr is None:
            self.lr = DEFAULT_LR[self.kind]
        for name in ("steps", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"ELMoT5PretrainConfig: {name} must be >= 1, got {getattr(self, name)}")
        if not (np.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"ELMoT5PretrainConfig: lr must be a positive finite number, got {self.lr}")
        presets = model_classes(self.kind)[2]
        if self.preset not in presets:
            raise ValueError(f"ELMoT5PretrainConfig: unknown {self.kind} preset {self.preset!r}; "
                             f"expected one of {sorted(presets)}")


def model_classes(kind):
    """(Model, Config, PRESETS) of "elmo" or "t5"."""
    if kind == "elmo":
        from minitl.models.elmo import ELMo, ELMoConfig, PRESETS
        return ELMo, ELMoConfig, PRESETS
    from minitl.models.t5 import T5, T5Config, PRESETS
    return T5, T5Config, PRESETS


def tok_specials(tok):
    """The special ids of a minitl BPE tokenizer ([PAD] [UNK] [CLS] [SEP] [MASK] <|endoftext|>)."""
    return [tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id, tok.eot_id]


def span_eval_batches(tok, ids, config, n_batches=20, batch_size=32, seed=1234):
    """Fixed span-corruption batches of a validation stream (their own generator)."""
    from minitl.models.t5 import span_batch
    gen = np.random.default_rng(seed)
    return [span_batch(ids, config, batch_size, tok.mask_id, tok.eot_id, tok.pad_id, generator=gen)
            for _ in range(n_batches)]


def span_metrics(model, batches, skip=()):
    """{'val_loss', 'span_accuracy', 'content_accuracy'}: teacher-forced next-token accuracy on the
    targets, and on the targets' span tokens alone (``skip``: the sentinel and end ids)."""
    nll, hit, n, chit, cn = 0.0, 0, 0, 0, 0
    with minitl.no_grad():
        for x, mask, y in batches:
            logits, loss = model(x, mask, labels=y)
            real = y != -100
            content = real & ~np.isin(y, skip)
            ok = logits.data.argmax(-1) == y
            nll += float(loss.data) * real.sum()
            hit, n = hit + int(ok[real].sum()), n + int(real.sum())
            chit, cn = chit + int(ok[content].sum()), cn + int(content.sum())
    return {"val_loss": nll / n, "span_accuracy": hit / n, "content_accuracy": chit / max(cn, 1)}


def elmo_recipe(cfg, tok, train_ids, val_ids):
    """(model, get_batch, loss_fn, eval_fn) for ELMo: both LMs on random windows."""
    from minitl.data.batching import get_lm_batch
    from minitl.models.elmo import ELMo, ELMoConfig, evaluate_bilm
    from minitl.pretrain import unigram_logp
    model = ELMo(ELMoConfig.from_preset(cfg.preset, vocab_size=tok.vocab_size))
    T = model.config.block_size
    model.lm_head.bias.data = unigram_logp(train_ids, tok.vocab_size, never=tok_specials(tok)).astype(np.float32)
    val_eval = val_ids[:200 * T]

    def eval_fn(m):
        nll = evaluate_bilm(m, val_eval)
        return {"val_loss": nll["mean"], "val_perplexity_fwd": float(np.exp(nll["forward"])),
                "val_perplexity_bwd": float(np.exp(nll["backward"]))}
    return (model, lambda step: get_lm_batch(train_ids, T, cfg.batch_size)[0],      # (B, T)
            lambda m, batch: m(batch)[1], eval_fn)


def t5_recipe(cfg, tok, train_ids, val_ids):
    """(model, get_batch, loss_fn, eval_fn) for T5: span corruption of random windows."""
    from minitl.models.t5 import T5, T5Config, span_batch
    model = T5(T5Config.from_preset(cfg.preset, vocab_size=tok.vocab_size))
    fixed = span_eval_batches(tok, val_ids, model.config)
    return (model, lambda step: span_batch(train_ids, model.config, cfg.batch_size, tok.mask_id, tok.eot_id,
                                           tok.pad_id),
            lambda m, b: m(b[0], b[1], labels=b[2])[1], lambda m: span_metrics(m, fixed, (tok.mask_id, tok.eot_id)))


def _tokenizer(cfg, out, resume):
    """The run's tokenizer: trained and saved with run.json (new run) or loaded (resume, recipe checked)."""
    from minitl.pretrain import check_run_dir, train_tokenizer
    from minitl.text import BPETokenizer
    run_file, tok_file = os.path.join(out, "run.json"), os.path.join(out, "tokenizer.json")
    check_run_dir(cfg, out, resume, RESUME_KEYS)
    if resume:
        return BPETokenizer.load(tok_file)
    os.makedirs(out, exist_ok=True)
    tok = train_tokenizer(cfg.corpus, cfg.vocab_size or model_classes(cfg.kind)[2][cfg.preset]["vocab_size"])
    tok.save(tok_file)
    with open(run_file, "w") as f:
        json.dump(asdict(cfg), f, indent=1)
    return tok


def pretrain(cfg, out, resume=False):
    """Run the recipe into the run directory ``out``.

    Returns:
        {"model", "tokenizer", "model_dir" (None if interrupted), "steps", "train_tokens",
        "validation" (the last evaluation), "seconds", "interrupted"}.
    """
    from minitl.pretrain import corpus_ids
    from minitl.train import TrainConfig, Trainer
    t0 = time.perf_counter()
    tok = _tokenizer(cfg, out, resume)
    train_ids = corpus_ids(tok, cfg.corpus, "train", out)
    val_ids = corpus_ids(tok, cfg.corpus, "validation", out)
    print(f"{cfg.corpus}: {len(train_ids):,} training tokens, {len(val_ids):,} validation tokens")
    minitl.manual_seed(cfg.seed)
    recipe = elmo_recipe if cfg.kind == "elmo" else t5_recipe
    model, get_batch, loss_fn, eval_fn = recipe(cfg, tok, train_ids, val_ids)
    model.tokenizer = tok
    tcfg = TrainConfig(steps=cfg.steps, lr=cfg.lr, warmup_steps=min(cfg.warmup, cfg.steps),
                       eval_every=cfg.eval_every, ckpt_every=cfg.ckpt_every, max_minutes=cfg.max_minutes,
                       progress=cfg.progress, desc=f"pretrain {cfg.kind}")
    trainer = Trainer(model, loss_fn, get_batch, tcfg, out_dir=out, eval_fn=eval_fn)
    trainer.fit(resume=resume)
    final = ([r for r in trainer.history if r.get("split") == "validation"][-1:] or [None])[0]
    model_dir = None
    if not trainer.interrupted:
        model_dir = os.path.join(out, "model")
        model.save_pretrained(model_dir, tokenizer=tok, meta={
            "corpus": cfg.corpus, "preset": cfg.preset, "steps": trainer.step, "seed": cfg.seed,
            "train_tokens": int(len(train_ids)), "validation": final})
        print(f"saved {model_dir}")
    return {"model": model, "tokenizer": tok, "model_dir": model_dir, "steps": trainer.step,
            "train_tokens": int(len(train_ids)), "validation": final,
            "seconds": time.perf_counter() - t0, "interrupted": trainer.interrupted}


def seconds_per_step(kind, preset, batch_size=32, probe_steps=3):
    """The median time of one training step of a fresh ``kind`` model here (random ids; the first,
    compiling step not counted): what the hub uses to fit a step count into a time budget."""
    from minitl.optim import AdamW
    Model, Config, _ = model_classes(kind)
    minitl.manual_seed(0)
    m = Model(Config.from_preset(preset))
    opt = AdamW(m.parameters(), lr=1e-4)
    rng = np.random.default_rng(0)
    c = m.config
    times = []
    for _ in range(probe_steps + 1):
        t = time.perf_counter()
        if kind == "elmo":
            loss = m(rng.integers(6, c.vocab_size, (batch_size, c.block_size)))[1]
        else:
            x = rng.integers(6, c.vocab_size, (batch_size, int(c.block_size * 0.9)))
            y = rng.integers(6, c.vocab_size, (batch_size, c.target_size // 2))
            loss = m(x, labels=y)[1]
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return float(np.median(times[1:]))
