"""Originality: how far a text is from recently approved insights.

MinHash over word 3-gram shingles estimates the Jaccard similarity of two texts;
LSH banding (``bands`` x ``rows`` = ``num_perm``) finds the remembered texts likely
to be similar without comparing against all of them. Memory is bounded: the
oldest texts are evicted first, so the score means "novel relative to the recent
past", which is what a stream of approvals needs.

Shingle hashes use CRC-32 and the permutations come from BLAKE2b over a seed:
never Python's ``hash()``, which is salted per process, so signatures persisted in
a state store stay valid across restarts and machines.

A remembered text may carry a key (the approved insight's id) and a stamp (when it
was approved, ms). ``explain(..., exclude=key, before=stamp)`` scores against the
memory as of one record: without that record's own approved copy and without
anything approved after ``before``, so a record graded twice (a redelivery after a
crash) gets the same score whatever was approved in between. A key is remembered
once: a duplicate approval (at-least-once delivery) does not count twice.

Besides near-duplicates, a template penalty catches texts that lean on the same
cliché as many remembered ones ("trust the universe" dressed in new words): each
cliché's share of the memory lowers the score of a new text using it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import zlib
from collections import Counter, deque
from functools import lru_cache
from importlib import resources
from itertools import chain

import numpy as np

STATE_VERSION = 2  # 2 added keys and stamps; version 1 states load without them
NO_STAMP = -1  # a text remembered without a stamp counts for every ``before``
# Same word tokens as the rubric's tokenizer, so a caller can pass its tokens in.
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_SHIFT = np.uint64(32)
# Odd 64-bit multipliers, one per position in a shingle, that combine its word hashes
# into one shingle hash ("a b c" and "c b a" must differ).
_MIX = tuple(np.uint64(m) for m in (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                                     0xD6E8FEB86659FD93, 0xFF51AFD7ED558CCD))


def tokenize(text: str) -> list[str]:
    """Lowercase word tokens (curly apostrophes folded), as the rubric tokenizes."""
    return _WORD.findall(text.lower().replace("\u2019", "'"))


@lru_cache(maxsize=65536)
def _word_hash(word: str) -> int:
    return zlib.crc32(word.encode())


@lru_cache(maxsize=1)
def _lexicon_cliches() -> tuple[str, ...]:
    data = resources.files("kasper.agents.quality").joinpath("data/rubric_lexicon.json").read_text("utf-8")
    return tuple(json.loads(data)["cliches"])


def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    # Multiply-shift hashing, h(x) = ((a*x + b) mod 2^64) >> 32, with odd a: a universal
    # family that numpy computes exactly because uint64 arithmetic wraps mod 2^64.
    raw = hashlib.blake2b(f"kasper-minhash:{seed}".encode(), digest_size=64).digest()
    stream = b"".join(hashlib.blake2b(raw + i.to_bytes(4, "big"), digest_size=16).digest()
                      for i in range(num_perm))
    words = np.frombuffer(stream, dtype=">u8").astype(np.uint64).reshape(num_perm, 2)
    return (words[:, 0] | np.uint64(1)).reshape(-1, 1), words[:, 1].reshape(-1, 1)


class Originality:
    """Bounded MinHash/LSH memory of approved texts; scores new texts for novelty.

    ``num_perm`` MinHash values per text, split into ``bands`` LSH bands (64 x 32: two rows
    per band, so texts with Jaccard similarity around 0.2 and up are found as candidates);
    ``capacity`` texts remembered, oldest evicted first; ``seed`` picks the hash family
    (signatures from different seeds are not comparable); ``shingle`` words per shingle;
    ``template_phrases``: the clichés counted for the template penalty (default: the
    rubric lexicon's).
    """

    def __init__(self, num_perm: int = 64, bands: int = 32, capacity: int = 5000, seed: int = 1,
                 shingle: int = 3, template_phrases: list[str] | None = None) -> None:
        if bands < 1 or num_perm % bands:
            raise ValueError(f"num_perm ({num_perm}) must be a multiple of bands ({bands})")
        if not 1 <= shingle <= len(_MIX) or capacity < 1:
            raise ValueError(f"need 1 <= shingle <= {len(_MIX)} and capacity >= 1")
        self.num_perm, self.bands, self.capacity = num_perm, bands, capacity
        self.seed, self.shingle = seed, shingle
        self._rows = num_perm // bands
        self._a, self._b = _permutations(num_perm, seed)
        phrases = _lexicon_cliches() if template_phrases is None else template_phrases
        # first word -> second word -> phrases (longest first): one dict miss at most positions
        self._phrases: dict[str, dict[str, list[list[str]]]] = {}
        for phrase in sorted({tuple(tokenize(p)) for p in phrases}, key=len, reverse=True):
            if len(phrase) >= 2:
                self._phrases.setdefault(phrase[0], {}).setdefault(phrase[1], []).append(list(phrase))
        self._items: deque[tuple[int, tuple[str, ...]]] = deque()
        # One dict per band: band key (the band's rows as raw bytes) -> matrix rows holding it.
        self._bands: list[dict[bytes, list[int]]] = [{} for _ in range(bands)]
        self._band_dtype = np.dtype((np.void, self._rows * 4))
        # Ring buffer of signatures, row = id % capacity: candidates are gathered with one
        # fancy-index instead of stacking arrays per query.
        self._matrix = np.zeros((capacity, num_perm), dtype=np.uint32)
        self._templates: Counter[str] = Counter()
        self._next_id = 0
        # Per matrix row: the text's stamp (ms) and key; key -> its row while remembered.
        self._stamps = np.full(capacity, NO_STAMP, dtype=np.int64)
        self._row_keys: list[str | None] = [None] * capacity
        self._row_used: list[tuple[str, ...]] = [()] * capacity
        self._rows_by_key: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._items)

    # --- signatures ---------------------------------------------------------------

    def signature(self, text: str, words: list[str] | None = None) -> np.ndarray:
        """MinHash signature (``num_perm`` uint32 values) of the text's word 3-gram shingles."""
        words = tokenize(text) if words is None else words
        h = np.array(list(map(_word_hash, words)), dtype=np.uint64)
        k = self.shingle
        if len(h) >= k:
            # Shingle hash from the word hashes: wrapping uint64 arithmetic, no string joins.
            parts = [h[i:len(h) - k + 1 + i] * _MIX[i] for i in range(k)]
            h = sum(parts[1:], parts[0])
            h ^= h >> _SHIFT  # fold the high bits into the low 32 that multiply-shift reads
        elif len(h) == 0:
            h = np.zeros(1, dtype=np.uint64)
        h &= np.uint64(0xFFFFFFFF)
        x = self._a * h  # (num_perm, shingles); the in-place steps avoid two more temporaries
        x += self._b
        x >>= _SHIFT
        return x.min(axis=1).astype(np.uint32)

    def _band_keys(self, sig: np.ndarray) -> list[bytes]:
        # Viewing the signature as ``bands`` opaque records yields the keys in one C call.
        return np.ascontiguousarray(sig).view(self._band_dtype).tolist()

    def templates(self, text: str, words: list[str] | None = None) -> tuple[str, ...]:
        """Cliché templates (lexicon phrases) the text uses, each once."""
        words = tokenize(text) if words is None else words
        found: list[str] = []
        phrases, last = self._phrases, len(words) - 1
        for i, w in enumerate(words):
            seconds = phrases.get(w)
            if seconds is None or i == last:
                continue
            for phrase in seconds.get(words[i + 1], ()):
                if words[i:i + len(phrase)] == phrase:
                    found.append(" ".join(phrase))
                    break
        return tuple(dict.fromkeys(found))

    # --- scoring --------------------------------------------------------------------

    def _nearest(self, sig: np.ndarray, hidden: frozenset[int] = frozenset()) -> float:
        keys = self._band_keys(sig)
        found = [rows for band, key in zip(self._bands, keys) if (rows := band.get(key))]
        if not found:
            return 0.0
        # A row found by several bands is compared several times: cheaper than deduplicating.
        rows = list(chain.from_iterable(found))
        if hidden:
            rows = [row for row in rows if row not in hidden]
            if not rows:
                return 0.0
        others = self._matrix.take(rows, axis=0)
        return float((others == sig).sum(axis=1).max()) / self.num_perm

    def _hidden(self, exclude: str | None, before: int | None) -> frozenset[int]:
        """Rows not in the memory as of a record: its own key's, and those stamped after ``before``."""
        hidden: set[int] = set()
        if before is not None:
            hidden.update(np.flatnonzero(self._stamps > before).tolist())
        if exclude is not None and (row := self._rows_by_key.get(exclude)) is not None:
            hidden.add(row)
        return frozenset(hidden)

    def score(self, text: str) -> float:
        """1.0 for a novel text, near 0 for a near-duplicate of (or a template shared by) memory."""
        return self.explain(text)[0]

    def explain(self, text: str, words: list[str] | None = None, *, exclude: str | None = None,
                before: int | None = None) -> tuple[float, float, tuple[str, ...]]:
        """(score, similarity to the nearest remembered text, overused templates the text uses).

        ``words``: the text's tokens from :func:`tokenize` (or the rubric), to skip re-tokenizing.
        ``exclude``: a key whose text does not count (the record's own approved copy);
        ``before``: a stamp (ms) after which remembered texts do not count.
        """
        hidden = self._hidden(exclude, before) if self._items else frozenset()
        if len(self._items) <= len(hidden):
            return 1.0, 0.0, ()
        words = tokenize(text) if words is None else words
        sim = self._nearest(self.signature(text, words), hidden)
        # Jaccard of 3-gram shingles is already ~0.5 for a light paraphrase: saturate there.
        dup = 1.0 - min(1.0, sim / 0.5) ** 0.8
        used = self.templates(text, words)
        counts = self._template_counts(used, hidden)
        factor = self._template_factor(used, counts, len(self._items) - len(hidden))
        overused = tuple(t for t in used if counts[t]) if factor < 1.0 else ()
        return round(min(dup, factor), 4), round(sim, 4), overused

    def as_of(self, exclude: str | None = None, before: int | None = None) -> "MemoryView":
        """This memory as one record sees it (see :meth:`explain`), for a :class:`Rubric`."""
        return MemoryView(self, exclude, before)

    def _template_counts(self, used: tuple[str, ...], hidden: frozenset[int]) -> Counter[str]:
        counts = Counter({t: self._templates[t] for t in used})
        for row in hidden:
            counts.subtract(t for t in self._row_used[row] if t in counts)
        return counts

    @staticmethod
    def _template_factor(used: tuple[str, ...], counts: Counter[str], remembered: int) -> float:
        if not used:
            return 1.0
        # A cliché in 1 of 20 remembered texts (or in 5 of them while memory is small) is
        # saturated: the text adds nothing the recent stream has not already said.
        saturation = max(5.0, remembered / 20)
        share = max(counts[t] for t in used) / saturation
        return max(0.0, 1.0 - 0.9 * min(1.0, share))

    # --- memory ---------------------------------------------------------------------

    def add(self, text: str, key: str | None = None, stamp: int | None = None) -> bool:
        """Remember an approved text, evicting the oldest when the memory is full.

        ``key``: its id (a key already remembered is not added again: ``False``);
        ``stamp``: when it was approved, ms (see :meth:`explain`'s ``before``).
        """
        if key is not None and key in self._rows_by_key:
            return False
        words = tokenize(text)
        self._insert(self.signature(text, words), self.templates(text, words), key, stamp)
        return True

    def _insert(self, sig: np.ndarray, used: tuple[str, ...], key: str | None = None,
                stamp: int | None = None) -> None:
        if len(self._items) >= self.capacity:
            self._evict()  # first: the new signature reuses the oldest one's row
        item_id, self._next_id = self._next_id, self._next_id + 1
        row = item_id % self.capacity
        self._items.append((item_id, used))
        self._matrix[row] = sig
        for band, band_key in zip(self._bands, self._band_keys(sig)):
            band.setdefault(band_key, []).append(row)
        self._templates.update(used)
        self._stamps[row] = NO_STAMP if stamp is None else stamp
        self._row_keys[row] = key
        self._row_used[row] = used
        if key is not None:
            self._rows_by_key[key] = row

    def _evict(self) -> None:
        item_id, used = self._items.popleft()
        row = item_id % self.capacity
        for band, key in zip(self._bands, self._band_keys(self._matrix[row])):
            rows = band[key]
            rows.remove(row)
            if not rows:
                del band[key]
        self._templates.subtract(used)
        self._templates += Counter()  # drop zero counts so the counter stays bounded
        self._stamps[row] = NO_STAMP
        self._row_used[row] = ()
        if (key := self._row_keys[row]) is not None:
            self._rows_by_key.pop(key, None)
            self._row_keys[row] = None

    # --- persistence ----------------------------------------------------------------

    def state(self) -> dict:
        """JSON-able snapshot (signatures base64-packed) for a state store; see :meth:`from_state`."""
        rows = [item_id % self.capacity for item_id, _ in self._items]
        sigs = self._matrix[rows] if rows else np.zeros((0, self.num_perm), np.uint32)
        return {
            "version": STATE_VERSION,
            "params": {"num_perm": self.num_perm, "bands": self.bands, "capacity": self.capacity,
                       "seed": self.seed, "shingle": self.shingle},
            "signatures": base64.b64encode(sigs.astype("<u4").tobytes()).decode("ascii"),
            "templates": [list(used) for _, used in self._items],
            "keys": [self._row_keys[row] for row in rows],
            "stamps": [int(self._stamps[row]) for row in rows],
        }

    @classmethod
    def from_state(cls, state: dict, template_phrases: list[str] | None = None) -> "Originality":
        """Rebuild a memory from :meth:`state` output (same order, same eviction behaviour)."""
        if state.get("version") not in (1, STATE_VERSION):
            raise ValueError(f"unsupported originality state version {state.get('version')!r}")
        memory = cls(**state["params"], template_phrases=template_phrases)
        raw = base64.b64decode(state["signatures"])
        sigs = np.frombuffer(raw, dtype="<u4").astype(np.uint32).reshape(-1, memory.num_perm)
        keys = state.get("keys") or [None] * len(sigs)
        stamps = state.get("stamps") or [None] * len(sigs)
        for sig, used, key, stamp in zip(sigs, state["templates"], keys, stamps):
            memory._insert(sig, tuple(used), key, None if stamp == NO_STAMP else stamp)
        return memory


class MemoryView:
    """An :class:`Originality` memory as of one record: what a :class:`Rubric` scores against."""

    def __init__(self, memory: Originality, exclude: str | None, before: int | None) -> None:
        self.memory, self.exclude, self.before = memory, exclude, before

    def __len__(self) -> int:
        return len(self.memory)

    def explain(self, text: str, words: list[str] | None = None) -> tuple[float, float, tuple[str, ...]]:
        return self.memory.explain(text, words, exclude=self.exclude, before=self.before)

    def score(self, text: str) -> float:
        return self.explain(text)[0]
