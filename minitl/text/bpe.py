"""Byte-level BPE (GPT-2 style), trained from scratch on a corpus.

    tok = BPETokenizer.train(texts, vocab_size=8192)
    ids = tok.encode("Hello world")          # [..., ...]
    tok.decode(ids) == "Hello world"         # for any Unicode string
    ids, mask = tok.encode_batch(["a", "bb"], max_length=16, add_special_tokens=True)

How it works (minbpe's recipe):

1. *Pre-tokenize* with GPT-2's regex, so merges never cross a word boundary:
   "Hello, world's" -> ["Hello", ",", " world", "'s"].  Every character lands
   in exactly one piece, so joining the pieces gives the text back.
2. Each piece becomes its UTF-8 bytes: 256 base tokens cover every string,
   so nothing is ever unknown.
3. *Train*: count adjacent pairs over the unique pieces (weighted by how often
   each piece occurs), merge the most frequent pair into a new token, update
   only the counts that merge changed, repeat until ``vocab_size``.
   Example: pieces {"aaab": 1} -> pair (a,a) is most frequent -> "aa" is token 262.
4. *Encode*: apply the merges to a piece in the order they were learned
   (lowest rank first), caching the result per piece.

Id layout: 0..5 are the specials ``[PAD] [UNK] [CLS] [SEP] [MASK] <|endoftext|>``,
6..261 are the 256 bytes, 262.. are the merges in training order.
"""
import heapq
import json
import os
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

