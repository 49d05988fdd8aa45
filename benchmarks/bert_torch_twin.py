"""minitl's BERT and its PyTorch twin, trained side by side: same weights, same batches, same recipe.

    python benchmarks/bert_torch_twin.py [--quick] [--preset micro] [--steps 300]

The claim it checks: with the same start, data and settings, PyTorch reaches the
same masked-LM loss at the same step count as minitl -- so a slow-learning
minitl BERT is short of compute, not wrong.

Both sides get:
- the same weights: minitl builds the model (``minitl.manual_seed``), its MLM
  output bias starts at the corpus's log unigram frequencies (the pretraining
  recipe's init), and the ``state_dict`` is copied name for name into the
  PyTorch twin ``TorchBERT`` of ``bench_train_step.py`` (the one
  ``tests/test_torch_equivalence.py`` checks for equal logits and gradients);
- the same batches: a byte-level BPE trained on the corpus, random windows of
  ``block_size - 2`` tokens wrapped as ``[CLS] ... [SEP]``, BERT's 15% masking
  (``minitl.data.mlm_mask``), all drawn up front from one seeded generator;
- the same recipe as ``minitl.train.Trainer``: AdamW, betas (0.9, 0.95),
  weight decay 0.1 on matrices only, global gradient-norm clipping at 1.0,
  linear warmup then cosine to 0.1 x lr (``WarmupCosine``, via LambdaLR on
  the PyTorch side), dropout 0 (the nano/micro presets).

Float32 rounding differs (BLAS vs torch kernels, fused vs composed ops), so the
two runs drift apart slowly, like two PyTorch runs on different hardware; what
must agree is the loss curve, not the bits.  Printed: step-0 losses (validated
before training), the training-loss curve of each side (means over windows of
steps), validation MLM loss at checkpoints on fixed held-out masked batches.
Last stdout line: {"benchmark": "bert_torch_twin", "config": {...}, "results": {...}}.
"""
import argparse
import os
import sys
import time

THREADS = 2
for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, str(THREADS))

import numpy as np  # noqa: E402

from _common import emit, peer_available  # noqa: E402  (also puts the repository on sys.path)



