"""``minitl tour``, ``minitl finetune``, ``minitl predict``, ``minitl pretrain all``.

    minitl tour                                    # the main job: transfer vs scratch at 100 labels
    minitl pretrain all --minutes 30               # the default word2vec, GPT, BERT into the cache
    minitl pretrain all --with elmo,t5             # ... and ELMo and T5 (opt-in: ~8 min more each)
    minitl finetune --model gpt --data tweets --strategy gradual --n-train 100 --out runs/ft
    minitl finetune --model elmo --n-train 100 --out runs/ft-elmo   # frozen ELMo features + CV probe
    minitl finetune --model t5 --n-train 100 --out runs/ft-t5       # text-to-text: writes "positive"
    minitl evaluate runs/ft --data tweets          # accuracy, balanced accuracy, macro-F1, confusion
    minitl predict runs/ft "@united thanks, great flight" "@united lost my bag again"

(``minitl evaluate`` lives with the LM commands: it evaluates a classifier when the
directory holds one.)  Each command parses, calls one library function, prints.
"""
import argparse
import json
import os

from minitl.commands._args import nonnegative_int, positive_float, positive_int

FMT = argparse.ArgumentDefaultsHelpFormatter


def register(subparsers, pretrain_subparsers):
    t = subparsers.add_parser("tour", formatter_class=FMT,
                              help="the main job: pretrained GPT/BERT/word2vec vs from scratch at 100 labels")
    t.add_argument("--n-train", type=positive_int, default=100, help="labelled tweets per seed")
    t.add_argument("--seeds", type=positive_int, default=3, help="draws of the labelled tweets")
    t.add_argument("--minutes", type=positive_float, default=3.0,
                   help="pretraining budget for models not yet in the cache (GPT and BERT share it)")
    t.add_argument("--methods", nargs="+", default=None,
                   help="subset of: w2v gpt:full bert:full gpt:features bow scratch:gpt (and any gpt:/bert: strategy)")
    t.add_argument("--out", default="runs/tour", help="results.json, results.md and tour.png go here")
    t.add_argument("--readme", metavar="FILE", default=None,
                   help="also rewrite FILE's generated 'tour' block with the results (e.g. README.md)")
    t.set_defaults(func=tour)

    a = pretrain_subparsers.add_parser("all", formatter_class=FMT,
                                       help="build the default word2vec, GPT and BERT (+ --with elmo,t5) into the cache")
    a.add_argument("--minutes", type=positive_float, default=None,
                   help="total budget (default: 8 min each for GPT, BERT, ELMo, T5; word2vec ~1.5 min)")
    a.add_argument("--only", nargs="+", default=None, choices=["w2v", "gpt", "bert", "elmo", "t5"],
                   help="build only these")
    a.add_argument("--with", dest="with_", default="", metavar="elmo,t5",
                   help="also build these opt-in models (comma-separated: elmo, t5)")
    for name in ("gpt", "bert", "elmo", "t5"):
        a.add_argument(f"--{name}-steps", type=positive_int, default=None,
                       help=f"fix {name}'s step count instead of a time budget")
    a.set_defaults(func=pretrain_all)

    f = subparsers.add_parser("finetune", formatter_class=FMT,
                              help="fine-tune a pretrained GPT/BERT/ELMo/T5 on a labelled dataset or file")
    f.add_argument("--model", default="gpt", help="a from_pretrained directory, or gpt / bert / elmo / t5 "
                   "(the cached default); ELMo: frozen features (its recipe), T5: text-to-text")
    add_data_args(f, default="tweets")
    f.add_argument("--strategy", default=None,
                   help="features | light | freeze_bottom:K | full | gradual (default: the model's recipe); "
                        "T5 takes text2text (the default) or text2text+copy / text2text+cloze (multi-task)")
    f.add_argument("--n-train", type=nonnegative_int, default=100, help="class-balanced labelled examples (0 = all)")
    f.add_argument("--seed", type=int, default=0, help="draws the labelled examples and initialises the head")
    f.add_argument("--lr", type=positive_float, default=None, help="peak learning rate (default: the model's recipe, "
                   "docs/FINETUNING.md)")
    f.add_argument("--epochs", type=positive_int, default=None, help="passes over the labelled examples "
                   "(default: the recipe's)")
    f.add_argument("--batch-size", type=positive_int, default=None, help="examples per step (default: the recipe's)")
    f.add_argument("--discriminative", type=positive_float, default=None, help="lr factor per layer group, e.g. 2.6")
    f.add_argument("--schedule", default=None, choices=["linear", "stlr", "constant"],
                   help="warmup + linear decay, ULMFiT's slanted triangular, or constant (default: the recipe's)")
    f.add_argument("--pool", default="mean", choices=["mean", "cls", "last"],
                   help="how token vectors become one text vector for the head")
    f.add_argument("--out", required=True,
                   help="run directory: checkpoint/ and metrics.jsonl while training, model/ (the classifier) at the end")
    f.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    f.set_defaults(func=finetune)

    p = subparsers.add_parser("predict", help="classify texts with a fine-tuned classifier")
    p.add_argument("dir", help="a fine-tuned classifier (a run directory or its model/)")
    p.add_argument("texts", nargs="+", help="texts to classify")
    p.set_defaults(func=predict)


