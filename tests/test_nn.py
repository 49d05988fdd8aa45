"""Module tree, naming, state_dict, strict loading, freezing, layers and containers."""
import io
from collections import OrderedDict

import numpy as np
import pytest

import minitl
from minitl import nn
from minitl.nn import functional as F


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln = nn.LayerNorm(4)
        self.fc = nn.Linear(4, 3)
        self.drop = nn.Dropout(0.1)

    def forward(self, x):
        return self.drop(self.fc(self.ln(x)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4)
        self.blocks = nn.ModuleList([Block(), Block()])
        self.head = nn.Linear(3, 2, bias=False)
        self.scale = nn.Parameter(np.ones(1))
        self.not_a_param = np.zeros(3)  # plain attribute: must not be registered


def test_named_parameters_dotted_in_definition_order():
    names = [n for n, _ in Net().named_parameters()]
    assert names == ["scale", "emb.weight",
                     "blocks.0.ln.weight", "blocks.0.ln.bias", "blocks.0.fc.weight", "blocks.0.fc.bias",
                     "blocks.1.ln.weight", "blocks.1.ln.bias", "blocks.1.fc.weight", "blocks.1.fc.bias",
                     "head.weight"]
    # own parameters come before children's, as in PyTorch; definition order within each


def test_children_modules_and_counts():
    net = Net()
    assert [n for n, _ in net.named_children()] == ["emb", "blocks", "head"]
    assert [n for n, _ in net.named_modules()] == [
        "", "emb", "blocks", "blocks.0", "blocks.0.ln", "blocks.0.fc", "blocks.0.drop",
        "blocks.1", "blocks.1.ln", "blocks.1.fc", "blocks.1.drop", "head"]
    # 1 + 10*4 + 2 * (4 + 4 + 4*3 + 3) + 3*2
    assert net.num_parameters() == 1 + 40 + 2 * 23 + 6
    net.emb.freeze()
    assert net.num_parameters(trainable_only=True) == 1 + 2 * 23 + 6


def test_parameter_defaults_and_assignment_rules():
    p = nn.Parameter([[1, 2]])
    assert p.requires_grad and p.dtype == np.float32 and isinstance(p, minitl.Tensor)
    lin = nn.Linear(2, 3)
    assert lin.weight.shape == (3, 2) and lin.bias.shape == (3,)  # (out, in) like PyTorch
    with pytest.raises(TypeError, match="Linear.weight is a Parameter"):
        lin.weight = np.zeros((3, 2))
    lin.bias = None  # allowed: drops the bias
    assert [n for n, _ in lin.named_parameters()] == ["weight"]

    class Forgot(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)
    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Forgot()


def test_tied_weight_counted_once():
    a, b = nn.Embedding(5, 3), nn.Linear(3, 5, bias=False)
    b.weight = a.weight  # GPT's weight tying
    model = nn.Sequential(a, b)
    assert len(list(model.parameters())) == 1
    assert set(model.state_dict()) == {"0.weight", "1.weight"}


def test_train_eval_propagates():
    net = Net()
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_state_dict_is_a_copy_and_round_trips():
    minitl.manual_seed(0)
    a = Net()
    sd = a.state_dict()
    before = sd["head.weight"].copy()
    a.head.weight.data += 1.0  # training goes on...
    assert np.array_equal(sd["head.weight"], before)  # ...the snapshot does not move
    minitl.manual_seed(1)
    b = Net()
    assert not np.array_equal(b.head.weight.data, a.head.weight.data)
    res = b.load_state_dict(a.state_dict())
    assert res.missing_keys == [] and res.unexpected_keys == []
    for (n1, p1), (n2, p2) in zip(a.named_parameters(), b.named_parameters()):
        assert n1 == n2 and np.array_equal(p1.data, p2.data) and p2.dtype == np.float32


def test_load_state_dict_casts_to_param_dtype():
    lin = nn.Linear(2, 2)
    sd = {"weight": np.arange(4.0).reshape(2, 2), "bias": np.array([1, 2], dtype=np.float16)}  # float64, float16
    lin.load_state_dict(sd)
    assert lin.weight.dtype == np.float32 and lin.bias.dtype == np.float32
    assert lin.weight.data.tolist() == [[0, 1], [2, 3]] and lin.bias.data.tolist() == [1, 2]
    sd["weight"] = np.ones((2, 2), dtype=np.complex64)
    with pytest.raises(TypeError, match="weight has dtype complex64"):
        lin.load_state_dict(sd)


def test_strict_load_names_every_problem():
    net = Net()
    sd = net.state_dict()
    del sd["head.weight"], sd["blocks.1.ln.bias"]
    sd["extra.weight"] = np.zeros(3)
    sd["blocks.0.fc.weight"] = np.zeros((4, 4))
    with pytest.raises(RuntimeError) as e:
        net.load_state_dict(sd)
    assert isinstance(e.value, ValueError)          # StateDictError: RuntimeError as in torch, and a ValueError
    msg = str(e.value)
    assert "missing key blocks.1.ln.bias (expected shape " in msg and "missing key head.weight" in msg
    assert "unexpected key extra.weight (shape (3,))" in msg
    assert "shape mismatch for blocks.0.fc.weight: model expects (3, 4), state_dict has (4, 4)" in msg
    assert len(e.value.problems) == 4 and e.value.problems == nn.loading.state_dict_problems(net, sd)


def test_non_strict_load_reports_but_shape_mismatch_still_raises():
    net = Net()
    sd = net.state_dict()
    del sd["head.weight"]
    sd["foo"] = np.zeros(1)
    res = net.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["head.weight"] and res.unexpected_keys == ["foo"]
    sd["scale"] = np.zeros(2)
    with pytest.raises(RuntimeError, match="shape mismatch for scale"):
        net.load_state_dict(sd, strict=False)


def test_freeze_unfreeze_requires_grad():
    net = Net()
    assert net.blocks[0].freeze() is net.blocks[0]
    assert [n for n, p in net.named_parameters() if not p.requires_grad] == [
        "blocks.0.ln.weight", "blocks.0.ln.bias", "blocks.0.fc.weight", "blocks.0.fc.bias"]
    net.unfreeze()
    assert all(p.requires_grad for p in net.parameters())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


def test_frozen_layer_gets_no_grad_and_zero_grad_clears():
    minitl.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    model[0].freeze()
    x = minitl.tensor(np.random.default_rng(0).normal(size=(5, 3)))
    loss = F.cross_entropy(model(x), np.array([0, 1, 0, 1, 1]))
    loss.backward()
    assert model[0].weight.grad is None and model[0].bias.grad is None
    assert model[2].weight.grad is not None and np.abs(model[2].weight.grad).sum() > 0
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_linear_matches_numpy_and_init_bound():
    minitl.manual_seed(0)
    lin = nn.Linear(16, 5)
    assert np.abs(lin.weight.data).max() <= 1 / 4 and np.abs(lin.bias.data).max() <= 1 / 4
    assert lin.weight.data.std() > 0.1  # U(-1/4, 1/4) has std 0.144; not all zeros
    x = np.random.default_rng(1).normal(size=(2, 7, 16)).astype(np.float32)
    y = lin(minitl.tensor(x))
    assert y.shape == (2, 7, 5)
    np.testing.assert_allclose(y.data, x @ lin.weight.data.T + lin.bias.data, rtol=1e-5, atol=1e-6)


def test_embedding_lookup_and_out_of_range_error():
    emb = nn.Embedding(8192, 4)
    ids = np.array([[0, 5], [8191, 5]])
    out = emb(ids)
    assert out.shape == (2, 2, 4)
    assert np.array_equal(out.data[1, 0], emb.weight.data[8191])
    with pytest.raises(IndexError, match=r"Embedding\(8192, 4\): id 9000 out of range for a table of 8192 rows \(ids must be in \[0, 8192\)"):
        emb(np.array([1, 9000]))
    with pytest.raises(IndexError, match="id -1 out of range"):
        emb(np.array([-1]))
    with pytest.raises(TypeError, match="ids must be integers, got dtype float64"):
        emb(np.array([1.0]))


def test_layernorm_normalises_and_gradients_flow():
    ln = nn.LayerNorm(6)
    ln.weight.data[:] = 2.0
    ln.bias.data[:] = 0.5
    x = np.random.default_rng(2).normal(3.0, 4.0, size=(3, 6))
    y = ln(minitl.tensor(x)).data
    np.testing.assert_allclose(y.mean(-1), 0.5, atol=1e-5)
    np.testing.assert_allclose(y.std(-1), 2.0 * np.sqrt(x.var(-1) / (x.var(-1) + 1e-5)), rtol=1e-4)


def test_dropout_train_vs_eval():
    minitl.manual_seed(0)
    d = nn.Dropout(0.5)
    x = minitl.tensor(np.ones((200, 50)))
    y = d(x).data
    assert set(np.unique(y)) <= {0.0, 2.0} and 0.4 < (y == 0).mean() < 0.6
    assert np.array_equal(d.eval()(x).data, x.data)
    with pytest.raises(ValueError, match="p must be in"):
        nn.Dropout(1.5)


def test_sequential_indexing_slicing_len():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    s = nn.Sequential(a, b, c)
    assert len(s) == 3 and s[0] is a and s[-1] is c and list(s) == [a, b, c]
    head = s[1:]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[0] is b
    assert [n for n, _ in head.named_parameters()] == ["2.weight", "2.bias"]  # names kept
    with pytest.raises(IndexError, match="index 3 out of range for length 3"):
        s[3]
    named = nn.Sequential(OrderedDict(fc=a, act=b))
    assert [n for n, _ in named.named_parameters()] == ["fc.weight", "fc.bias"]
    x = minitl.tensor(np.array([[1.0, -2.0]]))
    expect = np.maximum(x.data @ a.weight.data.T + a.bias.data, 0) @ c.weight.data.T + c.bias.data
    np.testing.assert_allclose(s(x).data, expect, rtol=1e-5)


def test_module_list_and_dict():
    ml = nn.ModuleList([nn.Linear(1, 1)])
    ml.append(nn.Linear(1, 2))
    assert len(ml) == 2 and ml[-1].out_features == 2 and len(ml[:1]) == 1
    ml[0] = nn.Linear(1, 3)
    assert ml[0].out_features == 3
    md = nn.ModuleDict({"a": nn.Linear(1, 1)})
    md["b"] = nn.Linear(2, 2)
    assert "b" in md and list(md) == ["a", "b"] and len(md) == 2
    assert [n for n, _ in md.named_parameters()] == ["a.weight", "a.bias", "b.weight", "b.bias"]
    with pytest.raises(KeyError, match="no key 'c'"):
        md["c"]
    with pytest.raises(KeyError, match="without '.'"):
        md["x.y"] = nn.Linear(1, 1)


def test_repr_tree():
    s = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU(), nn.Dropout(0.1)))
    assert repr(s) == ("Sequential(\n"
                       "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
                       "  (1): Sequential(\n"
                       "    (0): ReLU()\n"
                       "    (1): Dropout(p=0.1)\n"
                       "  )\n"
                       ")")


