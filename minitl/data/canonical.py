"""Canonical benchmarks from their official homes: SST-2 (GLUE), IMDB (aclImdb v1), WikiText-2 (raw).

For users with the internet. The archive is downloaded once into
``<cache>/downloads/``, checked against its checksum, parsed into one JSONL
file per split under ``<cache>/<name>/`` (written to a .part file, then
renamed), and then removed. An archive you downloaded yourself and put in
``<cache>/downloads/`` is used without going online.

Checksums: SST-2 and IMDB are checked against the MD5s that torchtext pins for
these exact URLs; WikiText-2 raw against the sha256 of the 4,721,645-byte zip
that llama.cpp's ``get-wikitext-2.sh`` fetches (Salesforce publishes none).
"""
import hashlib
import json
import os
import re
import tarfile
import urllib.error
import warnings
import zipfile
from dataclasses import dataclass

from minitl.data import cache
from minitl.data.fetch import ChecksumError, OfflineError, download, file_digest
from minitl.data.registry import Dataset, cache_root


@dataclass(frozen=True)
class Canonical:
    name: str
    urls: tuple           # tried in order
    filename: str
    checksum: tuple       # (algorithm, hexdigest)
    size: int             # bytes, where known (None: taken from the server's Content-Length)
    splits: tuple
    label_names: tuple    # () for unlabelled text
    licence: str


SPECS = {
    "sst2": Canonical("sst2", ("https://dl.fbaipublicfiles.com/glue/data/SST-2.zip",), "SST-2.zip",
                      ("md5", "9f81648d4199384278b86e315dac217c"), None, ("train", "validation"),
                      ("negative", "positive"), "SST (Socher et al. 2013) via GLUE; research use"),
    "imdb": Canonical("imdb", ("https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
                               "http://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"),
                      "aclImdb_v1.tar.gz", ("md5", "7c2ac02c03563afcf9b574c7e56c153a"), 84_125_825,
                      ("train", "test"), ("negative", "positive"), "Maas et al. 2011 (ACL); research use"),
    "wikitext2": Canonical("wikitext2", (
        "https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-2-raw-v1.zip",
        "https://huggingface.co/datasets/ggml-org/ci/resolve/main/wikitext-2-raw-v1.zip"),
        "wikitext-2-raw-v1.zip", ("sha256", "ef7edb566e3e2b2d31b29c1fdb0c89a4cc683597484c3dc2517919c615435a11"),
        4_721_645, ("train", "validation", "test"), (), "CC BY-SA 3.0 (Merity et al. 2016)"),
}


def _split_file(name, split):
    return cache_root() / name / f"{split}.jsonl"


def is_cached(name, repair=False):
    """True when every split of ``name`` is cached and matches the sha256 recorded when it was written.

    With ``repair=True`` a wrong split file is removed (with a warning), so ``fetch`` builds it again.
    """
    ok = True
    for s in SPECS[name].splits:
        path = _split_file(name, s)
        exists = path.exists()
        problem = cache.verify(path, remove=repair)
        if problem:
            if exists and repair:
                warnings.warn(f"cached dataset file: {problem}; fetching it again", stacklevel=3)
            ok = False
    return ok


