"""The training loop: exact resume, Ctrl-C, NaN reporting, metrics, schedule."""
import json
import os
import signal

import numpy as np
import pytest

import minitl
from minitl.models import GPT, GPTConfig
from minitl.tensor import Function
from minitl.train import NonFiniteError, TrainConfig, Trainer

V, T, B = 64, 16, 4


def make_model():
    minitl.manual_seed(0)
    # dropout > 0 so the run depends on the global random generator, which resume must restore
    return GPT(GPTConfig(n_layer=2, n_head=2, d_model=16, block_size=T, vocab_size=V, dropout=0.1))


TOKENS = np.random.default_rng(123).integers(0, V, 2000)


def get_batch(step):
    # random windows drawn from the global generator: the step and the rng state fix the batch
    starts = minitl.random.rng().integers(0, len(TOKENS) - T - 1, B)
    x = TOKENS[starts[:, None] + np.arange(T)]
    return x, TOKENS[starts[:, None] + np.arange(1, T + 1)]


def gpt_loss(model, batch):
    return model(*batch)[1]


def config(steps, **kw):
    return TrainConfig(steps=steps, lr=3e-3, warmup_steps=3, log_every=2, progress=False, **kw)


def weight_bytes(model):
    return b"".join(v.tobytes() for _, v in sorted(model.state_dict().items()))


def run_straight(tmp_path, steps):
    model = make_model()
    Trainer(model, gpt_loss, get_batch, config(steps), out_dir=str(tmp_path / "straight")).fit()
    return model


def stop_at(k):
    def get(step):
        if step == k:
            raise KeyboardInterrupt     # as Ctrl-C before step k's update: k steps are done
        return get_batch(step)
    return get


def logged_lrs(out_dir):
    with open(os.path.join(out_dir, "metrics.jsonl")) as f:
        return [(r["step"], r["lr"]) for r in map(json.loads, f) if "lr" in r]


@pytest.mark.parametrize("stop", [1, 3, 6])
def test_resume_is_identical_to_an_uninterrupted_run(tmp_path, stop):
    # warmup is 3 steps of 10: stopped inside the warmup (1), right after it (3, the peak) and
    # in the cosine decay (6), so a scheduler restored one step off, or restarted, shows
    full = run_straight(tmp_path, 10)
    # the same 10-step run stopped after `stop` steps, then a fresh process-like start
    # (new model, new optimizer, another global seed) resumes it
    a = make_model()
    Trainer(a, gpt_loss, stop_at(stop), config(10), out_dir=str(tmp_path / "split")).fit()
    minitl.manual_seed(999)  # whatever the generator holds now must not matter
    b = make_model()
    minitl.manual_seed(999)
    asked = []
    Trainer(b, gpt_loss, lambda step: asked.append(step) or get_batch(step), config(10),
            out_dir=str(tmp_path / "split")).fit(resume=True)
    assert weight_bytes(b) == weight_bytes(full)
    assert asked == list(range(stop, 10))       # it continued at step `stop`, it did not start over
    # the learning rate of every logged step is the uninterrupted run's
    assert logged_lrs(tmp_path / "split") == logged_lrs(tmp_path / "straight")
    assert len(set(lr for _, lr in logged_lrs(tmp_path / "straight"))) == 5     # (the lr moves at each log)


def test_resume_refuses_another_schedule(tmp_path):
    out = str(tmp_path / "run")
    Trainer(make_model(), gpt_loss, stop_at(4), config(10), out_dir=out).fit()
    with pytest.raises(ValueError, match=r"steps 10 -> 12"):
        Trainer(make_model(), gpt_loss, get_batch, config(12), out_dir=out).fit(resume=True)


def test_resume_drops_metrics_logged_after_the_checkpoint(tmp_path):
    out = str(tmp_path / "run")
    cfg = config(10, ckpt_every=4)
    Trainer(make_model(), gpt_loss, stop_at(7), cfg, out_dir=out).fit()
    # the interrupt wrote a checkpoint at step 7; pretend the kill came after step 6's log
    # but before that checkpoint, as a real kill would: put the step-4 checkpoint back
    Trainer(make_model(), gpt_loss, stop_at(4), cfg, out_dir=str(tmp_path / "ck4")).fit()
    import shutil
    shutil.rmtree(os.path.join(out, "checkpoint"))
    shutil.copytree(str(tmp_path / "ck4" / "checkpoint"), os.path.join(out, "checkpoint"))
    Trainer(make_model(), gpt_loss, get_batch, cfg, out_dir=out).fit(resume=True)
    with open(os.path.join(out, "metrics.jsonl")) as f:
        steps = [json.loads(line)["step"] for line in f if "loss" in json.loads(line)]
    assert steps == sorted(set(steps)) == [2, 4, 6, 8, 10]


