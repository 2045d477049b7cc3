"""Hard gates: content that fails an insight whatever its rubric score.

Each failure is a string ``"<gate>: <reason>"``:

- ``personal_data: <kind>`` (email address, phone number, card number, national id
  number, street address, postcode). The matched data itself is never echoed: the
  reason ends up on Kafka topics and in logs.
- ``medical_directive: '<phrase>'``, ``legal_financial_directive: '<phrase>'``,
  ``eating_disorder: '<phrase>'``, ``self_harm: '<phrase>'``, ``hateful: '<phrase>'``,
  ``injection: <what>`` (described, never echoed). How directives are told from safe
  advice is explained in :mod:`kasper.agents.quality.directives`.

The patterns are deliberately narrow. Insights are full of numbers that are not
personal data ("life path 7", "11:11", "22 minutes", angel number 444, dates), so a
phone number needs phone-like grouping and a card number must pass the Luhn check.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from kasper.agents.quality.directives import find_harm

# --- personal data ------------------------------------------------------------------

_EMAIL = re.compile(r"[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# Phone numbers need phone-like grouping: (555) 123-4567, 555-123-4567, +44 20 7946 0958,
# 020 7946 0958. Bare digit runs such as 444, 1111 or 2024 never match.
_PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}"  # international, +CC then 2-5 groups
    r"|(?:1[ .-])?\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}"  # (555) 123-4567
    r"|(?:1[ .-])?\d{3}[.-]\d{3}[.-]\d{4}"  # 555-123-4567 / 555.123.4567
    r"|\d{3} \d{3} \d{4}"  # 555 123 4567
    r"|0\d{2,4}[ -]\d{3,4}[ -]\d{3,4}"  # national trunk prefix: 020 7946 0958
    r")(?![\w-])"
)
_PHONE_CONTEXT = re.compile(
    r"\b(?:call|phone|text|whatsapp|tel|mobile|cell|number is|reach (?:me|her|him|them) at)\b"
    r"\D{0,20}(\d{10,11})\b",
    re.IGNORECASE,
)
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_NATIONAL_ID = re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])")  # US SSN layout
_STREET = re.compile(
    r"\b\d{1,5}[A-Za-z]?,? (?:[A-Z][a-z]+ ){1,3}"
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl"
    r"|Terrace|Close|Crescent|Square|Sq|Highway|Hwy|Parkway|Pkwy|Alley|Circle)\b\.?"
    r"(?:,? (?:Apt|Apartment|Unit|Suite|Flat)\.? ?#?\w+)?"
)
_POSTCODE = re.compile(
    r"\b(?:[A-Z]{2} \d{5}(?:-\d{4})?"  # US state + ZIP: CA 94110
    r"|[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2})\b"  # UK postcode: SW1A 1AA
)

_NUMBER_RUN = re.compile(r"\d[\d ().-]*")
# How far before / after a digit run each pattern may start / end: "+44 ..." and "(555)"
# begin before the first digit; a street name follows its number; "SW1A 1AA" and
# "CA 94110" have letters on both sides of their digits.
_WINDOWS = {"card number": (1, 1), "national id number": (1, 1), "phone number": (2, 1),
            "street address": (0, 80), "postcode": (3, 6)}
_LONG_RUN_KINDS = {"card number", "national id number", "phone number"}
_PII_PATTERNS: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("email address", "[EMAIL]", _EMAIL),
    ("card number", "[CARD]", _CARD),
    ("national id number", "[ID]", _NATIONAL_ID),
    ("phone number", "[PHONE]", _PHONE),
    ("street address", "[ADDRESS]", _STREET),
    ("postcode", "[POSTCODE]", _POSTCODE),
)


def luhn_valid(digits: str) -> bool:
    """True when a digit string passes the Luhn checksum used by payment cards."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_ok(match: re.Match[str]) -> bool:
    digits = re.sub(r"[ -]", "", match.group())
    # All-same digits ("4444 4444 4444 4444") are repeating-number motifs, not cards.
    return 13 <= len(digits) <= 19 and len(set(digits)) > 1 and luhn_valid(digits)