def _write_jsonl(path, records):
    """Write records as JSON lines via a .part file; the sha256 goes in the folder's record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f"{path.name}.{os.getpid()}.part")
    h = hashlib.sha256()
    try:
        with open(part, "w", encoding="utf-8", newline="\n") as f:
            for rec in records:
                line = json.dumps(rec, ensure_ascii=False) + "\n"
                f.write(line)
                h.update(line.encode("utf-8"))
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, path)
    cache.record(path, h.hexdigest())


# ---- parsers: archive -> {split: [records]} -------------------------------------------------
def _parse_sst2(archive):
    out = {}
    with zipfile.ZipFile(archive) as zf:
        for split, member in (("train", "SST-2/train.tsv"), ("validation", "SST-2/dev.tsv")):
            lines = zf.read(member).decode("utf-8").splitlines()
            if lines[0].split("\t") != ["sentence", "label"]:
                raise ValueError(f"{archive.name}:{member}: expected columns ['sentence', 'label'], "
                                 f"found {lines[0].split(chr(9))}")
            recs = []
            for i, line in enumerate(lines[1:], start=2):
                text, _, label = line.rpartition("\t")
                if label not in ("0", "1"):
                    raise ValueError(f"{archive.name}:{member} line {i}: label {label!r} is not 0 or 1")
                recs.append({"text": text.strip(), "label": int(label)})
            out[split] = recs
    return out


def _parse_imdb(archive):
    out = {"train": [], "test": []}
    pattern = re.compile(r"^aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")
    with tarfile.open(archive, "r:*") as tf:
        for member in tf:                               # one pass over the stream, no extractall
            m = pattern.match(member.name)
            if not m or not member.isfile():
                continue
            text = tf.extractfile(member).read().decode("utf-8")
            text = text.replace("<br /><br />", "\n").replace("<br />", "\n")
            out[m.group(1)].append((int(m.group(3)), m.group(2), {"text": text, "label": int(m.group(2) == "pos")}))
    for split, items in out.items():
        if not items:
            raise ValueError(f"{archive.name}: no aclImdb/{split}/pos|neg/*.txt members found")
        items.sort(key=lambda t: (t[1], t[0]))          # neg then pos, by review id: the same order everywhere
        out[split] = [rec for _, _, rec in items]
    return out


_WT_TITLE = re.compile(r"^ = [^=].* = $")


def _parse_wikitext2(archive):
    out = {}
    with zipfile.ZipFile(archive) as zf:
        for split, member in (("train", "wikitext-2-raw/wiki.train.raw"),
                              ("validation", "wikitext-2-raw/wiki.valid.raw"),
                              ("test", "wikitext-2-raw/wiki.test.raw")):
            docs, current = [], []
            for line in zf.read(member).decode("utf-8").split("\n"):
                if _WT_TITLE.match(line) and current:       # " = Title = " starts an article
                    docs.append("\n".join(current).strip())
                    current = []
                if line.strip():
                    current.append(line.strip())
            if current:
                docs.append("\n".join(current).strip())
            out[split] = [{"text": d} for d in docs if d]
    return out


PARSERS = {"sst2": _parse_sst2, "imdb": _parse_imdb, "wikitext2": _parse_wikitext2}


def fetch(name, quiet=False):
    """Download (if needed), verify, and parse ``name`` into the cache; returns its folder.

    Cached splits are checked first (a wrong one is removed and built again);
    a lock on the cache folder is held while fetching, so concurrent fetches take turns.
    """
    if is_cached(name, repair=True):
        return cache_root() / name
    with cache.lock(cache_root()):
        if not is_cached(name, repair=True):  # another process may have built it meanwhile
            _fetch_locked(name, quiet)
    return cache_root() / name


def _fetch_locked(name, quiet):
    spec = SPECS[name]
    archive = cache_root() / "downloads" / spec.filename
    if archive.exists():
        algo, want = spec.checksum
        got = file_digest(archive, algo)
        if got != want:
            archive.unlink()
            raise ChecksumError(f"{archive}: {algo} mismatch, expected {want} got {got}; the file was removed")
    else:
        errors = []
        for url in spec.urls:
            try:
                download(url, archive, checksum=spec.checksum, size=spec.size, quiet=quiet)
                break
            except (urllib.error.URLError, OSError) as e:
                errors.append(f"{url}: {getattr(e, 'reason', e)}")
        else:
            raise OfflineError(
                f"dataset {name!r} is not in the cache ({cache_root() / name}) and could not be downloaded "
                f"({'; '.join(errors)}). Download {spec.filename} ({spec.checksum[0]} {spec.checksum[1]}) from {spec.urls[0]} yourself and put it at {archive}, "
                f"or load your own copy with minitl.data.load_file(path).")
    parsed = PARSERS[name](archive)
    for split in spec.splits:
        _write_jsonl(_split_file(name, split), parsed[split])
    archive.unlink(missing_ok=True)


def load(name, split="train"):
    spec = SPECS[name]
    if split not in spec.splits:
        raise ValueError(f"dataset {name!r} has splits {list(spec.splits)}, not {split!r}")
    fetch(name)
    texts, labels = [], []
    with open(_split_file(name, split), encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            texts.append(rec["text"])
            if spec.label_names:
                labels.append(rec["label"])
    return Dataset(texts, labels if spec.label_names else None, list(spec.label_names), split, name, spec.licence)
