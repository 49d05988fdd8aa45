"""Every method the experiments compare, behind one call: ``fit_predict(method, ...)``.

A method turns n labelled training texts into predictions on test texts.  The
name says what it is:

| method              | kind     | what it does                                                        |
| ------------------- | -------- | ------------------------------------------------------------------- |
| ``bow``             | scratch  | unigram+bigram tf-idf of the training texts, logistic regression with C by 5-fold CV on them |
| ``scratch:gpt``     | scratch  | the GPT architecture from random init, fine-tuned end to end (its own recipe) |
| ``scratch:bert``    | scratch  | the same for BERT                                                   |
| ``w2v``             | transfer | mean of pretrained word2vec vectors, CV logistic regression         |
| ``gpt:STRATEGY``    | transfer | the pretrained GPT in a SequenceClassifier, ``finetune(strategy=STRATEGY)``; modifiers: ``gpt:gradual+dlr+stlr`` (discriminative lr 2.6, slanted triangular), ``+lr=1e-3`` |
| ``bert:STRATEGY``   | transfer | the same with BERT (``bert:features`` = frozen features + CV probe) |
| ``elmo:features``   | transfer | ELMo's scalar mix (equal weights), mean-pooled, frozen, CV probe      |
| ``t5:text2text``    | transfer | the pretrained T5 fine-tuned to *write* the label name (greedy decoding; ``text2text.py``); ``t5:text2text+copy`` / ``+cloze`` adds a second task prefix (multi-task), ``+lr=X`` |
| ``t5:features``     | transfer | T5's encoder as a frozen feature extractor + CV probe                 |

Recipes (``RECIPES``) are fixed per method, never chosen on the test split;
see ``docs/FINETUNING.md`` for how they were set on the validation split.  The
scratch transformers use the pretrained model's BPE tokenizer (a vocabulary is
the one piece of the pretraining text they see; their weights are random).
"""
from dataclasses import replace

import numpy as np

import minitl
from minitl.transfer.finetune import FinetuneConfig, finetune

# The fine-tuning recipe of each backbone kind (lr, epochs, schedule, ...); a strategy
# given in the method name replaces the recipe's.  lr and epochs were chosen once on the
# tweets validation split at 100 labels (`python -m minitl.transfer.tuning`; the table is
# in docs/FINETUNING.md); the test split played no part.
RECIPES = {
    "gpt": FinetuneConfig(strategy="full", lr=3e-4, epochs=10, batch_size=16, schedule="linear"),
    "bert": FinetuneConfig(strategy="full", lr=1e-3, epochs=10, batch_size=16, schedule="linear"),
    "elmo": FinetuneConfig(strategy="features", lr=1e-3, epochs=10, batch_size=16, schedule="linear"),
    "scratch": FinetuneConfig(strategy="full", lr=1e-3, epochs=40, batch_size=16, schedule="linear"),
    # text-to-text (transfer/text2text.py): the best of 5 (lr, epochs) cells on the tweets validation
    # split at 100 labels, 1 seed each (a smaller search than the others'; docs/FINETUNING.md)
    "t5": FinetuneConfig(strategy="full", lr=1e-3, epochs=30, batch_size=16, schedule="linear"),
}
# the label strings a text-to-text method writes when fit_predict is given no label_names
DEFAULT_LABEL_NAMES = {2: ("negative", "positive"), 3: ("negative", "neutral", "positive")}


def kind(method):
    """"transfer" or "scratch"."""
    return "scratch" if method == "bow" or method.startswith("scratch:") else "transfer"


def needs(method):
    """The pretrained models a method uses: () for bow, ("w2v",), ("gpt",) ..."""
    if method == "bow":
        return ()
    if method == "w2v":
        return ("w2v",)
    head, _, arg = method.partition(":")
    return (arg,) if head == "scratch" else (head,)


def describe(method):
    """A table label: "GPT fine-tuned (full)", "bag of words (CV)", ..."""
    if method == "bow":
        return "bag of words (uni+bigrams, CV)"
    if method == "w2v":
        return "word2vec features (CV probe)"
    head, _, arg = method.partition(":")
    names = {"gpt": "GPT", "bert": "BERT", "elmo": "ELMo", "t5": "T5"}
    if head == "scratch":
        return f"{names.get(arg, arg)} from random init (fine-tuned)"
    if arg == "features":
        return f"{names.get(head, head)} frozen features (CV probe)"
    if arg.startswith("text2text"):
        aux = [m for m in arg.split("+")[1:] if m in ("copy", "cloze")]
        return f"{names.get(head, head)} text-to-text" + (f" (+ {aux[0]} task)" if aux else "")
    return f"{names.get(head, head)} fine-tuned ({arg})"


class Context:
    """The pretrained models the methods need, loaded once: ``Context(backbones={"gpt": dir})``.

    Args:
        backbones: {"gpt": dir, "bert": dir} from_pretrained directories.
        vectors: a KeyedVectors for ``w2v``.
        recipes: overrides of ``RECIPES`` (e.g. fewer epochs for a smoke run).
    """

    def __init__(self, backbones=None, vectors=None, recipes=None, progress=False):
        self.backbones, self.vectors = dict(backbones or {}), vectors
        self.recipes = {**RECIPES, **(recipes or {})}
        self.progress = progress

    def backbone(self, name, random_init=False, seed=0):
        from minitl.transfer.classifier import backbones
        if name not in self.backbones:
            raise ValueError(f"method needs a pretrained {name}; the context has {sorted(self.backbones)}")
        classes = {k.lower(): v for k, v in backbones().items()}
        model = classes[name].from_pretrained(self.backbones[name])
        if random_init:
            tok = model.tokenizer
            minitl.manual_seed(seed)
            model = type(model)(model.config)          # same shape, random weights
            model.tokenizer = tok
        return model


