"""Lesson 00 -- the tape: how minitl turns a forward pass into gradients.

Read alongside:
  minitl/tensor.py        Function.apply records each op; Tensor.backward walks the tape
  minitl/ops/elementwise.py   Mul, Add, Tanh ... each a forward/backward pair
  minitl/testing.py       grad_check: the central-difference oracle every op is tested with

What you will see:
  1. every op of a tiny expression, printed as it runs (the MINITL_DEBUG trace);
  2. the gradients backward() computes, next to finite differences;
  3. a small MLP trained on two interleaved spirals, and what freezing a layer
     means: its weights stay byte-identical while the rest learns.

Run:  python lessons/00_autograd.py [--smoke|--quick|--full] [--steps=300] [--out DIR]
"""
import os

import numpy as np

import minitl
import minitl.nn.functional as F
from minitl import nn, optim
from minitl.lesson import parse

# -----------------------------------------------------------------------------
config = dict(steps=300, hidden=64, lr=0.01, points=300, seed=0)
# -----------------------------------------------------------------------------
args = parse(config, __doc__)
if args.mode == "smoke":
    args.steps = min(args.steps, 20)
elif args.mode == "full":
    args.steps = max(args.steps, 1000)
minitl.manual_seed(args.seed)

print("1. The tape. y = tanh(w * x + b), every op printed as it runs:\n")
x = minitl.tensor([0.5, -1.0, 2.0])
w = minitl.tensor([0.3, 0.8, -0.2], requires_grad=True)
b = minitl.tensor(0.1, requires_grad=True)
with minitl.config.debug():
    y = (w * x + b).tanh().sum()
print(f"\n   y = {y.item():.6f}, made by op {y._op!r}; its inputs were made by "
      f"{[p._op for p in y._parents]}")

print("\n2. backward() vs central differences  (d y / d w_i = (1 - tanh^2) * x_i):\n")
y.backward()


def f(wv):
    return np.tanh(wv * x.data.astype(np.float64) + 0.1).sum()


eps = 1e-6
numeric = [(f(w.data + eps * np.eye(3)[i]) - f(w.data - eps * np.eye(3)[i])) / (2 * eps) for i in range(3)]
print(f"   {'i':>3} {'tape':>12} {'finite diff':>12}")
for i in range(3):
    print(f"   {i:>3} {w.grad[i]:>12.6f} {numeric[i]:>12.6f}")


print(f"\n3. An MLP on two spirals ({args.points} points, {args.steps} steps of AdamW):\n")


def spirals(n, rng):
    t = np.sqrt(rng.random(n // 2)) * 3 * np.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], 1) / (3 * np.pi)
    X = np.concatenate([arm, -arm]) + 0.02 * rng.normal(size=(2 * (n // 2), 2))
    y = np.repeat([0, 1], n // 2)
    return X.astype(np.float32), y


X, labels = spirals(args.points, np.random.default_rng(args.seed))


def train(freeze_first):
    minitl.manual_seed(args.seed)
    model = nn.Sequential(nn.Linear(2, args.hidden), nn.ReLU(), nn.Linear(args.hidden, args.hidden),
                          nn.ReLU(), nn.Linear(args.hidden, 2))
    if freeze_first:
        model[0].freeze()
    before = model[0].weight.data.tobytes()
    opt = optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    print("   " + optim.param_summary(model))
    for step in range(args.steps):
        logits = model(minitl.tensor(X))
        loss = F.cross_entropy(logits, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % max(1, args.steps // 5) == 0 or step == args.steps - 1:
            acc = (logits.numpy().argmax(1) == labels).mean()
            print(f"   step {step:4d}  loss {loss.item():.4f}  train accuracy {100 * acc:5.1f}%")
    same = model[0].weight.data.tobytes() == before
    return model, acc, same


model, acc, same = train(freeze_first=False)
print(f"   first layer unchanged: {same}\n")
_, acc_frozen, same_frozen = train(freeze_first=True)
print(f"   with the first layer frozen -- unchanged: {same_frozen}, accuracy {100 * acc_frozen:.1f}% "
      "(a frozen random layer is a fixed feature map; the rest still learns on top of it)")

os.makedirs(args.out, exist_ok=True)
import matplotlib  # noqa: E402  (only needed for the picture)
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

g = np.linspace(-1.2, 1.2, 150, dtype=np.float32)
grid = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
with minitl.no_grad():
    pred = model(minitl.tensor(grid)).numpy().argmax(1).reshape(len(g), len(g))
fig, ax = plt.subplots(figsize=(4, 4))
ax.contourf(g, g, pred, alpha=0.3, cmap="coolwarm")
ax.scatter(X[:, 0], X[:, 1], c=labels, s=6, cmap="coolwarm")
ax.set_title(f"MLP decision regions ({100 * acc:.0f}% train accuracy)")
path = os.path.join(args.out, "00_autograd_spirals.png")
fig.savefig(path, dpi=110, bbox_inches="tight")
print(f"\n   plot: {path}")
