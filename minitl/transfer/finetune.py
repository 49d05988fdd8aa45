"""The fine-tuning recipe: ``finetune(classifier, texts, labels, strategy=...)``.

    clf = SequenceClassifier(GPT.from_pretrained(dir), n_classes=2)
    result = finetune(clf, texts, labels, FinetuneConfig(strategy="gradual", epochs=8, lr=1e-3,
                                                          discriminative=2.6, schedule="stlr"))
    evaluate(clf, test_texts, test_labels)     # accuracy, balanced accuracy, macro-F1, confusion

What one run does:
1. encode the texts once, the way the backbone saw text in pretraining;
2. ``features``: run the frozen backbone once over every text, fit a logistic
   regression whose L2 strength is chosen by cross-validation on these training
   labels only, and write it into the classifier's head (the standardisation
   folded into the weights) -- no backprop at all;
3. every other strategy: the shared ``Trainer`` loop -- batch ``step`` of a
   per-epoch seeded shuffle (so a resume is exact mid-epoch), class-weighted
   cross-entropy, AdamW over per-layer-group parameter groups (discriminative
   rates optional), a warmup-linear or slanted triangular schedule, and before
   each step the strategy sets which layer groups train (gradual unfreezing
   unfreezes one more group at each epoch boundary).  Frozen parameters get no
   gradient and cost no backward work (the tape skips them).

Model selection never looks at a test split: hyper-parameters are arguments;
``eval_texts``/``eval_labels`` (e.g. the validation split) are only *reported*
per epoch, never used to pick anything here.
"""
import time
from dataclasses import dataclass, asdict

import numpy as np

import minitl
import minitl.nn.functional as F
from minitl.data.batching import ClassificationBatches
from minitl.optim import AdamW, LinearDecay, SlantedTriangular
from minitl.train import TrainConfig, Trainer
from minitl.transfer.strategies import param_groups, parse_strategy

SCHEDULES = ("linear", "stlr", "constant")


@dataclass
class FinetuneConfig:
    """A fine-tuning recipe (saved in the classifier's meta.json)."""
    strategy: str = "full"            # features | light | freeze_bottom:k | full | gradual
    epochs: int = 10
    lr: float = 1e-3                  # the head's peak lr (lower groups: / discriminative^depth)
    batch_size: int = 16
    discriminative: float = 0.0       # 0 = one lr for all; 2.6 = ULMFiT's factor per layer group
    schedule: str = "linear"          # linear (10% warmup, then linear decay) | stlr | constant
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    class_weight: str = "balanced"    # "balanced": each class weighs the same in the loss; "none"
    seed: int = 0
    progress: bool = True

    def __post_init__(self):
        parse_strategy(self.strategy)
        if self.schedule not in SCHEDULES:
            raise ValueError(f"FinetuneConfig: unknown schedule {self.schedule!r}; expected one of {SCHEDULES}")
        for name in ("epochs", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"FinetuneConfig: {name} must be >= 1, got {getattr(self, name)}")
        if not (np.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"FinetuneConfig: lr must be a positive finite number, got {self.lr}")
        if self.class_weight not in ("balanced", "none"):
            raise ValueError(f"FinetuneConfig: class_weight must be 'balanced' or 'none', got {self.class_weight!r}")


@dataclass
class FinetuneResult:
    model: object
    config: FinetuneConfig
    history: list                      # the Trainer's records (loss, lr, per-epoch validation)
    seconds: float
    steps: int
    trainable_params: int              # at the end of training
    seconds_per_epoch: float
    interrupted: bool = False          # Ctrl-C: stopped early with a checkpoint (resume=True continues)


def check_labels(labels, n_classes, where="labels"):
    """int64 labels, each in [0, n_classes): a clear error names the bad values."""
    y = np.asarray(labels)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{where}: expected a 1-D array of integer class ids, got dtype {y.dtype} shape {y.shape}")
    bad = sorted(set(np.unique(y).tolist()) - set(range(n_classes)))
    if bad:
        raise ValueError(f"{where}: class ids {bad} are outside 0..{n_classes - 1} "
                         f"(the classifier has {n_classes} classes)")
    return y.astype(np.int64)


