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

Plots (in --out): 00_autograd_spirals.png, the decision regions of the MLP with every layer
trained beside the one whose first layer stayed frozen; 00_autograd_frozen.png, the loss of
both runs and how far each first layer moved from where it started.

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
    start = model[0].weight.data.copy()
    opt = optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    print("   " + optim.param_summary(model))
    history = {"loss": [], "moved": []}        # per step: the loss, ||W1 - W1 at the start||
    for step in range(args.steps):
        logits = model(minitl.tensor(X))
        loss = F.cross_entropy(logits, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history["loss"].append(loss.item())
        history["moved"].append(float(np.linalg.norm(model[0].weight.data - start)))
        if step % max(1, args.steps // 5) == 0 or step == args.steps - 1:
            acc = (logits.numpy().argmax(1) == labels).mean()
            print(f"   step {step:4d}  loss {loss.item():.4f}  train accuracy {100 * acc:5.1f}%")
    same = model[0].weight.data.tobytes() == before
    return model, acc, same, history


model, acc, same, hist = train(freeze_first=False)
print(f"   first layer unchanged: {same}\n")
model_frozen, acc_frozen, same_frozen, hist_frozen = train(freeze_first=True)
print(f"   with the first layer frozen -- unchanged: {same_frozen}, accuracy {100 * acc_frozen:.1f}% "
      "(a frozen random layer is a fixed feature map; the rest still learns on top of it)")

os.makedirs(args.out, exist_ok=True)
import matplotlib  # noqa: E402  (only needed for the picture)
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

g = np.linspace(-1.2, 1.2, 150, dtype=np.float32)
grid = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
fig, axes = plt.subplots(1, 2, figsize=(8.5, 4.3), sharey=True)
for ax, m, a, what in ((axes[0], model, acc, "every layer trained"),
                       (axes[1], model_frozen, acc_frozen, "first layer frozen at its random start")):
    with minitl.no_grad():
        pred = m(minitl.tensor(grid)).numpy().argmax(1).reshape(len(g), len(g))
    ax.contourf(g, g, pred, levels=[-0.5, 0.5, 1.5], colors=["tab:blue", "tab:red"], alpha=0.2)
    for k, colour in enumerate(("tab:blue", "tab:red")):
        ax.scatter(X[labels == k, 0], X[labels == k, 1], s=6, color=colour, label=f"class {k} (spiral arm {k + 1})")
    ax.set_title(f"{what}: {100 * a:.0f}% train accuracy", fontsize=9)
    ax.set_xlabel("x1 (input feature 1)")
    ax.set_aspect("equal")
axes[0].set_ylabel("x2 (input feature 2)")
axes[0].legend(fontsize=7, loc="lower left", title="points; shading = predicted class", title_fontsize=7)
fig.suptitle(f"MLP decision regions on two spirals ({args.steps} steps of AdamW)", fontsize=10)
fig.tight_layout()
path = os.path.join(args.out, "00_autograd_spirals.png")
fig.savefig(path, dpi=110, bbox_inches="tight")
plt.close(fig)

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8.5, 3.5))
steps = np.arange(1, args.steps + 1)
for h, what, style in ((hist, "every layer trained", "-"), (hist_frozen, "first layer frozen", "--")):
    ax1.plot(steps, h["loss"], style, label=what)
    ax2.plot(steps, h["moved"], style, label=what)
ax1.set_xlabel("step")
ax1.set_ylabel("training loss (cross-entropy)")
ax1.set_title(f"final loss {hist['loss'][-1]:.3f} (all trained) vs {hist_frozen['loss'][-1]:.3f} (frozen)",
              fontsize=9)
ax2.set_xlabel("step")
ax2.set_ylabel("||W1 - W1 at step 0|| (first layer)")
ax2.set_title(f"the frozen layer moved {max(hist_frozen['moved']):g}, the trained one {hist['moved'][-1]:.2f}",
              fontsize=9)
for ax in (ax1, ax2):
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
fig.tight_layout()
path2 = os.path.join(args.out, "00_autograd_frozen.png")
fig.savefig(path2, dpi=110, bbox_inches="tight")
plt.close(fig)
print(f"   check: the frozen first layer moved exactly 0 and the trained one did not: "
      f"{max(hist_frozen['moved']) == 0.0 and hist['moved'][-1] > 0}")
print(f"\n   plots: {path} (decision regions, trained vs frozen first layer), "
      f"{path2} (loss, and how far the first layer moved)")
