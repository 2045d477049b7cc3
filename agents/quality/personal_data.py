"""Personal data in free text: one detector for the hard gate, the trainer's audit and redaction.

Kinds found: ``email address``, ``phone number``, ``card number``, ``national id number``,
``street address``, ``postcode``. :func:`personal_data_spans` is the detector;
:func:`find_personal_data` (the gate and the audit) and :func:`redact_personal_data` (the
trainer) are views of it, so what the gate fails is exactly what redaction removes.

Unicode. Matching runs on a folded copy of the text: NFKC per character (fullwidth
``＠``, mathematical digits), every decimal digit as ASCII (Arabic-Indic, Devanagari),
dashes as ``-``, spaces as `` `` and format/combining characters (zero-width space,
joiners, soft hyphen, bidi marks) dropped. Spans are mapped back to the ORIGINAL text:
redaction must change only the personal data, never the rest of an insight, and a span
covers any invisible characters inside it, so nothing of the data survives.

Precision. Insights are full of numbers that are not personal data: angel numbers
(444, 1111), "11:11", "life path 7", dates, times, durations, years, verses, prices,
percentages, public helplines ("988", "116 123", "1-800-273-8255", "0800 1111"). So:

- a phone number needs phone-like grouping (or a cue word such as "call"), 8-15 digits
  and no date inside it; toll-free prefixes and a short list of published helplines
  are public, not personal;
- card numbers need a card issuer's first digits and the Luhn check; an Aadhaar
  number the Verhoeff check; a French social security number its key;
- a US SSN needs separators (``123-45-6789``, ``123 45 6789``, ``123.45.6789``); bare
  9-digit ids count only after a cue ("SSN", "passport number", ...);
- street addresses need a house number beside a street word (``742 Evergreen Terrace``,
  ``Hauptstraße 5``, ``Drottninggatan 5``, ``12 rue de la Paix``, ``Via Roma 12`` at a clause's
  end or after an address cue); a name and a number without one count only right before
  ", <postcode> <town>" ("Unter den Linden 77, 10117 Berlin");
- a continental postcode counts with a capitalised town after it and a comma, a line break
  or a country letter before it (", 75002 Paris", "D-10115 Berlin"), never as a year
  (", 2026 Goals") or before a stop word (", 10000 Steps"); UK and Canadian postcodes and
  "CA 94110" count anywhere;
- a bare 10-12 digit number needs phone-like first digits (a trunk 0 then a non-zero, a
  country code then 11-12 digits, or the fictional "555" exchange) and no date inside;
- digits spelled out ("five five five, one two three, four five six seven", "oh seven seven
  double oh nine ...") need 7+ digits and a cue word (call, text, phone, number, ...) close
  by, or 10+ digits; counts ("one, two, three, ..."), one repeated digit ("seven seven
  seven") and rows of repeated digits ("one one one, two two two, ...") never count;
- letters typed for digits (``O7700 9OO123``) are read as digits inside tokens that hold a
  real digit, and a line break inside a number as a space, unless a new number starts on
  the next line (helplines listed one a line).

Obfuscated emails need both an "at" token (``@``, ``[at]``, ``(at)``, `` at ``, ...) and a
"dot" token (``.``, ``[dot]``, `` dot ``, ...) between word-like parts; a part may be spelled
out letter by letter ("j a n e @ g m a i l . c o m", "j.o.h.n at ..."), and a comma may stand
for the last dot right after a plain ``@`` before a common top-level domain
("jane@gmail,com"). Bracketed tokens and ``@`` are strong. Bare words are weak, because
they are ordinary English:

- a bare `` dot `` needs a top-level domain that is not an English word (``com``, ``org``,
  ``net``, ...; never ``in``/``me``/``us``/``it``), and with a bare `` at `` no part may be a
  pronoun or article: "look at the dot com era" and "look at the moon. dot your i's" pass;
- "stay at home dot com" IS flagged: a word, "at", a word, "dot com" is the spelled-out
  address layout itself, and an insight has no reason to write "dot com";
- a bare `` at `` before a plain domain ("calm sessions at insighttimer.com") is a website,
  not an address, unless the domain is a mail provider ("jane at gmail.com"), the local
  part looks like a handle ("j.doe at example.net") or an email cue precedes ("email
  jane at example.com").

Not caught, by choice or for now: digits spelled out in other languages, as numbers
("seventy-seven"), fewer than 7 of them, 7-9 without a cue word, or without a five, six,
seven, zero, two or "double" before the last word (the cheap first search looks for those);
other lookalikes ("S" for 5, "B" for 8); letter-spacing with a spaced-out "a t" or "d o t";
a line break inside an email address; bare 10-digit numbers without a trunk 0 (except the
"555" exchange) and bare 10-digit numbers after a country code; a street without a street
word and without ", <postcode> <town>" after it ("Unter den Linden 77" alone); a postcode
and town after anything but a comma, a line break or a street ("send it to 75002 Paris").
A row of five two-digit numbers starting with 0 ("04 15 23 42 08") reads as a French phone
number, a card of repeated blocks beside the word "card" as a card, and "Psalm 23, 10115
Berlin" as an address, all by design.

The patterns and their checks live in :mod:`kasper.agents.quality.pii` (``fold``: Unicode
folding and offsets; ``emails``; ``numbers``: cards, ids, phones; ``places``: addresses and
postcodes); this module runs them over a text and resolves overlaps.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable

from kasper.agents.quality.pii.emails import _email_spans
from kasper.agents.quality.pii.fold import _fold
from kasper.agents.quality.pii.numbers import (
    _AADHAAR,
    _BARE_NOT_AFTER,
    _CARD,
    _COUNT_UP,
    _FR_NIR,
    _ID_CONTEXT,
    _ID_CUE_WORD,
    _INDIA_PAN,
    _LOOKALIKE_AFTER,
    _LOOKALIKE_TABLE,
    _LOOKALIKE_TOKEN,
    _NUMBER_BREAK,
    _PHONE,
    _PHONE_CONTEXT,
    _PHONE_CUE_WORD,
    _SSN,
    _UK_NINO,
    _aadhaar_ok,
    _bare_phone_ok,
    _card_ok,
    _digits,
    _id_context_ok,
    _nino_ok,
    _nir_ok,
    _phone_context_ok,
    _phone_ok,
    _spelled_spans,
    luhn_valid,
)
from kasper.agents.quality.pii.places import (
    _ADDRESS_CUE_WORDS,
    _CA_POSTCODE,
    _NAME_FIRST_ENDINGS,
    _NAME_FIRST_WORDS,
    _PO_BOX,
    _REGION_POSTCODE,
    _STREET_DE,
    _STREET_EN,
    _STREET_EN_LOWER,
    _STREET_FR,
    _STREET_NAME_STOP,
    _STREET_SOUTH,
    _UK_POSTCODE,
    _region_ok,
    _street_ok,
)

__all__ = ["find_personal_data", "luhn_valid", "personal_data_spans", "redact_personal_data"]

# --- the detector ------------------------------------------------------------------------

Validator = Callable[[re.Match[str], str], bool]
_PLACEHOLDERS = {"email address": "[EMAIL]", "card number": "[CARD]", "national id number": "[ID]",
                 "phone number": "[PHONE]", "street address": "[ADDRESS]", "postcode": "[POSTCODE]"}
# (priority, kind, pattern, validator): where spans overlap the lower priority wins, so a
# Luhn-valid card is not also a phone number and an Aadhaar number not a card.
_NUMERIC: tuple[tuple[int, str, re.Pattern[str], Validator | None], ...] = (
    (1, "national id number", _FR_NIR, _nir_ok),
    (1, "card number", _CARD, _card_ok),
    (1, "national id number", _AADHAAR, _aadhaar_ok),
    (3, "national id number", _SSN, None),
    (4, "phone number", _PHONE, _phone_ok),
)
# Digits are ASCII once folded, and "[0-9]" is scanned for faster than "\d".
_NUMBER_RUN = re.compile(r"[0-9][0-9 ()./-]*")


def _add(out: list[tuple[int, str, int, int]], priority: int, kind: str, pattern: re.Pattern[str],
         ok: Validator | None, text: str, lo: int, hi: int, group: int | str = 0) -> None:
    for m in pattern.finditer(text, max(0, lo), hi):
        if ok is None or ok(m, text):
            out.append((priority, kind, m.start(group), m.end(group)))


def _lookalike_spans(text: str, s: int, e: int, done: int,
                     out: list[tuple[int, str, int, int]]) -> int:
    """Reads O/o/I/l as digits in the tokens around the digit run at s..e and scans that
    window again; returns where the window ends, so a run inside it is not read twice."""
    if e + 24 <= done:  # read with an earlier run, like the second run of "O7700 9OO123"
        return done
    lo, hi = max(0, s - 24), min(len(text), e + 48)
    # The margins give the patterns' look-behinds and look-aheads the real neighbours.
    base = max(0, lo - 8)
    window = text[base:lo] + _LOOKALIKE_TOKEN.sub(
        lambda t: t.group().translate(_LOOKALIKE_TABLE), text[lo:hi]) + text[hi:hi + 8]
    if window != text[base:hi + 8]:
        found: list[tuple[int, str, int, int]] = []
        for priority, kind, pattern, ok in _NUMERIC:
            _add(found, priority, kind, pattern, ok, window, lo - base, hi - base)
        out.extend((priority, kind, a + base, b + base) for priority, kind, a, b in found)
    return hi


def _street_end(m: re.Match[str]) -> int:
    # A continental address ends where its ", 10115 Berlin" begins: the postcode is its own span.
    return m.start("tail") if "tail" in m.groupdict() and m.group("tail") is not None else m.end()


def _town_postcode(m: re.Match[str], out: list[tuple[int, str, int, int]]) -> None:
    if "pc" in m.groupdict() and m.group("pc") is not None:
        out.append((6, "postcode", m.start("pc"), m.end("pc")))


def _addresses(text: str, s: int, e: int, out: list[tuple[int, str, int, int]]) -> None:
    # Number first: the address starts at this digit run, so an anchored match is enough.
    for pattern, ok in ((_STREET_EN, _street_ok), (_STREET_FR, None)):
        m = pattern.match(text, s)
        if m is not None and (ok is None or ok(m, text)):
            out.append((5, "street address", s, _street_end(m)))
            _town_postcode(m, out)
            return
    before = text[max(0, s - 45):s].lower().split()[-4:]
    if before and before[-1] in _ADDRESS_CUE_WORDS:  # "live at 742 evergreen terrace"
        m = _STREET_EN_LOWER.match(text, s)
        if m is not None and _street_ok(m, text):
            out.append((5, "street address", s, m.end()))
            return
    # Name first: the street word ends just before the number ("Berliner Straße 12") or
    # starts a few words before it ("Carrer de Mallorca 401").
    if before and (before[-1].endswith(_NAME_FIRST_ENDINGS) or not _NAME_FIRST_WORDS.isdisjoint(before)):
        for pattern in (_STREET_DE, _STREET_SOUTH):
            for m in pattern.finditer(text, max(0, s - 60), e + 40):
                if m.start() <= s < m.end() and _name_first_ok(m, text):
                    out.append((5, "street address", m.start(), _street_end(m)))
                    _town_postcode(m, out)
    if text[max(0, s - 12):s].rstrip().lower().endswith(("box", "postfach")):
        _add(out, 5, "street address", _PO_BOX, None, text, s - 24, e + 2)


def _name_first_ok(m: re.Match[str], text: str) -> bool:
    # "Via Roma 12" mid-sentence needs a town after it, the end of a clause, or an address
    # cue before it ("lives at Via Roma 12 near the station"); "Via Zoom 10 minutes" has none.
    if "end" not in m.groupdict() or m.group("tail") is not None or m.group("end") is not None:
        return True
    words = text[max(0, m.start() - 20):m.start()].lower().split()
    return bool(words) and words[-1] in _ADDRESS_CUE_WORDS


# A continental postcode and town on their own: ", 10115 Berlin", "\n75002 Paris",
# "D-10115 Berlin". Sweden writes "111 51", Poland "00-950", Portugal "1000-001".
_PC_TOWN = re.compile(
    r"(?:[A-Z]{1,2}-)?(?P<pc>[0-9]{5}|[0-9]{4}(?:\s?[A-Z]{2}(?![\w-])|-[0-9]{3})?|[0-9]{3} [0-9]{2}"
    r"|[0-9]{2}-[0-9]{3})\s(?P<town>[A-ZÄÖÜÅØÆÉÈŁŚŻ][a-zäöüßåøæéèàâêîôûçíóúñłśżźćń'’-]{2,}"
    r"(?:[ -](?:am|an|im|de|la|le|sur|en)?[ -]?[A-ZÄÖÜÉ][a-zäöüßéè]+)?)(?![\w'’])")
_NOT_A_TOWN_WORDS = _STREET_NAME_STOP | frozenset(
    "points words miles steps hours people souls lives dollars euros pounds rupees followers likes "
    "views members calories feet meters metres kilometres kilometers copies pages books users "
    "readers subscribers visitors students employees participants angels breaths reps seconds "
    "words letters pieces sessions attendees hearts lessons goals".split())
# A name and a house number, without a street word, just before ", <postcode> <town>":
# "Unter den Linden 77, 10117 Berlin".
_NAME_AND_NUMBER = re.compile(
    r"(?:[A-ZÄÖÜÉ][\w'’.-]*\s(?:(?:den|der|dem|de|la|le|del|della|di|du|des|am|an|im|zum|zur|van"
    r"|von|op|het|los|las)\s)*){1,3}[0-9]{1,4}[a-zA-Z]?\Z")


def _postcode_town(text: str, s: int, out: list[tuple[int, str, int, int]]) -> None:
    # The code must follow a comma or a line break (or carry a country letter, "D-"), and
    # a town must follow it: "in 2026 Spring" and ", 10000 Steps" are not addresses.
    lead = s
    if s >= 2 and text[s - 1] == "-" and text[s - 2].isupper():  # "D-10115", "CH-8001"
        lead = s - 2 if s < 3 or not text[s - 3].isupper() else s - 3
        if lead and text[lead - 1].isalnum():
            return
    k = lead - 1 if lead and text[lead - 1] == " " else lead  # just after the comma
    if lead == s and k and (text[k - 1] not in ",\n" or (k == s and k >= 2 and text[k - 2].isdigit())):
        return  # "1,25000 Euro" is a price
    m = _PC_TOWN.match(text, lead)
    if m is None or m.group("town").lower() in _NOT_A_TOWN_WORDS:
        return
    pc = m.group("pc")
    if len(set(_digits(pc))) == 1 or _digits(pc) in _COUNT_UP:  # ", 11111 Light", ", 12345 Angels"
        return
    # Spans come in text order, so a street just before is among the last few found.
    street_before = any(kind == "street address" and k - 3 <= end <= k for _, kind, _, end in out[-3:])
    if len(pc) == 4 and pc[:2] in ("19", "20") and not street_before:  # ", 2026 Goals": a year
        return
    out.append((6, "postcode", lead, m.end("pc")))
    if not street_before and k >= 2 and text[k - 1] == ",":
        street = _NAME_AND_NUMBER.search(text, max(0, k - 51), k - 1)
        if street is not None and street.group().split()[0].lower() not in _STREET_NAME_STOP:
            out.append((5, "street address", street.start(), street.end()))


def _cued(text: str, s: int, reach: int, cue: re.Pattern[str], pattern: re.Pattern[str],
          ok: Validator, kind: str, priority: int, group: str,
          out: list[tuple[int, str, int, int]]) -> None:
    # A cue word within reach before the digit run at s, then an anchored match from it.
    for c in cue.finditer(text, max(0, s - reach), s):
        m = pattern.match(text, c.start())
        if m is not None and ok(m, text):
            out.append((priority, kind, m.start(group), m.end(group)))


_ASCII_LOWER = {c: c + 32 for c in range(65, 91)}


def _lower(text: str) -> str:
    low = text.lower()
    # A few characters lowercase to two ("İ"); offsets must not move, so lower ASCII only.
    return low if len(low) == len(text) else text.translate(_ASCII_LOWER)


def _scan(text: str) -> list[tuple[str, int, int]]:
    out: list[tuple[int, str, int, int]] = []
    if "\n" in text:  # same length: offsets stay put
        text = _NUMBER_BREAK.sub(" ", text)
    low = _lower(text)
    _email_spans(low, out)
    _spelled_spans(low, out)
    # Everything else contains a digit. Scanning for digit runs is fast; the detailed
    # patterns then run only in small windows around each run, never over the whole text.
    lookalikes_done = 0
    for run in _NUMBER_RUN.finditer(text):
        s, e = run.span()
        ndigits = (e - s) - sum(map(run.group().count, " ()./-"))
        if ndigits >= 7:  # cards, ids and phones: "22", "444", "2026", "116 123" never
            for priority, kind, pattern, ok in _NUMERIC:
                _add(out, priority, kind, pattern, ok, text, s - 3, e + 2)
            # A bare number counts after a cue word: "her number is 4155550132".
            _cued(low, s, 36, _PHONE_CUE_WORD, _PHONE_CONTEXT, _phone_context_ok, "phone number", 4,
                  "phone", out)
            bare = run.group().rstrip(" ()./-")
            if (10 <= len(bare) <= 12 and bare.isdigit() and not (s and text[s - 1] in _BARE_NOT_AFTER)
                    and _bare_phone_ok(bare, low, s)):
                out.append((4, "phone number", s, s + len(bare)))
        if ndigits >= 5:  # "SSN 123456789", "passport number X1234567"
            _cued(low, s, 52, _ID_CUE_WORD, _ID_CONTEXT, _id_context_ok, "national id number", 1,
                  "id", out)
        if (s and text[s - 1] in "OoIl") or _LOOKALIKE_AFTER.match(text, e):  # "O7700 9OO123"
            lookalikes_done = _lookalike_spans(text, s, e, lookalikes_done, out)
        # Postcodes and some ids have letters just before their digits.
        before = text[max(0, s - 4):s]
        upper_before = before != low[max(0, s - 4):s]
        if ndigits == 4 and s and text[s - 1].isalpha():  # "ABCPE1234F"
            _add(out, 1, "national id number", _INDIA_PAN, None, text, s - 6, e + 3)
        if ndigits == 6 and (upper_before or before != before.upper()):  # "QQ 12 34 56 C"
            _add(out, 3, "national id number", _UK_NINO, _nino_ok, text, s - 4, e + 4)
        if ndigits <= 6:
            _addresses(text, s, e, out)
        if 4 <= ndigits <= 5:  # after any address found at this run, so it can be seen
            _postcode_town(text, s, out)
        if upper_before:
            _add(out, 6, "postcode", _UK_POSTCODE, None, text, s - 3, e + 5)
            _add(out, 6, "postcode", _CA_POSTCODE, None, text, s - 2, e + 6)
            _add(out, 6, "postcode", _REGION_POSTCODE, _region_ok, text, s - 5, e + 6)
    return _drop_overlaps(out)


def _drop_overlaps(spans: list[tuple[int, str, int, int]]) -> list[tuple[str, int, int]]:
    # Best priority first, then leftmost, then longest; a span overlapping a kept one goes.
    # Kept spans never overlap each other, so only the neighbours of a new one can collide.
    starts: list[int] = []
    kept: list[tuple[int, str, int, int]] = []
    for span in sorted(spans, key=lambda sp: (sp[0], sp[2], sp[2] - sp[3])):
        i = bisect_right(starts, span[2])
        if (i and kept[i - 1][3] > span[2]) or (i < len(kept) and kept[i][2] < span[3]):
            continue
        starts.insert(i, span[2])
        kept.insert(i, span)
    return [(kind, start, end) for _, kind, start, end in kept]


def personal_data_spans(text: str) -> list[tuple[str, int, int]]:
    """(kind, start, end) of every piece of personal data, non-overlapping, in order.

    Offsets refer to ``text`` as given, even when matching needed its Unicode folded
    (fullwidth characters, invisible characters inside an address or a number).
    """
    folded, offsets = _fold(text)
    spans = _scan(folded)
    if offsets is None:
        return spans
    return [(kind, *offsets.span(start, end)) for kind, start, end in spans]


def find_personal_data(text: str) -> list[str]:
    """Kinds of personal data found in ``text`` ("email address", ...), each once, in order."""
    return list(dict.fromkeys(kind for kind, _, _ in personal_data_spans(text)))


def redact_personal_data(text: str) -> str:
    """``text`` with each piece of personal data replaced by a placeholder like ``[EMAIL]``.

    Placeholders: [EMAIL], [PHONE], [CARD], [ID], [ADDRESS], [POSTCODE]. Everything else
    in ``text`` is kept exactly, Unicode included.
    """
    out, last = [], 0
    for kind, start, end in personal_data_spans(text):
        out.append(text[last:start])
        out.append(_PLACEHOLDERS[kind])
        last = end
    out.append(text[last:])
    return "".join(out)
