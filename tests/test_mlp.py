"""End to end: a small MLP learns two interleaved spirals; freezing its first layer freezes it exactly."""
import numpy as np

import minitl
from minitl import nn
from minitl.nn import functional as F
from minitl.optim import AdamW


def spirals(n_per_class=150, noise=0.1, seed=0):
    """Two interleaved spirals in 2-D, labels 0 and 1 (seeded, so always the same points)."""
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.uniform(0, 1, n_per_class)) * 3 * np.pi        # angle along the arm
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3 * np.pi)  # (n, 2), radius <= 1
    x = np.concatenate([arm, -arm]) + rng.normal(0, noise / (3 * np.pi), (2 * n_per_class, 2))
    y = np.concatenate([np.zeros(n_per_class, dtype=np.int64), np.ones(n_per_class, dtype=np.int64)])
    return x.astype(np.float32), y


def train(freeze_first=False, steps=150):
    minitl.manual_seed(0)
    x, y = spirals()
    model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))
    if freeze_first:
        model[0].freeze()
    start = {n: p.data.copy() for n, p in model.named_parameters()}
    opt = AdamW(model.parameters(), lr=0.01, weight_decay=0.01)
    xt = minitl.tensor(x)
    for _ in range(steps):  # full batch: 300 points
        loss = F.cross_entropy(model(xt), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with minitl.no_grad():
        acc = float((model(xt).data.argmax(axis=1) == y).mean())
    return model, start, acc, float(loss.item())


def test_mlp_learns_spirals():
    _, _, acc, loss = train()
    # Measured: 1.000 training accuracy (loss 0.0054) after 150 full-batch AdamW steps
    # (already 1.000 at 100 steps, loss 0.021), about 1-3 s on 2 shared cores.
    assert acc >= 0.95, f"training accuracy {acc:.3f} (loss {loss:.3f})"


def test_frozen_first_layer_is_byte_identical():
    model, start, _, _ = train(freeze_first=True, steps=50)
    for name in ("0.weight", "0.bias"):
        assert model.state_dict()[name].tobytes() == start[name].tobytes(), name
    for name in ("2.weight", "2.bias", "4.weight", "4.bias"):
        assert not np.array_equal(model.state_dict()[name], start[name]), name