def add_data_args(p, default=None):
    p.add_argument("--data", default=default,
                   help="tweets | tweets3 | movie200 | sst2 | imdb, or a CSV/TSV/JSONL file")
    p.add_argument("--text-column", default="text", help="for a file: the text column")
    p.add_argument("--label-column", default="label", help="for a file: the label column")


def load_split(args, split, label_names=None):
    """A labelled Dataset from --data (a registered name or a file)."""
    from minitl import data
    if os.path.exists(args.data):
        try:
            return data.load_file(args.data, text_column=args.text_column, label_column=args.label_column,
                                  label_names=label_names, split=split)
        except KeyError as e:               # a missing column: a user error, said in one sentence
            raise ValueError(f"{e.args[0]} (choose them with --text-column / --label-column)") from None
    ds = data.load(args.data, split)
    if ds.labels is None:
        raise ValueError(f"--data {args.data}: this dataset has no labels; choose a labelled one")
    return ds


def tour(args):
    from minitl.transfer import tour as T
    result = T.run(n_train=args.n_train, seeds=args.seeds, out=args.out, minutes=args.minutes,
                   methods=tuple(args.methods) if args.methods else T.METHODS)
    if args.readme:
        T.write_readme(result, args.readme)
        print(f"rewrote the 'tour' block of {args.readme}")
    return 0


def pretrain_all(args):
    from minitl import hub
    steps = {k: getattr(args, f"{k}_steps") for k in ("gpt", "bert", "elmo", "t5") if getattr(args, f"{k}_steps")}
    extra = [w.strip() for w in args.with_.split(",") if w.strip()]
    bad = sorted(set(extra) - set(hub.OPTIONAL))
    if bad:
        raise ValueError(f"--with {args.with_}: unknown {bad}; the opt-in models are {', '.join(hub.OPTIONAL)}")
    names = tuple(args.only or hub.DEFAULT_SET) + tuple(n for n in extra if n not in (args.only or hub.DEFAULT_SET))
    cards = hub.pretrain_all(args.minutes, names=names, steps=steps)
    for name, c in cards.items():
        print(f"{name}: {json.dumps({k: c[k] for k in ('seconds', 'steps', 'validation') if k in c})}")
    return 0


def resolve_model(spec):
    """--model: a directory, or "gpt"/"bert"/"elmo"/"t5" (the cached default, built on first use)."""
    from minitl import hub
    from minitl.models import BERT, GPT
    from minitl.models.elmo import ELMo
    from minitl.models.t5 import T5
    if spec in ("gpt", "bert", "elmo", "t5"):
        spec = hub.pretrained(spec)
    elif spec == "w2v":
        raise ValueError("--model w2v: word vectors are a feature method (a probe on mean vectors), not a "
                         "network to fine-tune; `minitl tour` and the experiments run it")
    d = model_path(spec)
    meta = os.path.join(d, "meta.json")
    if not os.path.exists(meta):
        raise FileNotFoundError(f"--model {spec}: {meta} does not exist (not a from_pretrained directory)")
    with open(meta) as f:
        name = json.load(f).get("model")
    classes = {"GPT": GPT, "BERT": BERT, "ELMo": ELMo, "T5": T5}
    if name not in classes:
        raise ValueError(f"--model {spec}: holds a {name} model; fine-tuning needs a GPT, BERT, ELMo or T5")
    return classes[name].from_pretrained(d)


def finetune_text2text(args, model, train, idx):
    """``minitl finetune --model t5``: text-to-text fine-tuning (``transfer.text2text``), saved as a T5
    directory whose meta.json names the task and the label strings."""
    from dataclasses import replace
    from minitl.transfer import methods as M
    from minitl.transfer.finetune import evaluate
    from minitl.transfer.metrics import format_report
    from minitl.transfer.text2text import Text2TextClassifier, fit_text2text
    spec = args.strategy or "text2text"
    if not spec.startswith("text2text"):
        raise ValueError(f"--strategy {spec}: a T5 is fine-tuned text-to-text (text2text, text2text+copy, "
                         f"text2text+cloze), not with a classifier strategy")
    aux, over = M.text2text_spec(spec)
    over.update({k: v for k, v in (("lr", args.lr), ("epochs", args.epochs), ("batch_size", args.batch_size),
                                   ("schedule", args.schedule)) if v is not None})
    recipe = replace(M.RECIPES["t5"], seed=args.seed, **over)
    names = list(train.label_names)
    res = fit_text2text(model, [train.texts[i] for i in idx], train.labels[idx], names, recipe, aux=aux,
                        out_dir=args.out, resume=args.resume)
    if res.interrupted:
        return 130
    clf = Text2TextClassifier(model, names)
    meta = {"recipe": {k: v for k, v in vars(recipe).items() if k != "progress"}, "aux": aux,
            "data": args.data, "n_train": int(len(idx)), "seconds": round(res.seconds, 1),
            "trainable_params": res.trainable_params}
    if not os.path.exists(args.data):
        val = load_split(args, "validation", names)
        meta["validation"] = rep = evaluate(clf, val.texts, val.labels)
        print(f"{args.data} validation split:\n" + format_report(rep, names))
    path = os.path.join(args.out, "model")
    clf.save_pretrained(path, meta=meta)
    print(f"saved {path} ({res.trainable_params:,} trainable parameters, {res.seconds:.0f} s)")
    return 0