# GPT-2's pattern, written for the stdlib ``re`` (no \p{..} classes there):
# \p{L}+ -> [^\W\d_]+ (word characters that are not digits or "_"), \p{N}+ -> \d+,
# [^\s\p{L}\p{N}]+ -> (?:[^\s\w]|_)+ (everything else that is not whitespace).
PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+"""
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "<|endoftext|>"]
N_SPECIAL = len(SPECIALS)
BYTE_OFFSET = N_SPECIAL           # byte b has id b + 6
FIRST_MERGE = N_SPECIAL + 256


class BPETokenizer:
    """Byte-level BPE with the special tokens BERT and GPT need."""

    def __init__(self, merges=(), pattern=PATTERN):
        self.pattern = pattern
        self._re = re.compile(pattern)
        self.merges = [tuple(int(x) for x in m) for m in merges]          # merge i makes id 262 + i
        self.ranks = {pair: FIRST_MERGE + i for i, pair in enumerate(self.merges)}
        self.token_bytes = [s.encode("utf-8") for s in SPECIALS] + [bytes([b]) for b in range(256)]
        for a, b in self.merges:
            self.token_bytes.append(self.token_bytes[a] + self.token_bytes[b])
        self._cache = {}
        self.special_to_id = {s: i for i, s in enumerate(SPECIALS)}

    # ids of the specials, named as in Hugging Face tokenizers
    pad_id, unk_id, cls_id, sep_id, mask_id, eot_id = range(N_SPECIAL)
    all_special_ids = tuple(range(N_SPECIAL))     # never masked or drawn as random tokens in MLM

    @property
    def vocab_size(self):
        return FIRST_MERGE + len(self.merges)

    def __len__(self):
        return self.vocab_size

    def __repr__(self):
        return f"BPETokenizer(vocab_size={self.vocab_size})"

    # ---- training -------------------------------------------------------------------
    @classmethod
    def train(cls, texts, vocab_size, min_frequency=2, progress=False):
        """Learn ``vocab_size - 262`` merges from an iterable of strings.

        Pair counts are kept for the unique pre-tokenized pieces (each weighted by
        its count); a merge updates only the pieces that contain the pair, and a
        heap with lazy deletion finds the next most frequent pair. Ties go to the
        smaller pair of ids, so training is deterministic. Stops early when no
        pair occurs ``min_frequency`` times.
        """
        if vocab_size < FIRST_MERGE:
            raise ValueError(f"vocab_size must be at least {FIRST_MERGE} (6 specials + 256 bytes), got {vocab_size}")
        pat = re.compile(PATTERN)
        counts = Counter()
        for text in texts:
            counts.update(pat.findall(text))
        words = [[b + BYTE_OFFSET for b in w.encode("utf-8")] for w in counts]
        freq = list(counts.values())
        pair_count = defaultdict(int)
        where = defaultdict(set)          # pair -> indices of words that (may) contain it
        for i, w in enumerate(words):
            for p in zip(w, w[1:]):
                pair_count[p] += freq[i]
                where[p].add(i)
        heap = [(-c, p) for p, c in pair_count.items()]
        heapq.heapify(heap)
        merges = []
        n_merges = vocab_size - FIRST_MERGE
        bar = None
        if progress:
            from minitl.progress import Progress
            bar = Progress(total=n_merges, desc="train bpe", unit="merge")
        while len(merges) < n_merges and heap:
            neg, pair = heapq.heappop(heap)
            if pair_count.get(pair, 0) != -neg:
                continue                                   # stale heap entry
            if -neg < min_frequency:
                break
            new_id = FIRST_MERGE + len(merges)
            merges.append(pair)
            delta = defaultdict(int)
            for i in where.pop(pair):
                w = words[i]
                if len(w) < 2:
                    continue
                merged = _merge(w, pair, new_id)
                if len(merged) == len(w):
                    continue                               # stale index entry
                f = freq[i]
                for p in zip(w, w[1:]):
                    delta[p] -= f
                for p in zip(merged, merged[1:]):
                    delta[p] += f
                    where[p].add(i)
                words[i] = merged
            for p, d in delta.items():
                if d:
                    c = pair_count[p] + d
                    if c > 0:
                        pair_count[p] = c
                        heapq.heappush(heap, (-c, p))
                    else:
                        pair_count.pop(p, None)
            pair_count.pop(pair, None)
            if bar:
                bar.update(1)
        if bar:
            bar.close()
        return cls(merges)

    # ---- encoding -------------------------------------------------------------------
    def _encode_piece(self, piece):
        ids = self._cache.get(piece)
        if ids is None:
            ids = [b + BYTE_OFFSET for b in piece.encode("utf-8")]
            while len(ids) >= 2:
                # the pair learned earliest goes first: [a, b, c] with (b,c) ranked 300 and (a,b) 400 -> [a, 300]
                pair = min(zip(ids, ids[1:]), key=lambda p: self.ranks.get(p, 1 << 62))
                if pair not in self.ranks:
                    break
                ids = _merge(ids, pair, self.ranks[pair])
            if len(self._cache) > 200_000:
                self._cache.clear()
            self._cache[piece] = ids
        return ids

    def encode(self, text, allowed_special=False):
        """Text -> list of ids. Special-token strings in ``text`` are plain text unless
        ``allowed_special`` is True, so ``decode(encode(s)) == s`` for every string."""
        if allowed_special:
            parts = re.split("(" + "|".join(re.escape(s) for s in SPECIALS) + ")", text)
            out = []
            for part in parts:
                if part in self.special_to_id:
                    out.append(self.special_to_id[part])
                elif part:
                    out += self.encode(part)
            return out
        out = []
        for piece in self._re.findall(text):
            out += self._encode_piece(piece)
        return out

    def decode(self, ids, skip_special_tokens=False):
        """Ids -> text. Byte sequences that are not valid UTF-8 (possible only for
        hand-made id lists) become U+FFFD."""
        parts = []
        for i in ids:
            i = int(i)
            if not 0 <= i < self.vocab_size:
                raise ValueError(f"token id {i} out of range for vocab_size {self.vocab_size}")
            if i < N_SPECIAL and skip_special_tokens:
                continue
            parts.append(self.token_bytes[i])
        return b"".join(parts).decode("utf-8", errors="replace")

    def encode_batch(self, texts, max_length=None, padding=True, truncation=True, add_special_tokens=False):
        """Encode a batch into a padded id matrix and its attention mask.

        Args:
            max_length: longest sequence kept (with truncation) / padded to (with
                padding="max_length"); None = no limit.
            padding: True pads to the longest sequence in the batch, "max_length" to
                ``max_length``, False returns ragged lists.
            add_special_tokens: wrap each text as ``[CLS] ... [SEP]`` (BERT style).
        Returns:
            ``ids`` int64 (B, T) and ``attention_mask`` bool (B, T), True on real
            tokens; with padding=False, two lists of lists.
        """
        if isinstance(texts, str):
            raise TypeError("encode_batch takes a list of strings; use encode() for one string")
        seqs = []
        for text in texts:
            ids = self.encode(text)
            room = None if max_length is None else max_length - (2 if add_special_tokens else 0)
            if room is not None and room < 0:
                raise ValueError(f"max_length={max_length} leaves no room for [CLS] and [SEP]")
            if truncation and room is not None:
                ids = ids[:room]
            if add_special_tokens:
                ids = [self.cls_id] + ids + [self.sep_id]
            seqs.append(ids)
        if not padding:
            return seqs, [[True] * len(s) for s in seqs]
        longest = max((len(s) for s in seqs), default=0)
        if padding == "max_length":
            if max_length is None:
                raise ValueError("padding='max_length' needs max_length")
            width = max(max_length, longest)
        else:
            width = longest
        ids = np.full((len(seqs), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(seqs), width), dtype=bool)
        for r, s in enumerate(seqs):
            ids[r, :len(s)] = s
            mask[r, :len(s)] = True
        return ids, mask

    # ---- inspection and persistence ----------------------------------------------------
    def id_to_token(self, i):
        """The token's text (bytes shown with backslash escapes where not UTF-8)."""
        return self.token_bytes[i].decode("utf-8", errors="backslashreplace")

    def token_to_id(self, token):
        b = token.encode("utf-8")
        for i, tb in enumerate(self.token_bytes):
            if tb == b and (i < N_SPECIAL) == (token in self.special_to_id):
                return i
        raise KeyError(f"{token!r} is not a token of this vocabulary")

    def to_dict(self):
        return {"type": "minitl-byte-bpe", "version": 1, "pattern": self.pattern, "specials": SPECIALS,
                "merges": [list(m) for m in self.merges],
                "tokens": [self.id_to_token(i) for i in range(self.vocab_size)]}   # for reading only

    def save(self, path):
        """Write JSON to ``path`` (a folder gets ``tokenizer.json``), via a temporary file."""
        path = Path(path)
        if path.is_dir():
            path = path / "tokenizer.json"
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path):
        path = Path(path)
        if path.is_dir():
            path = path / "tokenizer.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("type") != "minitl-byte-bpe" or data.get("specials") != SPECIALS:
            raise ValueError(f"{path}: not a minitl byte-level BPE tokenizer "
                             f"(type={data.get('type')!r}, specials={data.get('specials')})")
        for i, (a, b) in enumerate(data["merges"]):
            if not (0 <= a < FIRST_MERGE + i and 0 <= b < FIRST_MERGE + i):
                raise ValueError(f"{path}: merge {i} ({a}, {b}) refers to a token not yet defined")
        return cls(data["merges"], data.get("pattern", PATTERN))


def _merge(ids, pair, new_id):
    """Replace every non-overlapping ``pair`` in ``ids`` by ``new_id``: [1,2,3,1,2] + (1,2)->9 = [9,3,9]."""
    out, i, a, b = [], 0, pair[0], pair[1]
    n = len(ids)
    while i < n:
        if i < n - 1 and ids[i] == a and ids[i + 1] == b:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out