def make_data(corpus, vocab_size, block_size, batch_size, steps, n_val_batches, seed):
    """(tokenizer, training batches [(inputs, labels)] * steps, fixed validation batches, unigram counts)."""
    import minitl.data
    from minitl.data import encode_corpus, mlm_mask
    from minitl.text import BPETokenizer
    docs = minitl.data.corpus(corpus, split="train")
    t = time.perf_counter()
    tok = BPETokenizer.train(docs, vocab_size)
    print(f"BPE: {tok.vocab_size} tokens from {len(docs)} documents of {corpus} in {time.perf_counter() - t:.0f} s")
    train_ids = encode_corpus(docs, tok)
    val_ids = encode_corpus(minitl.data.corpus(corpus, split="validation"), tok)
    print(f"{len(train_ids):,} training tokens, {len(val_ids):,} validation tokens")
    gen = np.random.default_rng(seed)
    w = block_size - 2

    def wrap(x):                                                         # (B, T-2) -> (B, T)
        B = len(x)
        return np.concatenate([np.full((B, 1), tok.cls_id), x, np.full((B, 1), tok.sep_id)], 1)

    batches = []
    for _ in range(steps):
        starts = gen.integers(0, len(train_ids) - w, batch_size)
        x = wrap(np.stack([train_ids[s:s + w] for s in starts]).astype(np.int64))
        batches.append(mlm_mask(x, tok.vocab_size, tok.mask_id, tok.all_special_ids, generator=gen))
    n_win = min(len(val_ids) // w, n_val_batches * batch_size)
    windows = wrap(val_ids[:n_win * w].reshape(n_win, w).astype(np.int64))
    val = [mlm_mask(windows[s:s + batch_size], tok.vocab_size, tok.mask_id, tok.all_special_ids, generator=gen)
           for s in range(0, n_win, batch_size)]
    counts = np.bincount(train_ids, minlength=tok.vocab_size).astype(np.float64)
    counts[list(tok.all_special_ids)] = 0
    return tok, batches, val, counts


def minitl_side(model, cfg):
    """step(batch) -> loss and val(batches) -> mean MLM loss, with Trainer's optimizer, schedule and clipping."""
    import minitl
    from minitl.optim import LRScheduler, WarmupCosine, clip_grad_norm_
    from minitl.train import TrainConfig, default_optimizer
    tcfg = TrainConfig(steps=cfg["steps"], lr=cfg["lr"], warmup_steps=min(cfg["warmup"], cfg["steps"]))
    opt = default_optimizer(model, tcfg)
    sched = LRScheduler(opt, WarmupCosine(tcfg.warmup_steps, tcfg.steps, tcfg.min_lr_ratio))
    params = list(model.parameters())

    def step(batch):
        model.train()
        for p in params:
            p.grad = None
        loss = model(batch[0], mlm_labels=batch[1])[1]
        loss.backward()
        clip_grad_norm_(params, tcfg.grad_clip)
        opt.step()
        sched.step()
        return float(loss.data)

    def val(batches):
        model.eval()
        with minitl.no_grad():
            nll = [(float(model(x, mlm_labels=y)[1].data), int((y != -100).sum())) for x, y in batches]
        return sum(a * n for a, n in nll) / sum(n for _, n in nll)
    return step, val, tcfg


def torch_side(tmodel, tcfg):
    """The same loop in PyTorch: AdamW groups (decay on ndim >= 2), LambdaLR(WarmupCosine), clip_grad_norm_."""
    import torch
    from minitl.optim import WarmupCosine
    params = list(tmodel.parameters())
    groups = [{"params": [p for p in params if p.ndim >= 2], "weight_decay": tcfg.weight_decay},
              {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=tcfg.lr, betas=tuple(tcfg.betas), eps=1e-8)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, WarmupCosine(tcfg.warmup_steps, tcfg.steps, tcfg.min_lr_ratio))

    def step(batch):
        tmodel.train()
        opt.zero_grad(set_to_none=True)
        loss = tmodel(torch.from_numpy(batch[0]), mlm_labels=torch.from_numpy(batch[1]))[1]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, tcfg.grad_clip)
        opt.step()
        sched.step()
        return float(loss.detach())

    def val(batches):
        tmodel.eval()
        with torch.no_grad():
            nll = [(float(tmodel(torch.from_numpy(x), mlm_labels=torch.from_numpy(y))[1]), int((y != -100).sum()))
                   for x, y in batches]
        return sum(a * n for a, n in nll) / sum(n for _, n in nll)
    return step, val


def first_loss_check(model, tmodel, batch):
    """Validate before training: the same weights give the same step-0 loss (no update)."""
    import minitl
    import torch
    with minitl.no_grad():
        a = float(model(batch[0], mlm_labels=batch[1])[1].data)
    with torch.no_grad():
        b = float(tmodel(torch.from_numpy(batch[0]), mlm_labels=torch.from_numpy(batch[1]))[1])
    print(f"step-0 loss, same weights and batch: minitl {a:.6f} vs torch {b:.6f}")
    if abs(a - b) > 1e-4:
        raise SystemExit(f"minitl and torch disagree before training ({a} vs {b}): not twins")
    return a, b