def hub_context(names, recipes=None, minutes=None, progress=False):
    """A Context holding the hub's cached models ``names`` ("w2v", "gpt", "bert", "elmo", "t5"), each built
    first if missing (``minutes``: its pretraining budget)."""
    from minitl import hub
    ctx = Context(recipes=recipes)
    for name in names:
        path = hub.pretrained(name, minutes=minutes, progress=progress)
        if name == "w2v":
            from minitl.models.word2vec import load_vectors
            ctx.vectors = load_vectors(path)
        else:
            ctx.backbones[name] = path
    return ctx


def with_modifiers(recipe, spec):
    """"gradual+dlr+stlr" -> the recipe with strategy gradual, discriminative lr 2.6, slanted triangular."""
    strategy, *mods = spec.split("+")
    recipe = replace(recipe, strategy=strategy)
    for mod in mods:
        if mod == "dlr":
            recipe = replace(recipe, discriminative=2.6)
        elif mod == "stlr":
            recipe = replace(recipe, schedule="stlr")
        elif mod.startswith("lr="):
            recipe = replace(recipe, lr=float(mod[3:]))
        else:
            raise ValueError(f"unknown modifier {mod!r} in {spec!r}: expected dlr, stlr or lr=X")
    return recipe


def classifier(ctx, method, n_classes, label_names=None, seed=0):
    """The SequenceClassifier a transformer method trains, and its FinetuneConfig."""
    from minitl.transfer.classifier import SequenceClassifier
    head, _, arg = method.partition(":")
    scratch = head == "scratch"
    name = arg if scratch else head
    bb = ctx.backbone(name, random_init=scratch, seed=seed)
    recipe = ctx.recipes["scratch" if scratch else name]
    if not scratch and arg:
        recipe = with_modifiers(recipe, arg)
    minitl.manual_seed(seed)
    clf = SequenceClassifier(bb, n_classes, pool="mean", label_names=label_names)
    return clf, replace(recipe, seed=seed, progress=ctx.progress)


def text2text_spec(spec):
    """"text2text+copy+lr=3e-4" -> (aux task or None, {recipe overrides})."""
    aux, over = None, {}
    for mod in spec.split("+")[1:]:
        if mod in ("copy", "cloze"):
            aux = mod
        elif mod.startswith("lr="):
            over["lr"] = float(mod[3:])
        else:
            raise ValueError(f"unknown modifier {mod!r} in {spec!r}: expected copy, cloze or lr=X")
    return aux, over


def fit_text2text(ctx, method, train_texts, y, test_texts, n_classes, label_names, seed):
    """``t5:text2text[+copy|+cloze][+lr=X]``: (predictions, info)."""
    from minitl.transfer import text2text
    if n_classes not in DEFAULT_LABEL_NAMES and label_names is None:
        raise ValueError(f"method {method}: pass label_names (the strings to generate) for {n_classes} classes")
    names = list(label_names or DEFAULT_LABEL_NAMES[n_classes])
    aux, over = text2text_spec(method.partition(":")[2])
    model = ctx.backbone(method.partition(":")[0], seed=seed)
    recipe = replace(ctx.recipes[method.partition(":")[0]], seed=seed, progress=ctx.progress, **over)
    res = text2text.fit_text2text(model, list(train_texts), y, names, recipe, aux=aux)
    if res.interrupted:
        raise KeyboardInterrupt
    pred, invalid = text2text.predict_labels(model, list(test_texts), names)
    return pred, {"seconds": res.seconds, "trainable_params": res.trainable_params, "steps": res.steps,
                  "seconds_per_epoch": res.seconds / recipe.epochs, "invalid_rate": invalid, "pairs": res.n_pairs}


def fit_predict(method, ctx, train_texts, y, test_texts, n_classes=2, seed=0, label_names=None):
    """Train ``method`` on (train_texts, y); returns (predictions on test_texts, info dict).

    ``label_names``: the strings a text-to-text method writes (default: negative/positive,
    or negative/neutral/positive for 3 classes); other methods ignore it."""
    y = np.asarray(y)
    if method == "bow":
        from minitl.transfer.baselines import fit_bow_classifier
        clf = fit_bow_classifier(list(train_texts), y, seed=seed)
        return clf.predict(list(test_texts)), {"C": clf.clf.C_}
    if method == "w2v":
        from minitl.transfer.baselines import fit_probe, mean_word_vectors
        if ctx.vectors is None:
            raise ValueError("method w2v needs word vectors (Context(vectors=...))")
        clf = fit_probe(mean_word_vectors(list(train_texts), ctx.vectors), y, seed=seed)
        return clf.predict(mean_word_vectors(list(test_texts), ctx.vectors)), {"C": clf.C_}
    if ":" not in method:
        raise ValueError(f"unknown method {method!r}: expected bow, w2v, gpt:STRATEGY, bert:STRATEGY, "
                         f"elmo:features, t5:text2text, scratch:gpt or scratch:bert")
    if method.split(":")[1].startswith("text2text"):
        if not method.startswith("t5:"):
            raise ValueError(f"method {method!r}: text-to-text needs an encoder-decoder (t5:text2text)")
        return fit_text2text(ctx, method, train_texts, y, test_texts, n_classes, label_names, seed)
    clf, recipe = classifier(ctx, method, n_classes, seed=seed)
    res = finetune(clf, list(train_texts), y, recipe)
    if res.interrupted:          # a half-trained model must never be scored (or cached) as a result
        raise KeyboardInterrupt
    return clf.predict(list(test_texts)), {"seconds": res.seconds, "trainable_params": res.trainable_params,
                                           "steps": res.steps, "seconds_per_epoch": res.seconds_per_epoch}
