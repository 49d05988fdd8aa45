"""Your own data: CSV / TSV / JSONL with a text and a label column, and plain-text corpora.

    ds = load_file("reviews.csv", text_column="review", label_column="stars")
    ds = load_file("notes/")                 # a folder: one document per .txt file
    ds = load_file("corpus.txt")             # one document per line

Every problem is reported with the file and, where there is one, the line:
a missing column lists the columns found, unknown labels are listed,
undecodable bytes name their line, an unterminated quote names the line it opens on.

Rows are streamed: only the texts and one small integer per label are kept,
so a 32 MB CSV of a million short rows peaks at well under 3x its size.
Labels that are numbers are compared as numbers: ``1``, ``1.0`` and ``+1`` are one class.
"""
import codecs
import csv
import json
import math
import re
from array import array
from pathlib import Path
from typing import List, Optional, Union

import numpy as np

from minitl.data.registry import Dataset

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".txt": "text", ".text": "text"}
KNOWN_FORMATS = ("csv", "tsv", "jsonl", "text")
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _open_text(path, encoding):
    """The file as text, streamed; a UTF-8 byte-order mark is dropped."""
    enc = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    return open(path, encoding=enc, newline="")


def _decode_error(path, encoding):
    """The ValueError for the first undecodable line (found by re-reading the bytes: the error path only)."""
    with open(path, "rb") as f:
        for i, line in enumerate(f, start=1):
            try:
                line.decode(encoding)
            except UnicodeDecodeError as e:
                return ValueError(f"{path} line {i}: bytes {line[e.start:e.end]!r} at column {e.start + 1} "
                                  f"are not valid {encoding} (pass encoding='latin-1' if that is what the file is)")
    return ValueError(f"{path}: not valid {encoding}")


def _lines(path, encoding):
    """``(line number, line)`` of a text file, streamed; undecodable bytes are reported with their line."""
    try:
        with _open_text(path, encoding) as f:
            yield from enumerate(f, start=1)
    except UnicodeDecodeError:
        raise _decode_error(path, encoding) from None


def read_text(path, encoding="utf-8"):
    """The whole file as text (an undecodable byte is reported with its line)."""
    text = "".join(line for _, line in _lines(path, encoding))
    if not text.strip():
        raise ValueError(f"{path}: the file is empty")
    return text