def window_means(losses, every):
    return [round(float(np.mean(losses[s:s + every])), 4) for s in range(0, len(losses), every)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="nano preset, 512-token BPE on 'news', 60 steps (~1 min)")
    ap.add_argument("--preset", choices=["nano", "micro"], default=None, help="model size (default micro)")
    ap.add_argument("--steps", type=int, default=None, help="training steps (default 300; --quick 60)")
    ap.add_argument("--corpus", default=None, help="default wiki+news+tweets-text (--quick: news)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=None, help="warmup steps (default min(100, steps // 10))")
    ap.add_argument("--eval-every", type=int, default=None, help="validation every N steps (default steps/5)")
    ap.add_argument("--val-batches", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    preset = args.preset or ("nano" if args.quick else "micro")
    steps = args.steps or (60 if args.quick else 300)
    corpus = args.corpus or ("news" if args.quick else "wiki+news+tweets-text")
    eval_every = args.eval_every or max(1, steps // 5)

    import minitl
    from minitl.models import BERT, BERTConfig
    from minitl.models.blocks import PRESETS
    shape = dict(PRESETS[preset])
    cfg = {"preset": preset, "steps": steps, "corpus": corpus, "batch_size": args.batch_size, "lr": args.lr,
           "warmup": min(args.warmup, steps) if args.warmup is not None else min(100, max(1, steps // 10)), "seed": args.seed, "threads": THREADS, "eval_every": eval_every,
           **{k: shape[k] for k in ("n_layer", "n_head", "d_model", "block_size", "dropout")}}
    tok, batches, val_batches, counts = make_data(corpus, shape["vocab_size"], shape["block_size"],
                                                  args.batch_size, steps, args.val_batches, args.seed)
    cfg["vocab_size"] = tok.vocab_size
    cfg["val_masked_tokens"] = int(sum((y != -100).sum() for _, y in val_batches))

    minitl.manual_seed(args.seed)
    model = BERT(BERTConfig.from_preset(preset, vocab_size=tok.vocab_size))
    model.mlm_bias.data = np.log((counts + 1) / (counts + 1).sum()).astype(np.float32)   # the recipe's init
    step_m, val_m, tcfg = minitl_side(model, cfg)
    have_torch = peer_available("torch")
    if have_torch:
        import torch
        torch.set_num_threads(THREADS)
        from bench_train_step import copy_weights, torch_models
        _, TorchBERT = torch_models()
        tmodel = TorchBERT(**{k: shape[k] for k in ("n_layer", "n_head", "d_model", "block_size")},
                           vocab_size=tok.vocab_size)
        copy_weights(model, tmodel)
        step_t, val_t = torch_side(tmodel, tcfg)
        first = first_loss_check(model, tmodel, batches[0])
        cfg["torch_version"] = torch.__version__
    else:
        print("torch is not installed: the PyTorch columns are null (pip install -e .[bench])")
        first = (None, None)

    sides = {"minitl": (step_m, val_m)}
    if have_torch:
        sides["torch"] = (step_t, val_t)
    losses = {name: [] for name in sides}
    val = {name: {0: round(v(val_batches), 4)} for name, (_, v) in sides.items()}
    seconds = {name: 0.0 for name in sides}
    print(f"{'step':>6}" + "".join(f"{n + ' train':>14}{n + ' val':>12}" for n in sides))
    for s in range(steps):
        for name, (step, v) in sides.items():      # alternate, so a noisy machine slows both alike
            t = time.perf_counter()
            losses[name].append(step(batches[s]))
            seconds[name] += time.perf_counter() - t
        if (s + 1) % eval_every == 0 or s + 1 == steps:
            for name, (_, v) in sides.items():
                val[name][s + 1] = round(v(val_batches), 4)
            print(f"{s + 1:>6}" + "".join(
                f"{np.mean(losses[n][-eval_every:]):>14.4f}{val[n][s + 1]:>12.4f}" for n in sides))

    every = max(1, steps // 20)
    curves = {name: window_means(losses[name], every) for name in sides}
    print(f"\ntraining-loss curve, mean over each {every} steps:")
    for name, c in curves.items():
        print(f"  {name:6s} " + " ".join(f"{x:.3f}" for x in c))
    res = {"steps_per_point": every, "minitl_train_curve": curves["minitl"],
           "torch_train_curve": curves.get("torch"), "minitl_val_mlm_loss": val["minitl"],
           "torch_val_mlm_loss": val.get("torch"), "step0_loss_minitl": first[0], "step0_loss_torch": first[1],
           "minitl_seconds_per_step": round(seconds["minitl"] / steps, 4),
           "torch_seconds_per_step": round(seconds["torch"] / steps, 4) if have_torch else None}
    if have_torch:
        tail = max(1, steps // 10)
        res["final_train_loss_minitl"] = round(float(np.mean(losses["minitl"][-tail:])), 4)
        res["final_train_loss_torch"] = round(float(np.mean(losses["torch"][-tail:])), 4)
        res["final_val_mlm_loss_diff"] = round(val["minitl"][steps] - val["torch"][steps], 4)
        res["max_abs_val_diff"] = round(max(abs(val["minitl"][k] - val["torch"][k]) for k in val["minitl"]), 4)
        res["max_abs_train_curve_diff"] = round(max(abs(a - b) for a, b in zip(curves["minitl"], curves["torch"])), 4)
        print(f"final validation MLM loss: minitl {val['minitl'][steps]:.4f}, torch {val['torch'][steps]:.4f} "
              f"(difference {res['final_val_mlm_loss_diff']:+.4f}); mean training loss over the last {tail} "
              f"steps: {res['final_train_loss_minitl']:.4f} vs {res['final_train_loss_torch']:.4f}")
    emit("bert_torch_twin", cfg, res)


if __name__ == "__main__":
    sys.exit(main())