def finetune(args):
    import numpy as np
    from minitl.transfer import methods as M
    from minitl.transfer.classifier import SequenceClassifier
    from minitl.transfer.finetune import evaluate, finetune as run
    from minitl.transfer.metrics import format_report
    from minitl.transfer.probe import balanced_subsample
    backbone = resolve_model(args.model)
    train = load_split(args, "train")
    if args.n_train:
        idx = balanced_subsample(train.labels, args.n_train, np.random.default_rng(args.seed))
    else:
        idx = np.arange(len(train))
    kind = {"GPT": "gpt", "BERT": "bert", "ELMo": "elmo", "T5": "t5"}[type(backbone).__name__]
    if kind == "t5":
        return finetune_text2text(args, backbone, train, idx)
    recipe = M.RECIPES[kind]
    over = {k: v for k, v in (("strategy", args.strategy), ("lr", args.lr), ("epochs", args.epochs),
                              ("batch_size", args.batch_size), ("discriminative", args.discriminative),
                              ("schedule", args.schedule)) if v is not None}
    clf = SequenceClassifier(backbone, len(train.label_names), pool=args.pool, label_names=train.label_names)
    res = run(clf, [train.texts[i] for i in idx], train.labels[idx], recipe, seed=args.seed,
              out_dir=args.out, resume=args.resume, **over)
    if res.interrupted:
        return 130                # the checkpoint is written; `--resume` continues the run
    meta = {"recipe": {k: v for k, v in vars(res.config).items() if k != "progress"},
            "data": args.data, "n_train": int(len(idx)), "seconds": round(res.seconds, 1),
            "trainable_params": res.trainable_params}
    if not os.path.exists(args.data):                       # a registered dataset has a validation split
        val = load_split(args, "validation", train.label_names)
        rep = evaluate(clf, val.texts, val.labels)
        meta["validation"] = rep
        print(f"{args.data} validation split:\n" + format_report(rep, train.label_names))
    path = os.path.join(args.out, "model")
    clf.save_pretrained(path, meta=meta)
    print(f"saved {path} ({res.trainable_params:,} trainable parameters at the end, {res.seconds:.0f} s)")
    return 0


def load_classifier(path):
    """A SequenceClassifier from ``path`` or ``path/model`` (a finetune run directory), or a T5
    fine-tuned text-to-text (a ``Text2TextClassifier``: same predict / predict_proba / config)."""
    from minitl.transfer.classifier import SequenceClassifier
    d = model_path(path)
    meta = os.path.join(d, "meta.json")
    if os.path.exists(meta):
        with open(meta) as f:
            if json.load(f).get("model") == "T5":
                from minitl.transfer.text2text import Text2TextClassifier
                return Text2TextClassifier.from_pretrained(d)
    return SequenceClassifier.from_pretrained(d)


def model_path(path):
    """A from_pretrained directory itself, or the final ``model/`` of a run directory."""
    return os.path.join(path, "model") if os.path.isdir(os.path.join(path, "model")) else path


def evaluate_classifier(args):
    """``minitl evaluate DIR --data D`` for a classifier directory."""
    import numpy as np
    from minitl.transfer.finetune import evaluate
    from minitl.transfer.metrics import format_report, majority_baseline
    clf = load_classifier(args.dir)
    names = clf.config.label_names
    split = args.split or ("test" if not os.path.exists(args.data or "") else "train")
    ds = load_split(args, split)
    extra = sorted(set(ds.label_names) - set(names))
    if extra:
        raise ValueError(f"label sets differ: the classifier was trained on {names}, --data {args.data} "
                         f"also has {extra}")
    ds.labels = np.array([names.index(ds.label_names[k]) for k in ds.labels], np.int64)  # the model's order
    rep = evaluate(clf, ds.texts, ds.labels)
    print(f"{args.data} {split} split ({len(ds)} examples):\n" + format_report(rep, names))
    train_labels = load_split(args, "train").labels if not os.path.exists(args.data) else ds.labels
    base = majority_baseline(train_labels, ds.labels)
    print(f"majority-class baseline: accuracy {100 * base['accuracy']:.1f}%, "
          f"balanced accuracy {100 * base['balanced_accuracy']:.1f}%")
    print(json.dumps({"dir": args.dir, "data": args.data, "split": split, **rep, "majority": base}))
    return 0


def predict(args):
    clf = load_classifier(args.dir)
    proba = clf.predict_proba(args.texts)
    for text, p in zip(args.texts, proba):
        k = int(p.argmax())
        print(f"{clf.config.label_names[k]:>10} {100 * p[k]:5.1f}%  {text}")
    return 0