def label_key(value):
    """The class a raw label belongs to: numbers by value (``1``, ``1.0``, ``"+1"`` -> ``"1"``), text stripped."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    s = str(value).strip()
    if _INT.fullmatch(s):
        return str(int(s))
    if _FLOAT.fullmatch(s):
        f = float(s)
        if math.isfinite(f):
            return str(int(f)) if f.is_integer() else repr(f)
    return s


def _label_order(key):
    """Numbers first, in numeric order; then the other labels alphabetically."""
    try:
        return (0, float(key), key)
    except ValueError:
        return (1, 0.0, key)


class _Collector:
    """Texts plus one small code per label, filled row by row."""

    def __init__(self, path, text_column, label_column):
        self.path, self.text_column, self.label_column = path, text_column, label_column
        self.texts, self.codes = [], array("B")  # one byte per row while there are <= 256 classes
        self.keys, self.index, self.first_line, self.memo = [], {}, {}, {}
        self.no_text = self.no_label = None      # first line missing a text / a label

    def add(self, line, text, label):
        if text is None:
            self.no_text = self.no_text or line
            return
        self.texts.append(text if type(text) is str else str(text))
        if self.label_column is None:
            return
        plain = type(label) in (str, int, float)        # (not bool: True == 1 would share a memo entry)
        key = self.memo.get(label) if plain else None
        if key is None:
            key = label_key(label)
            if plain:
                self.memo[label] = key
        if key == "":
            self.no_label = self.no_label or line
        code = self.index.get(key)
        if code is None:
            code = self.index[key] = len(self.keys)
            self.keys.append(key)
            if code == 256:
                self.codes = array("i", self.codes)
            self.first_line[key] = line
        self.codes.append(code)

    def dataset(self, label_names, split, licence):
        path = self.path
        if self.no_text is not None:
            raise ValueError(f"{path} line {self.no_text}: no value in column {self.text_column!r}")
        if not self.texts:
            raise ValueError(f"{path}: the file has a header but no rows")
        if self.label_column is None:
            return Dataset(self.texts, None, [], split, str(path), licence)
        if self.no_label is not None:
            raise ValueError(f"{path} line {self.no_label}: empty value in label column {self.label_column!r}")
        found = sorted(self.keys, key=_label_order)
        names = [label_key(n) for n in label_names] if label_names is not None else found
        unknown = sorted(set(self.keys) - set(names), key=_label_order)
        if unknown:
            first = min(self.first_line[k] for k in unknown)
            raise ValueError(f"{path}: labels {unknown} in column {self.label_column!r} are not in label_names "
                             f"{names} (first on line {first})")
        position = {n: i for i, n in enumerate(names)}
        remap = np.array([position[k] for k in self.keys], dtype=np.int64)
        labels = remap[np.frombuffer(self.codes, dtype=np.uint8 if self.codes.typecode == "B" else np.int32)]
        self.codes = None
        return Dataset(self.texts, labels, names, split, str(path), licence)


def _missing_columns(path, wanted, columns):
    missing = [c for c in wanted if c not in columns]
    if missing:
        raise KeyError(f"{path}: column(s) {missing} not found; columns found: {columns}")


def _read_delimited(path, fmt, encoding, out):
    wanted = [c for c in (out.text_column, out.label_column) if c is not None]
    try:
        with _open_text(path, encoding) as f:
            reader = csv.reader(f, delimiter="\t" if fmt == "tsv" else ",", strict=True)
            prev = 0                                     # the last line of the previous record
            try:
                header = next((row for row in reader if row), None)
                if header is None:
                    raise ValueError(f"{path}: the file is empty")
                _missing_columns(path, wanted, header)
                ti = header.index(out.text_column)
                li = header.index(out.label_column) if out.label_column is not None else None
                prev = reader.line_num
                for row in reader:
                    line, prev = prev + 1, reader.line_num
                    if not row:
                        continue
                    n = len(row)
                    out.add(line, row[ti] if ti < n else None,
                            None if li is None else (row[li] if li < n else None))
            except csv.Error as e:
                if "unexpected end of data" in str(e):
                    raise ValueError(f"{path} line {prev + 1}: a quote opened in the record starting on this "
                                     "line is never closed (the file ends inside the quoted field)") from None
                raise ValueError(f"{path} line {reader.line_num}: {e}") from None
    except UnicodeDecodeError:
        raise _decode_error(path, encoding) from None


def _read_jsonl(path, encoding, out):
    columns, blank = {}, True
    for i, line in _lines(path, encoding):
        if not line.strip():
            continue
        blank = False
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} line {i}: not valid JSON ({e.msg})") from None
        if not isinstance(obj, dict):
            raise ValueError(f"{path} line {i}: expected a JSON object, got {type(obj).__name__}")
        if len(columns) < 1000:
            columns.update(dict.fromkeys(obj))
        out.add(i, obj.get(out.text_column), obj.get(out.label_column) if out.label_column is not None else None)
    if blank:
        raise ValueError(f"{path}: the file is empty")
    _missing_columns(path, [c for c in (out.text_column, out.label_column) if c is not None], list(columns))


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
        docs = [d for d in (line.strip() for _, line in _lines(path, encoding)) if d]
        if not docs:
            raise ValueError(f"{path}: the file is empty")
    return [d for d in docs if d]


def load_file(path: Union[str, Path], text_column: str = "text", label_column: str = "label",
              label_names: Optional[List[str]] = None, split: str = "train", format: Optional[str] = None,
              encoding: str = "utf-8", per: str = "line", licence: str = "your own data") -> Dataset:
    """Load a CSV/TSV/JSONL file (or a plain-text file or folder) as a ``Dataset``.

    Args:
        text_column, label_column: column names (JSON keys); ``label_column=None``
            loads the texts unlabelled.
        label_names: the allowed labels in id order; by default the sorted set of
            labels found (numbers in numeric order). Labels not in it are an error that lists them.
        format: "csv", "tsv", "jsonl" or "text"; by default from the extension.
        per: for plain text, one document per "line" or per "file".
    Returns:
        a Dataset; ``label_names`` are the labels as compared (``"1"`` for ``1`` and ``1.0``).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if format is not None and format not in KNOWN_FORMATS:
        raise ValueError(f"{path}: format={format!r} is not supported; pass format= one of "
                         f"{', '.join(KNOWN_FORMATS)} (save a spreadsheet as CSV first)")
    fmt = format or ("text" if path.is_dir() else FORMATS.get(path.suffix.lower()))
    if fmt is None:
        raise ValueError(f"{path}: cannot tell the format from the extension {path.suffix!r}; "
                         f"pass format= one of {', '.join(KNOWN_FORMATS)}")
    if fmt == "text":
        return Dataset(_text_documents(path, encoding, per), None, [], split, str(path), licence)
    out = _Collector(path, text_column, label_column)
    if fmt == "jsonl":
        _read_jsonl(path, encoding, out)
    else:
        _read_delimited(path, fmt, encoding, out)
    return out.dataset(label_names, split, licence)
