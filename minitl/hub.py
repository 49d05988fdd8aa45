"""The cache of default pretrained models: ``$MINITL_HOME/models/{w2v,gpt,bert,elmo,t5}/``.

    from minitl import hub
    path = hub.pretrained("gpt")             # builds it on first use (minutes), then instant
    hub.pretrain_all(minutes=20)             # (re)build the default three, minutes split between GPT and BERT
    hub.pretrain_all(names=hub.NAMES)        # all five: + ELMo and T5, ~8 more minutes each
    hub.card("gpt")                          # the model card: recipe, time, steps, validation numbers

``pretrain_all``'s default set is word2vec, GPT and BERT (``DEFAULT_SET``, ~17 min with
the default budgets).  ELMo and T5 (``OPTIONAL``) are opt-in -- ``minitl pretrain all
--with elmo,t5`` or ``hub.pretrained("elmo")`` -- because each adds its own ~8-minute budget
(micro models: 2-3 s per step on 2 busy cores, so ~200 steps; measured on the loaded 2-core
development machine: ELMo 12.7 min, 190 steps, stopped by the 1.5x time cap; T5 8.7 min, 208
steps); both are pretrained by ``minitl/pretrain_elmo_t5.py`` on the same corpus, tokenizer size
and preset size as GPT/BERT.

Each entry is a ``from_pretrained`` directory (word2vec: a ``KeyedVectors.save``
one) plus ``card.json``.  The transformers are trained to a wall-clock budget:
a few timed steps measure this machine's speed first, and the step count is set
so that the whole warmup + cosine schedule fits the budget (a schedule cut short
by a timer would end at its peak learning rate).  So the number of steps --
and the quality -- depend on the machine; the card records both.
"""
import json
import os
import shutil
import time
from dataclasses import asdict, replace

import numpy as np

from minitl.data.registry import cache_root
from minitl.pretrain import PretrainConfig, pretrain
from minitl.pretrain_elmo_t5 import ELMoT5PretrainConfig
from minitl.report import cpu_model

NAMES = ("w2v", "gpt", "bert", "elmo", "t5")     # every model the hub can build
DEFAULT_SET = ("w2v", "gpt", "bert")             # what pretrain_all builds unless told
OPTIONAL = ("elmo", "t5")                        # opt-in: ~8 more minutes each
CORPUS = "wiki+news+tweets-text"   # the tweets' own text with labels unused; evaluation tweets held out
RECIPES = {
    "gpt": PretrainConfig("gpt", corpus=CORPUS, preset="micro", lr=3e-3, warmup=50, eval_every=0,
                          ckpt_every=0),
    "bert": PretrainConfig("bert", corpus=CORPUS, preset="micro", lr=2e-3, warmup=50, eval_every=0,
                           ckpt_every=0),
    "elmo": ELMoT5PretrainConfig("elmo", corpus=CORPUS, preset="micro", lr=3e-3, warmup=50, eval_every=0,
                                 ckpt_every=0),
    "t5": ELMoT5PretrainConfig("t5", corpus=CORPUS, preset="micro", lr=1e-3, warmup=50, eval_every=0,
                               ckpt_every=0),
}
W2V = dict(sg=True, dim=100, epochs=10, min_count=3)
DEFAULT_MINUTES = {"gpt": 8.0, "bert": 8.0,      # `minitl pretrain all` with no --minutes: ~17 min
                   "elmo": 8.0, "t5": 8.0}       # each opt-in model: ~8 min more

# The "smoke" profile: models built in seconds (nano transformers, 30 steps, one word2vec
# epoch, all on the small news corpus) into their own folder, for tests and --smoke runs.
SMOKE = {"corpus": "news", "preset": "nano", "vocab_size": 400, "steps": 30, "w2v_epochs": 1}
_profile = {"name": "default"}


def set_profile(name):
    """"default" or "smoke": which set of cached models ``pretrained`` and ``load`` use."""
    if name not in ("default", "smoke"):
        raise ValueError(f"unknown hub profile {name!r}; expected 'default' or 'smoke'")
    _profile["name"] = name


def model_dir(name):
    if name not in NAMES:
        raise ValueError(f"unknown pretrained model {name!r}; expected one of {NAMES}")
    folder = "models" if _profile["name"] == "default" else "models-smoke"
    return os.path.join(cache_root(), folder, name)


def card(name):
    """The model card of a cached model (dict), or None when it is not built."""
    path = os.path.join(model_dir(name), "card.json")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def is_built(name):
    return card(name) is not None


def pretrained(name, minutes=None, progress=True):
    """The directory of cached model ``name``, building it first if it is missing."""
    if not is_built(name):
        build(name, minutes, progress=progress)
    return model_dir(name)


def load(name, minutes=None, progress=True):
    """The cached model itself: KeyedVectors for "w2v", GPT / BERT / ELMo / T5 (with tokenizer) otherwise."""
    path = pretrained(name, minutes, progress)
    if name == "w2v":
        from minitl.models.word2vec import load_vectors
        return load_vectors(path)
    from minitl.models import BERT, GPT
    from minitl.models.elmo import ELMo
    from minitl.models.t5 import T5
    return {"gpt": GPT, "bert": BERT, "elmo": ELMo, "t5": T5}[name].from_pretrained(path)


