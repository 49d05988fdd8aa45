"""One training loop for pretraining and fine-tuning.

    trainer = Trainer(model, loss_fn, get_batch, TrainConfig(steps=1000, lr=1e-3),
                      out_dir="runs/gpt", eval_fn=evaluate)
    trainer.fit()                      # or trainer.fit(resume=True) after Ctrl-C

Per step: ``batch = get_batch(step)`` -> ``loss = loss_fn(model, batch)`` ->
``backward`` -> clip the global gradient norm -> AdamW at the warmup+cosine lr.
Every ``log_every`` steps a line goes to ``out_dir/metrics.jsonl`` (loss, lr,
grad norm, tokens/s); every ``eval_every`` steps ``eval_fn(model) -> {name: value}``
runs (in eval mode, without a graph) and its numbers go there too; every
``ckpt_every`` steps, at the end, and on Ctrl-C, ``out_dir/checkpoint/`` is
written: model, optimizer moments, scheduler, the global random generator's
state, the step.

Resume is exact: the rest of a resumed run is byte-identical to an
uninterrupted run with the same seed.  That holds because (1) everything the
next steps depend on is in the checkpoint, and (2) ``get_batch(step)`` may use
only ``step`` and ``minitl.random.rng()`` (whose state is saved) -- the data
position *is* the step.  ``eval_fn`` may draw random numbers too: the
generator's state is put back after each evaluation, so evaluating never
changes the training run.

A NaN or Inf loss or gradient stops the run with ``NonFiniteError`` naming the
step and the first parameter (in model order) whose gradient is not finite.
"""
import json
import os
import signal
import threading
import time
from dataclasses import dataclass, asdict

import numpy as np

import minitl
from minitl import checkpoint
from minitl import random as mrandom
from minitl.optim import AdamW, LRScheduler, WarmupCosine, clip_grad_norm_, grad_norm, param_summary
from minitl.progress import Progress


class NonFiniteError(FloatingPointError):
    """A NaN/Inf loss or gradient; the message names the step and the layer."""


@dataclass
class TrainConfig:
    steps: int = 1000
    lr: float = 1e-3
    warmup_steps: int = 100       # linear warmup, then cosine down to min_lr_ratio * lr
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1     # applied to matrices only (not biases, LayerNorm)
    betas: tuple = (0.9, 0.95)
    grad_clip: float = 1.0        # max global gradient norm; 0 = no clipping
    log_every: int = 10
    eval_every: int = 0           # 0 = evaluate only at the end
    ckpt_every: int = 0           # 0 = checkpoint only at the end and on Ctrl-C
    max_minutes: float = 0.0      # > 0: stop (evaluate, checkpoint) once the loop has run this long
    progress: bool = True
    desc: str = "train"


# TrainConfig fields that shape the lr schedule or the update: a resume must not change them.
SCHEDULE_KEYS = ("steps", "lr", "warmup_steps", "min_lr_ratio", "weight_decay", "betas", "grad_clip")


def _norm(v):
    return list(v) if isinstance(v, tuple) else v


def default_optimizer(model, cfg):
    """AdamW with two groups: weight decay on matrices (ndim >= 2), none on vectors."""
    params = list(model.parameters())
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas))


def batch_tokens(batch):
    """Tokens in a batch, for tokens/s: the size of its first array."""
    first = batch[0] if isinstance(batch, (tuple, list)) else batch
    return int(np.size(first.data if isinstance(first, minitl.Tensor) else first))