def test_buffers_in_state_dict_and_to_double():
    class WithBuf(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)
            self.register_buffer("mask", np.tril(np.ones((2, 2))))
            self.register_buffer("cache", np.zeros(2), persistent=False)
    m = WithBuf()
    assert list(m.state_dict()) == ["mask", "fc.weight", "fc.bias"]  # own entries first, as PyTorch
    assert m.mask.shape == (2, 2) and not m.mask.requires_grad
    m.double()
    assert m.fc.weight.dtype == np.float64 and m.mask.dtype == np.float64


def test_model_gradients_match_float64_central_differences():
    # The layers compose ops and never write a gradient; this checks the composition
    # end to end: every parameter of a small float64 model against (L(p+e) - L(p-e)) / 2e.
    minitl.manual_seed(0)
    model = nn.Sequential(nn.Embedding(5, 3), nn.LayerNorm(3), nn.Linear(3, 4), nn.GELU(),
                          nn.Linear(4, 2)).double()
    ids, target = np.array([[0, 4, 2], [1, 1, 3]]), np.array([0, 1, 1, 0, 1, 0])

    def loss():
        return F.cross_entropy(model(ids).reshape(6, 2), target)  # (B, T, 2) -> (B*T, 2)

    loss().backward()
    eps = 1e-6
    for name, p in model.named_parameters():
        assert p.dtype == np.float64 and p.grad is not None, name
        for idx in np.ndindex(p.shape):
            old = p.data[idx]
            p.data[idx] = old + eps
            hi = loss().item()
            p.data[idx] = old - eps
            lo = loss().item()
            p.data[idx] = old
            assert p.grad[idx] == pytest.approx((hi - lo) / (2 * eps), rel=1e-4, abs=1e-7), (name, idx)
    assert np.abs(model[0].weight.grad[[0, 1, 2, 3, 4]]).sum(axis=1).min() > 0  # every used row


