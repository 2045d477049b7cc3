"""Logprob (G-Eval) scores: each criterion as the expected score over the score tokens.

At the position where the model wrote a criterion's value, the score tokens (1..10)
among the top logprobs are weighted by their probability and renormalised over the
score tokens found there.  Generated tokens are matched to the answer's bytes whatever
the tokenizer: OpenAI's ``bytes``, the token text, SentencePiece's U+2581 spaces or
GPT-2 byte-level BPE.  Pure functions: no I/O, no errors (a position that cannot be
matched simply has no weighted score).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Mapping

_MIN_SCORE_MASS = 0.01  # below this the score tokens at a position are noise


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """GPT-2 byte-level BPE shows each byte as a printable character: the inverse map."""
    shown_as = [*range(33, 127), *range(161, 173), *range(174, 256)]
    chars, extra = list(shown_as), 0
    for byte in range(256):
        if byte not in shown_as:
            shown_as.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(shown_as, chars)}


def _token_bytes(entry: Mapping[str, Any]) -> list[bytes]:
    """What a logprob entry may stand for: OpenAI's ``bytes``, its text, or byte-level BPE."""
    out = [bytes(entry["bytes"])] if isinstance(entry.get("bytes"), list) else []
    token = str(entry.get("token") or "")
    out.append(token.replace("\u2581", " ").encode())  # SentencePiece marks spaces with U+2581
    decoder = _byte_decoder()
    if token and all(ch in decoder for ch in token):
        out.append(bytes(decoder[ch] for ch in token))
    return [b for b in out if b]


def _logprob(entry: Mapping[str, Any]) -> float:
    value = entry.get("logprob")
    return float(value) if isinstance(value, (int, float)) else -1e9


def _tops(position: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(position.get("top_logprobs") or [position])


def _align(data: bytes, positions: list[Mapping[str, Any]]) -> list[tuple[int, int]]:
    """Byte span of each generated token in ``data``, as far as they can be matched.

    The chosen token is the most likely candidate that continues the text: exact at
    temperature 0, and independent of the ``token`` field, which mlx_lm.server fills
    with the first entry of an unsorted top-k rather than the sampled token.
    """
    spans, cursor = [], 0
    for pos in positions:
        options = sorted([pos, *_tops(pos)], key=_logprob, reverse=True)
        size = next((len(b) for o in options for b in _token_bytes(o) if data.startswith(b, cursor)), 0)
        if not size:
            break
        spans.append((cursor, cursor + size))
        cursor += size
    return spans


def _score_of(entry: Mapping[str, Any]) -> int | None:
    for raw in _token_bytes(entry):
        text = raw.decode("utf-8", "ignore").strip().strip("\"'")
        if text.isdigit() and 1 <= int(text) <= 10:
            return int(text)
    return None


def _expected_score(positions: list, spans: list, data: bytes, offset: int) -> float | None:
    i = next((k for k, (a, b) in enumerate(spans) if a <= offset < b), None)
    if i is None:
        return None
    mass: dict[int, float] = {}
    for entry in _tops(positions[i]):
        value = _score_of(entry)
        if value is not None:
            mass[value] = mass.get(value, 0.0) + math.exp(_logprob(entry))
    chosen = data[spans[i][0]:spans[i][1]].decode("utf-8", "ignore").strip()
    if chosen == "1" and 1 in mass and i + 1 < len(positions):
        # Digit-by-digit tokenizers write 10 as "1", "0": split "1" by what followed it.
        zero = sum(math.exp(_logprob(e)) for e in _tops(positions[i + 1])
                   if any(b.decode("utf-8", "ignore").strip() == "0" for b in _token_bytes(e)))
        zero = min(zero, 1.0)
        mass[10] = mass.get(10, 0.0) + mass[1] * zero
        mass[1] *= 1.0 - zero
    total = sum(mass.values())
    return sum(v * p for v, p in mass.items()) / total if total >= _MIN_SCORE_MASS else None


def logprob_scores(content: str, positions: list[Mapping[str, Any]],
                   offsets: Mapping[str, int]) -> dict[str, float]:
    """Probability-weighted scores for the criteria whose value position has score tokens."""
    data = content.encode()
    spans = _align(data, positions)
    out = {}
    for name, offset in offsets.items():
        value = _expected_score(positions, spans, data, len(content[:offset].encode()))
        if value is not None:
            out[name] = value
    return out