class Trainer:
    """See the module docstring.  ``history`` keeps every logged record.

    Args:
        optimizer: by default AdamW built from ``config`` (lr, weight_decay, betas).
            When you pass your own (e.g. discriminative per-group learning rates),
            its groups' lr and weight decay are the ones used, and ``config.lr`` /
            ``config.weight_decay`` are ignored -- ``fit()`` prints the groups so
            that is never silent.
        schedule: a callable step -> lr multiplier applied to every group's base lr
            (default: warmup + cosine from ``config``).
        before_step: ``before_step(trainer, step)`` runs before each step's forward
            (and so also right after a resume); a strategy such as gradual
            unfreezing sets ``requires_grad`` there from the step alone, which keeps
            resume exact.
    """

    def __init__(self, model, loss_fn, get_batch, config=None, out_dir=None, eval_fn=None,
                 optimizer=None, schedule=None, tokens_fn=batch_tokens, before_step=None):
        self.model, self.loss_fn, self.get_batch = model, loss_fn, get_batch
        self.cfg = config or TrainConfig()
        self.out_dir, self.eval_fn, self.tokens_fn = out_dir, eval_fn, tokens_fn
        self.before_step = before_step
        self.custom_optimizer = optimizer is not None
        self.optimizer = optimizer or default_optimizer(model, self.cfg)
        warm = min(self.cfg.warmup_steps, self.cfg.steps)
        self.scheduler = LRScheduler(self.optimizer, schedule or WarmupCosine(
            warm, max(self.cfg.steps, 1), self.cfg.min_lr_ratio))
        self.step = 0
        self.history = []
        self.interrupted = False
        self._stop = False
        self._names = [n for n, _ in model.named_parameters()]

    # -- the loop ------------------------------------------------------------
    def fit(self, resume=False):
        """Train until ``config.steps``; returns the history.  Ctrl-C checkpoints and returns."""
        cfg = self.cfg
        if resume:
            self.load_checkpoint()
        if self.before_step is not None:
            self.before_step(self, self.step)
        say = print if cfg.progress else (lambda *a, **k: None)    # progress=False: a quiet run
        say(f"{self.cfg.desc}: {param_summary(self.model)}; steps {self.step} -> {cfg.steps}")
        if self.custom_optimizer:
            lrs = [g.get("initial_lr", g["lr"]) for g in self.optimizer.param_groups]
            wds = [g.get("weight_decay", 0.0) for g in self.optimizer.param_groups]
            say(f"{self.cfg.desc}: the optimizer's own {len(lrs)} parameter groups set lr "
                  f"({min(lrs):.3g}..{max(lrs):.3g}) and weight decay ({min(wds):.3g}..{max(wds):.3g})")
        bar = Progress(total=cfg.steps, desc=cfg.desc, unit="step", disable=not cfg.progress)
        bar.n = self.step
        old_handler = self._install_sigint()
        params = list(self.model.parameters())
        t0, tokens, loss_sum, n_loss = time.perf_counter(), 0, 0.0, 0
        deadline = time.perf_counter() + 60 * cfg.max_minutes if cfg.max_minutes else float("inf")
        try:
            while self.step < cfg.steps and not self._stop:
                start_state = mrandom.get_state()
                try:
                    loss, norm = self._forward_backward(params)
                except KeyboardInterrupt:
                    # Interrupted before the update: this step never happened.
                    mrandom.set_state(start_state)
                    self.model.zero_grad()
                    self._stop = self.interrupted = True
                    break
                self.optimizer.step()
                self.scheduler.step()
                self.step += 1
                tokens += self._last_tokens
                loss_sum, n_loss = loss_sum + loss, n_loss + 1
                if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                    dt = time.perf_counter() - t0
                    lrs = self.scheduler.get_last_lr()
                    rec = {"step": self.step, "loss": loss_sum / n_loss, "lr": lrs[-1],
                           "grad_norm": norm, "tokens_per_s": tokens / dt if dt > 0 else 0.0}
                    if len(set(lrs)) > 1:
                        rec["lrs"] = lrs          # one per parameter group, input side first
                    self._log(rec)
                    bar.set_postfix(loss=f"{rec['loss']:.3f}", tok_s=f"{rec['tokens_per_s']:.0f}")
                    t0, tokens, loss_sum, n_loss = time.perf_counter(), 0, 0.0, 0
                bar.update(1)
                if cfg.eval_every and self.step % cfg.eval_every == 0 and self.step < cfg.steps:
                    self.evaluate()
                if cfg.ckpt_every and self.step % cfg.ckpt_every == 0 and self.step < cfg.steps:
                    self.save_checkpoint()
                if time.perf_counter() > deadline and self.step < cfg.steps:
                    # A wall-clock budget, not a schedule: the lr was planned for cfg.steps.
                    self._log({"step": self.step, "stopped": f"time budget of {cfg.max_minutes} minutes"})
                    print(f"{cfg.desc}: time budget of {cfg.max_minutes} min reached at step {self.step}")
                    break
        finally:
            bar.close()
            self._restore_sigint(old_handler)
        if self._stop:
            self.interrupted = True
            self.save_checkpoint()
            print(f"{cfg.desc}: interrupted at step {self.step}; checkpoint written to "
                  f"{self.checkpoint_dir} (continue with resume)")
            return self.history
        self.evaluate()
        self.save_checkpoint()
        return self.history

    def _forward_backward(self, params):
        if self.before_step is not None and self.step:
            self.before_step(self, self.step)
        batch = self.get_batch(self.step)
        self._last_tokens = self.tokens_fn(batch)
        # train() on the model: a model may keep its frozen parts in eval mode
        # (SequenceClassifier does), so this is the model's decision, not ours.
        self.model.train()
        for p in params:                 # every parameter, not only the optimizer's:
            p.grad = None                # a gradient that is never cleared would pile up
        loss = self.loss_fn(self.model, batch)
        loss.backward()
        value = float(loss.data)
        trainable = [p for p in params if p.requires_grad and p.grad is not None]
        if self.cfg.grad_clip:
            norm = clip_grad_norm_(trainable, self.cfg.grad_clip)
        else:
            norm = grad_norm(trainable)
        if not (np.isfinite(value) and np.isfinite(norm)):
            raise NonFiniteError(self._non_finite_message(value))
        return value, float(norm)

    def _non_finite_message(self, value):
        bad = [n for n, p in self.model.named_parameters()
               if p.grad is not None and not np.isfinite(p.grad).all()]
        where = (f"first non-finite gradient in {bad[0]} ({len(bad)} of {len(self._names)} "
                 f"parameters affected)" if bad else "every gradient is finite")
        return f"step {self.step}: loss is {value}; {where}"

    # -- evaluation and logging ----------------------------------------------
    def evaluate(self):
        """Run ``eval_fn(model)`` without a graph, in eval mode, leaving the random state as it was."""
        if self.eval_fn is None:
            return None
        state = mrandom.get_state()
        was_training = self.model.training
        self.model.eval()
        try:
            with minitl.no_grad():
                metrics = dict(self.eval_fn(self.model))
        finally:
            mrandom.set_state(state)
            self.model.train(was_training)
        self._log({"step": self.step, "split": "validation", **metrics})
        shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items())
        if self.cfg.progress:
            print(f"{self.cfg.desc}: step {self.step}: {shown}")
        return metrics

    def _log(self, rec):
        rec = {k: (float(v) if isinstance(v, (np.floating, np.integer)) else v) for k, v in rec.items()}
        self.history.append(rec)
        if self.out_dir:
            os.makedirs(self.out_dir, exist_ok=True)
            with open(os.path.join(self.out_dir, "metrics.jsonl"), "a", encoding="utf-8") as f:
                f.write(json.dumps(rec) + "\n")

    # -- Ctrl-C ----------------------------------------------------------------
    def _install_sigint(self):
        """First Ctrl-C: finish this step, checkpoint, stop.  A second one aborts at once."""
        if threading.current_thread() is not threading.main_thread():
            return None

        def handler(signum, frame):
            if self._stop:
                raise KeyboardInterrupt
            self._stop = True
            print(f"\n{self.cfg.desc}: Ctrl-C -- finishing step {self.step + 1}, then writing a "
                  "checkpoint (Ctrl-C again to abort without one)")
        return signal.signal(signal.SIGINT, handler)

    @staticmethod
    def _restore_sigint(old):
        if old is not None:
            signal.signal(signal.SIGINT, old)

    # -- checkpoints -------------------------------------------------------------
    @property
    def checkpoint_dir(self):
        return os.path.join(self.out_dir, "checkpoint") if self.out_dir else None

    def save_checkpoint(self):
        """``out_dir/checkpoint/``: model, optimizer, scheduler, random state, step (atomic)."""
        if not self.out_dir:
            return None
        opt = self.optimizer.state_dict()
        trainer = {"step": self.step, "rng_state": mrandom.get_state(), "seed": mrandom.initial_seed(),
                   "scheduler": self.scheduler.state_dict(), "config": asdict(self.cfg),
                   "interrupted": self.interrupted}
        config = self.model.config.to_dict() if hasattr(self.model, "config") else {}
        checkpoint.save_dir(self.checkpoint_dir, self.model.state_dict(), config,
                            meta={"model": type(self.model).__name__, "step": self.step},
                            extra_files={"optimizer.safetensors": lambda p: checkpoint.save_optimizer_state(opt, p),
                                         "trainer_state.json": json.dumps(trainer, indent=1)})
        return self.checkpoint_dir

    def load_checkpoint(self):
        """Restore everything ``save_checkpoint`` wrote; the next step is the saved step + 1."""
        weights, _, _ = checkpoint.load_dir(self.checkpoint_dir)
        with open(os.path.join(self.checkpoint_dir, "trainer_state.json"), encoding="utf-8") as f:
            trainer = json.load(f)
        self.model.load_state_dict(weights)
        self.optimizer.load_state_dict(
            checkpoint.load_optimizer_state(os.path.join(self.checkpoint_dir, "optimizer.safetensors")))
        self.step = int(trainer["step"])
        saved, now = trainer.get("config", {}), asdict(self.cfg)
        changed = [f"{k} {saved[k]!r} -> {now[k]!r}" for k in SCHEDULE_KEYS
                   if k in saved and _norm(saved[k]) != _norm(now[k])]
        if changed:
            # The lr schedule (warmup, cosine length, peak) is a function of these:
            # resuming with others would silently reshape the rest of the run.
            raise ValueError(f"resume: {self.checkpoint_dir} was trained with other settings "
                             f"({'; '.join(changed)}); resume with the original ones or start a new run")
        self.scheduler.load_state_dict(trainer["scheduler"])
        mrandom.set_state(trainer["rng_state"])
        self._truncate_metrics(self.step)
        print(f"{self.cfg.desc}: resumed from {self.checkpoint_dir} at step {self.step}")
        return self.step

    def _truncate_metrics(self, step):
        """Drop metrics.jsonl records past ``step``: the resumed run will log those steps again."""
        path = os.path.join(self.out_dir, "metrics.jsonl")
        if not os.path.exists(path):
            return
        with open(path, encoding="utf-8") as f:
            lines = [ln for ln in f if ln.strip()]
        keep = [ln for ln in lines if json.loads(ln).get("step", 0) <= step]
        if len(keep) != len(lines):
            tmp = path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                f.writelines(keep)
            os.replace(tmp, path)


def train(model, loss_fn, get_batch, out_dir=None, eval_fn=None, resume=False, **config):
    """``train(model, loss_fn, get_batch, steps=500, lr=3e-4)``: build a Trainer, fit, return it."""
    trainer = Trainer(model, loss_fn, get_batch, TrainConfig(**config), out_dir=out_dir, eval_fn=eval_fn)
    trainer.fit(resume=resume)
    return trainer