def pretrain_all(minutes=None, progress=True, names=DEFAULT_SET, steps=None):
    """Build (or rebuild) the models ``names`` (default: w2v, GPT, BERT; ELMo and T5 are opt-in).

    ``minutes``: the total budget, ~1.5 min for word2vec and the rest split evenly between
    the networks.  ``steps={"gpt": 1200}`` fixes a model's step count instead (the same
    model on any machine, however long it takes here)."""
    unknown = sorted(set(names) - set(NAMES))
    if unknown:
        raise ValueError(f"pretrain_all: unknown model(s) {unknown}; expected some of {NAMES}")
    nets = [n for n in names if n != "w2v"]
    w2v = 1.5 if "w2v" in names else 0.0
    per = None if minutes is None or not nets else max(minutes - w2v, 1.0) / len(nets)
    steps = steps or {}
    return {n: build(n, per, progress=progress, steps=steps.get(n)) for n in names}


def build(name, minutes=None, progress=True, steps=None):
    """Pretrain model ``name`` into the cache (replacing an older one); returns its card.

    The step count is ``steps`` if given, else what fits in ``minutes`` on this machine."""
    t0 = time.perf_counter()
    final = model_dir(name)
    work = final + ".building"
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    smoke = _profile["name"] == "smoke"
    if name == "w2v":
        info = _build_w2v(work, progress, epochs=SMOKE["w2v_epochs"] if smoke else W2V["epochs"],
                          corpus=SMOKE["corpus"] if smoke else CORPUS)
    else:
        minutes = minutes or DEFAULT_MINUTES[name]
        cfg = replace(RECIPES[name], progress=progress)
        if smoke:
            cfg = replace(cfg, corpus=SMOKE["corpus"], preset=SMOKE["preset"], vocab_size=SMOKE["vocab_size"],
                          steps=SMOKE["steps"])
        elif steps:
            cfg = replace(cfg, steps=int(steps))
            minutes = None
        else:
            cfg = replace(cfg, steps=steps_for_minutes(cfg, minutes))
        print(f"pretraining {name}: {cfg.steps} steps" + (f" (what fits in ~{minutes:.1f} min here)"
                                                         if minutes and not smoke else ""))
        budget = 0 if smoke or not minutes else 1.5 * minutes
        run_fn = pretrain if name in ("gpt", "bert") else _pretrain_elmo_t5
        run = run_fn(replace(cfg, max_minutes=budget), os.path.join(work, "run"))
        shutil.copytree(run["model_dir"], os.path.join(work, "model"))
        info = {"recipe": asdict(cfg), "steps": run["steps"], "train_tokens": run["train_tokens"],
                "validation": run["validation"], "budget_minutes": minutes}
    info.update(name=name, seconds=round(time.perf_counter() - t0, 1), cpu=cpu_model(),
                built=time.strftime("%Y-%m-%d %H:%M:%S"))
    target = os.path.join(work, "model") if name != "w2v" else os.path.join(work, "vectors")
    with open(os.path.join(target, "card.json"), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=1)
    # swap the finished model into place (the old one goes only once the new one is complete)
    old = final + ".old"
    shutil.rmtree(old, ignore_errors=True)
    if os.path.exists(final):
        os.rename(final, old)
    os.rename(target, final)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    print(f"{name}: built in {info['seconds']:.0f} s -> {final}")
    return info


def _pretrain_elmo_t5(cfg, out):
    from minitl.pretrain_elmo_t5 import pretrain as run
    return run(cfg, out)


def steps_for_minutes(cfg, minutes, probe_steps=4):
    """How many training steps of ``cfg`` fit in ``minutes`` here: time a few steps of the model."""
    if cfg.kind in ("elmo", "t5"):
        from minitl.pretrain_elmo_t5 import seconds_per_step
        per_step = seconds_per_step(cfg.kind, cfg.preset, cfg.batch_size, probe_steps) * 1.1
        return max(20, int(60 * minutes / per_step))
    from minitl import manual_seed
    from minitl.models import BERT, BERTConfig, GPT, GPTConfig
    from minitl.optim import AdamW
    Model, Config = (GPT, GPTConfig) if cfg.kind == "gpt" else (BERT, BERTConfig)
    manual_seed(0)
    m = Model(Config.from_preset(cfg.preset))
    opt = AdamW(m.parameters(), lr=1e-4)
    T, B, V = m.config.block_size, cfg.batch_size, m.config.vocab_size
    rng = np.random.default_rng(0)
    x = rng.integers(6, V, (B, T))
    times = []
    for i in range(probe_steps + 1):          # the first step compiles kernels: not counted
        t = time.perf_counter()
        if cfg.kind == "gpt":
            loss = m(x, x)[1]
        else:
            labels = np.where(rng.random((B, T)) < 0.15, x, -100)
            loss = m(x, mlm_labels=labels)[1]
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    per_step = float(np.median(times[1:])) * 1.1       # + evaluation, batching, logging
    return max(20, int(60 * minutes / per_step))


def _build_w2v(work, progress, epochs, corpus):
    from minitl import data, manual_seed
    from minitl.models.word2vec import Word2Vec, Word2VecConfig
    from minitl.text.words import tokenize
    manual_seed(0)
    sentences = [s for s in (tokenize(d) for d in data.corpus(corpus, "train")) if s]
    recipe = dict(W2V, epochs=epochs)
    w2v = Word2Vec(Word2VecConfig(**recipe))
    w2v.build_vocab(sentences)
    stats = w2v.train(sentences, progress=progress)
    w2v.wv.save(os.path.join(work, "vectors"))
    return {"recipe": {"corpus": corpus, **recipe}, "words": int(sum(map(len, sentences))),
            "vocab": len(w2v.wv), "words_per_s": round(float(stats["words_per_s"]))}