def test_keyboard_interrupt_checkpoints_and_resume_matches(tmp_path):
    full = run_straight(tmp_path, 8)

    def interrupting(step):
        batch = get_batch(step)        # the generator has moved on: resume must undo that
        if step == 5:
            raise KeyboardInterrupt
        return batch
    out = str(tmp_path / "ctrlc")
    tr = Trainer(make_model(), gpt_loss, interrupting, config(8), out_dir=out)
    tr.fit()
    assert tr.interrupted and tr.step == 5
    with open(os.path.join(out, "checkpoint", "trainer_state.json")) as f:
        assert json.load(f)["step"] == 5
    b = make_model()
    Trainer(b, gpt_loss, get_batch, config(8), out_dir=out).fit(resume=True)
    assert weight_bytes(b) == weight_bytes(full)


def test_sigint_finishes_the_step_then_stops(tmp_path):
    # Start from Python's usual Ctrl-C handler: under nohup or in CI, SIGINT may arrive ignored.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)

    def loss_then_signal(model, batch):
        if tr.step == 2:
            os.kill(os.getpid(), signal.SIGINT)   # a real Ctrl-C, in the middle of step 3
        return gpt_loss(model, batch)
    tr = Trainer(make_model(), loss_then_signal, get_batch, config(8), out_dir=str(tmp_path / "sig"))
    tr.fit()
    assert tr.interrupted and tr.step == 3
    assert os.path.exists(tmp_path / "sig" / "checkpoint" / "optimizer.safetensors")
    try:
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored after fit
    finally:
        signal.signal(signal.SIGINT, previous)


class NaNGrad(Function):
    """Identity forward, NaN gradient backward: poisons exactly one parameter's gradient."""
    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, g):
        return np.full_like(g, np.nan)


def test_non_finite_gradient_names_step_and_layer(tmp_path):
    model = make_model()
    target = model.blocks[1].mlp.fc
    original = target.forward

    def poisoned(x):
        if tr.step == 3:
            return minitl.nn.functional.linear(x, NaNGrad.apply(target.weight), target.bias)
        return original(x)
    object.__setattr__(target, "forward", poisoned)
    tr = Trainer(model, gpt_loss, get_batch, config(6))
    # the composed path calls the Linear's forward (the fused block reads fc.weight directly)
    with minitl.config.fused(False), pytest.raises(NonFiniteError, match=r"step 3: .*blocks\.1\.mlp\.fc\.weight"):
        tr.fit()


def test_nan_loss_stops_the_run():
    tr = Trainer(make_model(), lambda m, b: gpt_loss(m, b) * float("nan"), get_batch, config(4))
    with pytest.raises(NonFiniteError, match=r"step 0: loss is nan"):
        tr.fit()


def test_metrics_jsonl_and_eval_do_not_change_the_run(tmp_path):
    full = run_straight(tmp_path, 6)
    calls = []

    def eval_fn(model):
        minitl.random.rng().random(10)   # an evaluation that draws random numbers
        calls.append(model.training)
        return {"val_loss": 1.0}
    model = make_model()
    cfg = config(6, eval_every=2)
    Trainer(model, gpt_loss, get_batch, cfg, out_dir=str(tmp_path / "ev"), eval_fn=eval_fn).fit()
    assert weight_bytes(model) == weight_bytes(full)
    assert calls == [False, False, False]      # steps 2, 4 and the final one, all in eval mode
    recs = [json.loads(line) for line in open(tmp_path / "ev" / "metrics.jsonl")]
    train_steps = [r["step"] for r in recs if "loss" in r]
    assert train_steps == [2, 4, 6]
    assert all(np.isfinite(r["loss"]) and r["tokens_per_s"] > 0 for r in recs if "loss" in r)
    assert [r["step"] for r in recs if r.get("split") == "validation"] == [2, 4, 6]


def test_training_lowers_the_loss_and_follows_the_schedule():
    model = make_model()
    x = np.tile(np.arange(T), (B, 1)) % 7                    # a repeating pattern: learnable
    batch = (x, (x + 1) % 7)
    tr = Trainer(model, gpt_loss, lambda s: batch, TrainConfig(steps=60, lr=1e-2, warmup_steps=5,
                                                               log_every=1, progress=False))
    hist = tr.fit()
    losses = [r["loss"] for r in hist if "loss" in r]
    assert losses[0] > np.log(V) - 0.5 and losses[-1] < 0.5 * losses[0]
    lrs = [r["lr"] for r in hist if "lr" in r]
    assert max(lrs) == pytest.approx(1e-2, rel=1e-6)                # the peak after warmup
    assert lrs[-1] == pytest.approx(1e-3, rel=1e-6)                 # cosine down to 0.1 x peak


def test_time_budget_stops_early_but_evaluates_and_checkpoints(tmp_path):
    cfg = config(1000, max_minutes=1e-9)          # spent during the first step
    tr = Trainer(make_model(), gpt_loss, get_batch, cfg, out_dir=str(tmp_path / "tb"),
                 eval_fn=lambda m: {"val_loss": 1.0})
    hist = tr.fit()
    assert tr.step == 1 and not tr.interrupted     # the budget is checked after each step
    assert any("time budget" in r.get("stopped", "") for r in hist)
    assert hist[-1].get("split") == "validation"
    assert (tmp_path / "tb" / "checkpoint" / "trainer_state.json").exists()