def finetune(model, texts, labels, config=None, out_dir=None, resume=False, eval_texts=None,
             eval_labels=None, **overrides):
    """Fine-tune a ``SequenceClassifier`` in place; returns a ``FinetuneResult``.

    Args:
        model: a SequenceClassifier (its tokenizer set).
        texts, labels: the training texts and their class ids (0..K-1).
        config: a FinetuneConfig; keyword ``overrides`` replace its fields
            (``finetune(m, x, y, strategy="gradual", lr=3e-4)``).
        out_dir: where the Trainer writes metrics.jsonl and checkpoint/ (for resume).
        resume: continue the run in ``out_dir`` from its checkpoint (exactly).
        eval_texts, eval_labels: reported each epoch (balanced accuracy), never used to choose.
    """
    cfg = FinetuneConfig(**{**asdict(config or FinetuneConfig()), **overrides})
    strategy = parse_strategy(cfg.strategy)
    y = check_labels(labels, model.config.n_classes, "finetune labels")
    if len(texts) != len(y):
        raise ValueError(f"finetune: {len(texts)} texts but {len(y)} labels")
    t0 = time.perf_counter()
    if strategy.name == "features":
        fit_head_on_features(model, texts, y, seed=cfg.seed)
        secs = time.perf_counter() - t0
        return FinetuneResult(model, cfg, [], secs, 0, model.num_parameters(trainable_only=True), secs)

    minitl.manual_seed(cfg.seed)           # dropout masks: the same seed, the same run
    batches = ClassificationBatches.from_sequences(model.encode(texts), y, model.tokenizer.pad_id,
                                                   batch_size=cfg.batch_size, seed=cfg.seed)
    per_epoch = len(batches)
    steps = cfg.epochs * per_epoch
    K = model.config.n_classes
    counts = np.bincount(y, minlength=K).astype(np.float64)
    w = len(y) / (K * np.maximum(counts, 1)) if cfg.class_weight == "balanced" else np.ones(K)
    class_w = w.astype(np.float32)

    def loss_fn(m, batch):
        ids, mask, yb = batch
        per = F.cross_entropy(m(ids, mask), yb, reduction="none")          # (B,)
        wb = class_w[yb]
        return (per * (wb / wb.sum())).sum()

    def before_step(trainer, step):      # the strategy's frozen groups for this step's epoch
        strategy.apply(model, epoch=step // per_epoch)

    strategy.apply(model, epoch=0)
    opt = AdamW(param_groups(model, cfg.lr, cfg.weight_decay, cfg.discriminative or None),
                lr=cfg.lr, betas=(0.9, 0.999))
    schedule = {"linear": LinearDecay(steps, warmup_steps=max(1, steps // 10)),
                "stlr": SlantedTriangular(steps, cut_frac=0.1, ratio=32),
                "constant": lambda s: 1.0}[cfg.schedule]
    eval_fn = None
    if eval_texts is not None:
        ey = check_labels(eval_labels, K, "eval labels")

        def eval_fn(m):
            return {"val_balanced_accuracy": evaluate(m, eval_texts, ey)["balanced_accuracy"]}
    tcfg = TrainConfig(steps=steps, lr=cfg.lr, warmup_steps=0, weight_decay=cfg.weight_decay,
                       grad_clip=cfg.grad_clip, log_every=per_epoch, eval_every=per_epoch if eval_fn else 0,
                       ckpt_every=per_epoch if out_dir else 0, progress=cfg.progress,
                       desc=f"finetune {strategy}")
    trainer = Trainer(model, loss_fn, batches.get_batch, tcfg, out_dir=out_dir, eval_fn=eval_fn,
                      optimizer=opt, schedule=schedule, before_step=before_step,
                      tokens_fn=lambda b: int(b[1].sum()))
    trainer.fit(resume=resume)
    model.eval()
    secs = time.perf_counter() - t0
    return FinetuneResult(model, cfg, trainer.history, secs, trainer.step,
                          model.num_parameters(trainable_only=True), secs / cfg.epochs, trainer.interrupted)


def fit_head_on_features(model, texts, y, seed=0):
    """The ``features`` strategy: frozen backbone, CV-regularised logistic regression as the head.

    The probe (``baselines.fit_probe``: standardised features, C by
    5-fold CV on these labels only) returns weights in the original feature space,
    so they are copied straight into the classifier's Linear head.
    """
    from minitl.transfer.baselines import fit_probe
    model.freeze()
    X = model.features(texts)                                               # (N, C)
    clf = fit_probe(X, y, seed=seed)
    K, C = model.head.weight.shape
    W, b = np.zeros((K, C)), np.zeros(K)
    rows = np.asarray(clf.classes_, np.int64)
    if len(rows) == 2 and len(clf.coef_) == 1:        # a binary model's one row: logits [0, w.x + b]
        W[rows[1]], b[rows[1]] = clf.coef_[0], clf.intercept_[0]
    else:
        W[rows], b[rows] = clf.coef_, clf.intercept_
    if len(rows) < K:                                 # a class never seen in training is never predicted
        b[np.setdiff1d(np.arange(K), rows)] = -1e4
    model.head.weight.data = W.astype(np.float32)                           # (K, C)
    model.head.bias.data = b.astype(np.float32)                             # (K,)
    model.probe_C = float(clf.C_)
    return model


def evaluate(model, texts, labels, batch_size=128):
    """Accuracy, balanced accuracy, macro-F1 and the confusion matrix of a classifier on labelled texts."""
    from minitl.transfer.metrics import classification_report
    y = check_labels(labels, model.config.n_classes, "evaluate labels")
    pred = model.predict(list(texts), batch_size)
    return classification_report(y, pred, model.config.label_names)
