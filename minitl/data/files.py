"""Your own data: CSV / TSV / JSONL with a text and a label column, and plain-text corpora.

    ds = load_file("reviews.csv", text_column="review", label_column="stars")
    ds = load_file("notes/")                 # a folder: one document per .txt file
    ds = load_file("corpus.txt")             # one document per line

Every problem is reported with the file and, where there is one, the line:
a missing column lists the columns found, unknown labels are listed,
undecodable bytes name their line.
"""
import csv
import io
import json
from pathlib import Path

from minitl.data.registry import Dataset

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".txt": "text", ".text": "text"}


def read_text(path, encoding="utf-8"):
    """The file decoded line by line, so an undecodable byte is reported with its line."""
    path = Path(path)
    data = path.read_bytes()
    if not data.strip():
        raise ValueError(f"{path}: the file is empty")
    lines = data.split(b"\n")
    out = []
    for i, line in enumerate(lines, start=1):
        try:
            out.append(line.decode(encoding))
        except UnicodeDecodeError as e:
            raise ValueError(f"{path} line {i}: bytes {line[e.start:e.end]!r} at column {e.start + 1} "
                             f"are not valid {encoding} (pass encoding='latin-1' if that is what the file is)"
                             ) from None
    text = "\n".join(out)
    return text[1:] if text.startswith("\ufeff") else text


def _records(path, fmt, encoding):
    """``(line_number, dict)`` for each record, plus the column names found."""
    text = read_text(path, encoding)
    if fmt == "jsonl":
        records, columns = [], {}
        for i, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path} line {i}: not valid JSON ({e.msg})") from None
            if not isinstance(obj, dict):
                raise ValueError(f"{path} line {i}: expected a JSON object, got {type(obj).__name__}")
            records.append((i, obj))
            columns.update(dict.fromkeys(obj))
        return records, list(columns)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t" if fmt == "tsv" else ",")
    columns = reader.fieldnames or []
    return [(reader.line_num, row) for row in reader], columns


def _text_documents(path, encoding, per):
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".txt", ".text", ""))
        if not files:
            raise ValueError(f"{path}: no .txt files in this folder")
        docs = [read_text(p, encoding).strip() for p in files]
    elif per == "file":
        docs = [read_text(path, encoding).strip()]
    else:
        docs = [line.strip() for line in read_text(path, encoding).split("\n")]
    return [d for d in docs if d]


def load_file(path, text_column="text", label_column="label", label_names=None, split="train",
              format=None, encoding="utf-8", per="line", licence="your own data"):
    """Load a CSV/TSV/JSONL file (or a plain-text file or folder) as a ``Dataset``.

    Args:
        text_column, label_column: column names (JSON keys); ``label_column=None``
            loads the texts unlabelled.
        label_names: the allowed labels in id order; by default the sorted set of
            labels found. Labels not in it are an error that lists them.
        format: "csv", "tsv", "jsonl" or "text"; by default from the extension.
        per: for plain text, one document per "line" or per "file".
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    fmt = format or ("text" if path.is_dir() else FORMATS.get(path.suffix.lower()))
    if fmt not in ("csv", "tsv", "jsonl", "text"):
        raise ValueError(f"{path}: cannot tell the format from the extension {path.suffix!r}; "
                         f"pass format= one of csv, tsv, jsonl, text")
    if fmt == "text":
        return Dataset(_text_documents(path, encoding, per), None, [], split, str(path), licence)
    records, columns = _records(path, fmt, encoding)
    if not records:
        raise ValueError(f"{path}: the file has a header but no rows")
    wanted = [c for c in (text_column, label_column) if c is not None]
    missing = [c for c in wanted if c not in columns]
    if missing:
        raise KeyError(f"{path}: column(s) {missing} not found; columns found: {columns}")
    texts, raw_labels = [], []
    for line, rec in records:
        text = rec.get(text_column)
        if text is None:
            raise ValueError(f"{path} line {line}: no value in column {text_column!r}")
        texts.append(str(text))
        if label_column is not None:
            raw_labels.append(rec.get(label_column))
    if label_column is None:
        return Dataset(texts, None, [], split, str(path), licence)
    raw_labels = [str(v).strip() if v is not None else "" for v in raw_labels]
    if "" in raw_labels:
        line = records[raw_labels.index("")][0]
        raise ValueError(f"{path} line {line}: empty value in label column {label_column!r}")
    found = sorted(set(raw_labels), key=lambda v: (not v.lstrip("-").isdigit(), int(v) if v.lstrip("-").isdigit() else 0, v))
    names = [str(n) for n in label_names] if label_names is not None else found
    unknown = sorted(set(raw_labels) - set(names))
    if unknown:
        first = next(line for (line, _), v in zip(records, raw_labels) if v in unknown)
        raise ValueError(f"{path}: labels {unknown} in column {label_column!r} are not in label_names "
                         f"{names} (first on line {first})")
    index = {n: i for i, n in enumerate(names)}
    return Dataset(texts, [index[v] for v in raw_labels], names, split, str(path), licence)