def test_deepcopy_gives_an_independent_model():
    # Transfer experiments copy one pretrained model per strategy.
    import copy
    a = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    b = copy.deepcopy(a)
    b[0].weight.data += 1.0
    b[0].freeze()
    assert not np.array_equal(a[0].weight.data, b[0].weight.data) and a[0].weight.requires_grad
    assert isinstance(b[0].weight, nn.Parameter) and [n for n, _ in b.named_parameters()] == ["0.weight", "0.bias"]


def test_forward_hook_sees_each_call_can_replace_the_output_and_is_removed():
    lin = nn.Linear(2, 3)
    seen = []
    h = lin.register_forward_hook(lambda m, args, out: seen.append((m, args[0].shape, out.shape)))
    x = minitl.tensor(np.ones((4, 2)))
    y = lin(x)
    assert seen == [(lin, (4, 2), (4, 3))]
    h2 = lin.register_forward_hook(lambda m, args, out: out * 0.0)      # a return value replaces the output
    assert np.all(lin(x).data == 0) and len(seen) == 2
    h.remove()
    h2.remove()
    np.testing.assert_array_equal(lin(x).data, y.data)
    assert len(seen) == 2 and not lin._forward_hooks


def test_model_summary_leaves_no_hook_or_patched_forward_behind():
    from minitl.models import GPT, GPTConfig
    m = GPT(GPTConfig.from_preset("nano"))
    m.summary(T=4, file=io.StringIO())
    assert all(not mod._forward_hooks and "forward" not in mod.__dict__ for mod in m.modules())
