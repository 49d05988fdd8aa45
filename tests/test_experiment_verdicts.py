"""Verdicts of time-to-accuracy, domain-shift, pretext-mismatch and data-scale on hand-made tables:
the target and speed-up arithmetic, 'a gain within the seeds' std is not a gain', the data ratios."""
import pytest

from minitl.transfer.experiments import get
from minitl.transfer.experiments.base import Env


def curve(accs, seconds, steps_per_epoch, **kw):
    row = {"accuracy": accs[-1], "std": 0.01, "seeds": 3, "epochs": len(accs), "steps_per_epoch": steps_per_epoch,
           "pretrain_seconds": 600.0, **kw}
    for e, (a, s) in enumerate(zip(accs, seconds), 1):
        row[f"val_acc_e{e:02d}"], row[f"train_s_e{e:02d}"] = a, s
    return row


def test_time_to_accuracy_target_and_speed_up():
    table = [curve([0.80, 0.84, 0.85], [2.0, 4.0, 6.0], 7, method="gpt:full", n_train=100),
             curve([0.52, 0.60, 0.66, 0.71, 0.72], [1.0, 2.0, 3.0, 4.0, 5.0], 7, method="scratch:gpt", n_train=100)]
    out = get("time-to-accuracy").summarize(table, "quick")
    ft, sc = table
    assert ft["target"] == pytest.approx(0.5 + 0.95 * 0.22)       # 95% of the way from chance to 72%
    assert (ft["epoch_to_target"], sc["epoch_to_target"]) == (1, 4)   # 0.709 first reached at epoch 4
    assert ft["speed-up"] == pytest.approx(4.0 / 2.0) and sc["steps_to_target"] == 28
    assert out["verdict"] == "holds in part" and "at least 2.0x faster" in out["measured"]
    assert "0.0066x with the 600 s of pretraining" in out["measured"]      # 4 / (2 + 600)


def test_time_to_accuracy_with_a_method_at_chance_times_nothing():
    table = [curve([0.80, 0.84], [2.0, 4.0], 7, method="gpt:full", n_train=100),
             curve([0.50, 0.505], [1.0, 2.0], 7, method="scratch:gpt", n_train=100)]
    out = get("time-to-accuracy").summarize(table, "quick")
    assert out["verdict"] == "does not hold at this scale" and "no target" in out["measured"]


def rows(accs, std, key="condition", **kw):
    return [{key: k, "accuracy": a, "std": std, "seeds": 3, "n_train": 100, "tokens_per_text": 30.0, **kw}
            for k, a in accs.items()]


@pytest.mark.parametrize("std, verdict", [(0.01, "holds"), (0.2, "does not hold at this scale")])
def test_domain_shift_needs_differences_beyond_the_std(std, verdict):
    accs = {"matched": 0.80, "mismatched": 0.70, "foreign": 0.62, "scratch": 0.60, "scratch-foreign": 0.61}
    table = rows(accs, std)
    out = get("domain-shift").summarize(table, "quick")
    assert out["verdict"] == verdict
    assert {r["condition"]: round(r["gain (points)"], 6) for r in table} == {
        "matched": 20.0, "mismatched": 10.0, "foreign": 1.0, "scratch": 0.0, "scratch-foreign": 0.0}


def test_domain_shift_in_part_when_the_cipher_keeps_the_gain():
    table = rows({"matched": 0.80, "mismatched": 0.70, "foreign": 0.79, "scratch": 0.60, "scratch-foreign": 0.60},
                 0.01)
    assert get("domain-shift").summarize(table, "quick")["verdict"] == "holds in part"


@pytest.mark.parametrize("shuffled, verdict", [(0.62, "holds"), (0.695, "does not hold at this scale")])
def test_pretext_mismatch_verdicts(shuffled, verdict):
    table = rows({"normal": 0.70, "shuffled": shuffled, "scratch": 0.60}, 0.01, pretrain_val_loss=4.0)
    out = get("pretext-mismatch").summarize(table, "quick")
    assert out["verdict"] == verdict
    assert "+10.0 points vs scratch 60.0%" in out["measured"]


def test_data_scale_ratios_and_verdicts():
    common = dict(pretrain_tokens=2e6, tokens_seen=4e6, labelled_bytes=1e4, labelled_tokens=3000.0)
    table = [dict(r, pretrain_bytes=5.8e6 * (r["fraction"] or 1), **common)
             for r in rows({0.0: 0.60, 0.01: 0.62, 0.1: 0.70, 1.0: 0.75}, 0.01, key="fraction")]
    out = get("data-scale").summarize(table, "quick")
    assert out["verdict"] == "holds"
    assert out["ratio_bytes"] == pytest.approx(580) and out["ratio_tokens"] == pytest.approx(2e6 / 3000)
    assert "= 580x in bytes" in out["measured"] and "80,000,000x" in out["measured"]
    table[2]["accuracy"] = 0.80                     # 10% beats 100% by more than the std: not monotone
    assert get("data-scale").summarize(table, "quick")["verdict"] == "holds in part"
    table[3]["accuracy"] = 0.625                    # 100% vs 1% within the std: no gain
    assert get("data-scale").summarize(table, "quick")["verdict"] == "does not hold at this scale"


@pytest.mark.slow
def test_small_models_are_built_once_per_condition_and_budget(tmp_path):
    from minitl.transfer.experiments import small_models as S
    calls = []

    def docs():
        calls.append(1)
        return ["the cat sat on the mat and the dog sat on the log " * 20] * 60
    env = Env("smoke", str(tmp_path))
    path, card = S.pretrained_gpt(env, "toy", docs)
    again, card2 = S.pretrained_gpt(env, "toy", docs)
    assert path == again and card == card2 and len(calls) == 1
    assert card["steps"] == S.BUDGETS["smoke"]["steps"] and card["train_documents"] == 57
    assert (tmp_path / "models" / f"toy-{S.budget_tag('smoke')}" / "model" / "config.json").exists()
    assert not list((tmp_path / "models").glob("*.building"))


def test_a_fine_tuning_cut_short_is_not_a_result():
    from types import SimpleNamespace
    from minitl.transfer.experiments.small_models import check_complete
    from minitl.transfer.finetune import FinetuneConfig
    cfg = FinetuneConfig(epochs=10, batch_size=16)
    check_complete(SimpleNamespace(config=cfg, steps=70), 100)          # 10 epochs x ceil(100 / 16)
    with pytest.raises(KeyboardInterrupt, match="step 33 of 70"):
        check_complete(SimpleNamespace(config=cfg, steps=33), 100)