def _phone_ok(match: re.Match[str]) -> bool:
    # "+1 2 3" matches the grouping; a dialable number has 8-15 digits (E.164 allows 15).
    digits = "".join(ch for ch in match.group() if ch.isdigit())
    # Toll-free numbers (crisis lines, services) are public, not personal: a safe insight may
    # point to "1-800-273-8255".
    national = digits[1:] if len(digits) == 11 and digits[0] == "1" else digits
    return 8 <= len(digits) <= 15 and not national.startswith(_TOLL_FREE)


_TOLL_FREE = ("800", "833", "844", "855", "866", "877", "888", "0800", "0808")


_VALIDATORS = {"card number": _card_ok, "phone number": _phone_ok}


def personal_data_spans(text: str) -> list[tuple[str, int, int]]:
    """(kind, start, end) of every piece of personal data, non-overlapping, in order."""
    spans: list[tuple[str, int, int]] = []
    if "@" in text:
        spans.extend(("email address", m.start(), m.end()) for m in _EMAIL.finditer(text))
    # Everything else contains a digit. Scanning for digit runs is fast (the pattern starts
    # with \d, so the engine skips ahead); the detailed patterns then run only in small
    # windows around each run instead of over the whole text.
    for run in _NUMBER_RUN.finditer(text):
        start, end = run.start(), run.end()
        # Cards, phones and ids need 8+ characters of digits and separators: "22 ", "11", "444 " never.
        long_run = end - start >= 8
        for kind, _, pattern in _PII_PATTERNS[1:]:
            if kind in _LONG_RUN_KINDS and not long_run:
                continue
            lo, hi = _WINDOWS[kind]
            for m in pattern.finditer(text, max(0, start - lo), end + hi):
                if kind not in _VALIDATORS or _VALIDATORS[kind](m):
                    spans.append((kind, m.start(), m.end()))
        if long_run:
            for m in _PHONE_CONTEXT.finditer(text, max(0, start - 45), end):
                spans.append(("phone number", m.start(1), m.end(1)))
    return _drop_overlaps(spans)


def _drop_overlaps(spans: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    # Spans arrive in _PII_PATTERNS order for each digit run, and the first one kept wins:
    # a Luhn-valid card is not also a phone number.
    kept: list[tuple[str, int, int]] = []
    for span in spans:
        if all(span[2] <= k[1] or span[1] >= k[2] for k in kept):
            kept.append(span)
    return sorted(kept, key=lambda s: s[1])


def find_personal_data(text: str) -> list[str]:
    """Kinds of personal data found in ``text`` ("email address", ...), each once, in order."""
    return list(dict.fromkeys(kind for kind, _, _ in personal_data_spans(text)))


def redact_personal_data(text: str) -> str:
    """``text`` with each piece of personal data replaced by a placeholder like ``[EMAIL]``."""
    placeholders = {kind: ph for kind, ph, _ in _PII_PATTERNS}
    out, last = [], 0
    for kind, start, end in personal_data_spans(text):
        out.append(text[last:start])
        out.append(placeholders[kind])
        last = end
    out.append(text[last:])
    return "".join(out)


# --- directives, harmful content, injection ------------------------------------------------
# The rules live in :mod:`kasper.agents.quality.directives`; this module only joins them
# with the personal-data gate.


def check_gates(text: str, words: Collection[str] | None = None) -> list[str]:
    """Every hard-gate failure in ``text`` as ``"gate: reason"``; empty when the text is clean.

    Gates, in this order: ``personal_data``, then :data:`directives.GATES`
    (``medical_directive``, ``legal_financial_directive``, ``eating_disorder``,
    ``self_harm``, ``hateful``, ``injection``). ``words``: the text's lowercase word
    tokens, when the caller has them already.
    """
    if "\u2019" in text:
        text = text.replace("\u2019", "'")  # curly apostrophes: "don’t" must match "don't"
        words = None  # the caller's words split "don’t" in two; "don't" is a trigger word
    failures = [f"personal_data: {kind}" for kind in find_personal_data(text)]
    failures += [f"{gate}: {reason}" for gate, reason in find_harm(text, words)]
    return failures
