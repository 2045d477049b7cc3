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
"""

from __future__ import annotations

import re
import string
import unicodedata
from bisect import bisect_right
from collections.abc import Callable
from functools import lru_cache

# --- Unicode folding --------------------------------------------------------------------

_NON_ASCII = re.compile(r"[^\x00-\x7f]")
# Characters NFKC leaves alone that still read as an email's "." or a phone's separator.
_FOLD_EXTRA = {"\u3002": ".", "\uff61": ".", "\u2212": "-", "\u00b7": ".", "\u2027": "."}


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    if ch in _FOLD_EXTRA:
        return _FOLD_EXTRA[ch]
    category = unicodedata.category(ch)
    if category in ("Cf", "Mn", "Me"):  # zero-width, joiners, soft hyphen, bidi, combining marks
        return ""
    if category == "Zs":
        return " "
    if category == "Pd":
        return "-"
    digit = unicodedata.decimal(ch, None)
    if digit is not None:
        return str(digit)
    folded = unicodedata.normalize("NFKC", ch)
    return "".join(_fold_char(c) if not c.isascii() and c != ch else c for c in folded)


class _OffsetMap:
    """Maps offsets in the folded text back to the original text.

    Each folded character is one original character, or part of the replacement of one
    original character. The two lists hold, in pairs, where each replacement begins and
    where the unchanged text after it resumes, as folded and as original offsets.
    """

    def __init__(self, folded_starts: list[int], original_starts: list[int]):
        self.folded_starts = folded_starts
        self.original_starts = original_starts

    def _char(self, pos: int) -> int:
        k = bisect_right(self.folded_starts, pos) - 1
        if k < 0:
            return pos
        if k % 2 == 0:  # inside a replacement: its one original character
            return self.original_starts[k]
        return self.original_starts[k] + pos - self.folded_starts[k]

    def span(self, start: int, end: int) -> tuple[int, int]:
        return self._char(start), self._char(end - 1) + 1


def _fold(text: str) -> tuple[str, _OffsetMap | None]:
    if text.isascii():  # the usual case: nothing to fold
        return text, None
    pieces: list[str] = []
    folded_starts: list[int] = []
    original_starts: list[int] = []
    last = folded_pos = 0
    for m in _NON_ASCII.finditer(text):
        ch = m.group()
        replacement = _fold_char(ch)
        if replacement == ch:
            continue
        i = m.start()
        pieces.append(text[last:i])
        folded_pos += i - last
        folded_starts.append(folded_pos)
        original_starts.append(i)
        pieces.append(replacement)
        folded_pos += len(replacement)
        last = i + 1
        folded_starts.append(folded_pos)
        original_starts.append(last)
    if not folded_starts:
        return text, None
    pieces.append(text[last:])
    return "".join(pieces), _OffsetMap(folded_starts, original_starts)


# --- email addresses ---------------------------------------------------------------------
# The email and cue-word patterns run on the lowercased text: re.IGNORECASE makes these
# alternations several times slower.

# A part is a word, or letters spaced out one by one ("j a n e @ g m a i l . c o m").
_PART = r"(?:[^\W_](?:[\w+-]{0,62}[^\W_])?|[^\W_](?: [^\W_]){2,40}(?![^\W_]))"
_AT_WEAK = r"\s{1,3}at\s{1,3}|\s{0,3}[-_]at[-_]\s{0,3}"
# A space before "@" and none after it ("tag @jane.doe") is a social handle unless the
# domain is a mail provider ("jane @gmail.com"): see _email_ok.
_AT = (r"(?:@|&\#0*64;|&\#x0*40;|&commat;|%40)\s{0,3}|\s{1,3}(?:@|&\#0*64;|&commat;)\s{0,3}"
       r"|\s{0,3}[\[({<]\s{0,2}(?:at|@)\s{0,2}[\])}>]\s{0,3}|[\[(]a[\])]|" + _AT_WEAK)
_DOT = (r"(?:\.|&\#0*46;|&\#x0*2e;|&period;|%2e"
        r"|\s{0,3}[\[({<]\s{0,2}(?:dot|\.)\s{0,2}[\])}>]\s{0,3}"
        r"|\s{1,3}dot\s{1,3}|\s{0,3}[-_]dot[-_]\s{0,3}|\s{1,2}\.\s{1,2})")
# An address is matched from its "at" token outwards: the domain forwards, then the local
# part backwards (a search that must end where the "at" token starts).
# A comma may stand for the last dot ("jane@gmail,com"): see _email_ok.
_AT_DOMAIN = re.compile(
    rf"(?P<at>{_AT})(?P<domain>{_PART}(?:{_DOT}{_PART}){{0,4}})(?:{_DOT}|(?P<comma>,))"
    r"(?P<tld>[^\W\d_]{2,24}|[^\W\d_](?: [^\W\d_]){1,23})"
    r"(?![^\W_]|[-+]\w|@)"
)
# Up to a dozen dots: "j.o.h.n.a.t.h.a.n at ..." spells a name out letter by letter.
_LOCAL = re.compile(rf"(?<![\w.+-]){_PART}(?:{_DOT}{_PART}){{0,12}}\Z")
# The space between two single letters: "g m a i l" reads as "gmail".
_SPACED_GAP = re.compile(r"(?<=\b[^\W_]) (?=[^\W_]\b)")
_COMMA_TLD = re.compile(r"@[^\s@,]{1,64},[a-z]{2,6}\b")
_WEAK_AT = re.compile(_AT_WEAK)
_WEAK_DOT = re.compile(r"\bdot\b|\s\.\s")  # once bracketed tokens are removed
_BRACKET_DOT = re.compile(r"[\[({<]\s*(?:dot|\.)\s*[\])}>]")
_LABEL = re.compile(r"[^\W_][\w+-]*")
_HANDLE = re.compile(r"[\d._+]")
_AT_LEAD = frozenset(" \t\n\r[({<-_")
# Where an "at" token can be. The word "at" is searched alone: a pattern that starts with
# a literal is scanned for far faster than an alternation.
_AT_WORD = re.compile(r"at(?![^\W_])(?<![^\W_]at)")
_AT_SIGN = re.compile(r"@|&#|&commat;|%40|[\[(]a[\])]")
_DOT_LITERAL = re.compile(r"\.(?:[^\W\d_]|\s{0,2}[\])}>]|(?<=\s\.)\s)")
_DOT_WORD = re.compile(r"\bdot\b")
_EMAIL_CUE = re.compile(r"\b(?:e-?mail|mail|write|wrote|reach|contact|address|message|inbox)\b")
# Top-level domains that are not English words, for the spelled-out "dot" layouts.
_SAFE_TLDS = frozenset(
    "com org net edu gov mil int io co uk de fr ca au nz ie es nl ch se dk fi pl ru jp cn br "
    "mx ar za eu info biz app dev xyz online email".split())
_MAIL_PROVIDERS = frozenset(
    "gmail googlemail yahoo ymail hotmail outlook msn icloud aol proton protonmail gmx "
    "yandex zoho fastmail tutanota tuta wanadoo laposte libero btinternet virginmedia "
    "rediffmail comcast verizon sbcglobal bigpond naver hanmail".split())
# Words that make "<word> at <word> dot com" ordinary English, not an address.
_EMAIL_STOP = frozenset(
    "the a an my your our their his her its this that these those me you us him them it we "
    "i they she he one all some any each every no least most first last once".split())


def _email_ok(local: str, m: re.Match[str], text: str, start: int) -> bool:
    # text is lowercased; m matched the "at" token onwards, local ends where it starts.
    domain = _SPACED_GAP.sub("", m.group("domain"))
    tld = _SPACED_GAP.sub("", m.group("tld"))
    local = _SPACED_GAP.sub("", local)
    if m.group("comma") is not None:  # "jane@gmail,com": only right after a plain "@"
        return m.group("at") == "@" and tld in _SAFE_TLDS
    after_at = text[m.end("at"):m.end()]
    bracket_dot = bool(_BRACKET_DOT.search(local) or _BRACKET_DOT.search(after_at))
    weak_dot = bool(_WEAK_DOT.search(_BRACKET_DOT.sub(" ", local))
                    or _WEAK_DOT.search(_BRACKET_DOT.sub(" ", after_at)))
    at = m.group("at")
    words = [w for w in _LABEL.findall(domain) if w != "dot"]
    # A spelled-out " dot " before an English-word ending ("the dot in") is not an address,
    # unless the domain is a mail provider ("jane at proton dot me").
    if weak_dot and tld not in _SAFE_TLDS and not (words and words[0] in _MAIL_PROVIDERS):
        return False
    if at[:1].isspace() and at.endswith("@"):  # "jane @gmail.com", but "tag @jane.doe" is a handle
        return bool(words) and words[0] in _MAIL_PROVIDERS
    if not _WEAK_AT.fullmatch(at):
        return True
    local_words = [w for w in _LABEL.findall(local) if w != "dot"]
    if not words or not local_words or _EMAIL_STOP.intersection(words + local_words[-1:]):
        return False
    if weak_dot or bracket_dot:
        return True
    # "<word> at example.com": a website unless it looks like someone's address.
    return (words[0] in _MAIL_PROVIDERS or bool(_HANDLE.search(local))
            or bool(_EMAIL_CUE.search(text, max(0, start - 40), start)))


def _may_hold_email(low: str) -> bool:
    # Every address has a "dot" token. Most insights have none (a sentence's "." is followed
    # by a space), so these literal-first checks skip the rest for almost every text.
    return (_DOT_LITERAL.search(low) is not None or "&#" in low or "&period;" in low or "%2e" in low
            or ("dot" in low and _DOT_WORD.search(low) is not None)
            or ("@" in low and _COMMA_TLD.search(low) is not None))


def _email_spans(text: str, out: list[tuple[int, str, int, int]]) -> None:
    """Emails in ``text``, which is lowercased."""
    if not _may_hold_email(text):
        return
    hints = [m.start() for m in _AT_WORD.finditer(text)]
    if "@" in text or "&" in text or "%40" in text or "a)" in text or "a]" in text:
        hints = sorted(hints + [m.start() for m in _AT_SIGN.finditer(text)])
    done = 0
    for p in hints:
        if p < done:
            continue
        # The "at" token may start a few characters before the hint: " [ at ]", "  @".
        lead = p
        while lead > max(done, p - 6) and text[lead - 1] in _AT_LEAD:
            lead -= 1
        for q in (lead, p) if lead != p else (p,):
            m = _AT_DOMAIN.match(text, q)
            local = m and _LOCAL.search(text, max(0, q - 100), q)
            if m and local and _email_ok(local.group(), m, text, local.start()):
                out.append((0, "email address", local.start(), m.end()))
                done = m.end()
                break


# --- card and national id numbers -------------------------------------------------------

_CARD = re.compile(
    r"(?<![\w.,/+-])(?<!\d[ .-])(?:"
    r"\d{4}(?P<s>\s?[.-]\s?|\s)\d{4}(?P=s)\d{4}(?P=s)\d{4}(?:(?P=s)\d{1,3})?"  # 4-4-4-4(-3)
    r"|\d{4}(?P<a>[ -])\d{6}(?P=a)\d{4,5}"  # Amex 4-6-5, Diners 4-6-4
    r"|\d{13,19}|\d{3,6}(?:[ -]\d{3,6}){1,5}"  # bare, or loosely grouped (validator: 13-19)
    r")(?![\w-]|[.,]\d)"
)
# Issuer prefixes: Visa 4, Mastercard 51-55 / 22-27, Amex 34/37, Diners/JCB 30/35/36/38/39,
# Discover/UnionPay/Maestro 6. Years ("2020 2021 ...") and ISBNs (978...) start elsewhere.
_CARD_ISSUER = re.compile(r"4|5[1-5]|2[2-7]|3[0456789]|6")

_SSN = re.compile(
    r"(?<![\w.,/+-])(?<!\d[ .-])(?!000|666)\d{3}(?P<s>\s?[.-]\s?|\s)(?!00)\d{2}(?P=s)(?!0000)\d{4}"
    r"(?![\w-]|[ .,-]\d)"
)
_UK_NINO = re.compile(r"(?<![\w-])(?P<p>[A-Z]{2})\s?(?:\d\s?){5}\d\s?[A-D](?![\w-])",
                      re.IGNORECASE)
_NINO_STOP = frozenset("is at in on of to by as or an be do go if it me my no so up us we he".split())
_INDIA_PAN = re.compile(r"(?<![\w-])[A-Z]{3}[PCHFATBLJG][A-Z]\d{4}[A-Z](?![\w-])")
_AADHAAR = re.compile(
    r"(?<![\w.,/+-])(?<!\d[ .-])[2-9]\d{3}(?P<s>[ -]?)\d{4}(?P=s)\d{4}(?![\w-]|[ .,-]\d)")
_FR_NIR = re.compile(
    r"(?<![\w.,/+-])(?<!\d[ .-])[12]\s?\d{2}\s?(?:0[1-9]|1[0-2]|[2-9]\d)\s?(?:\d{2}|2[AB])"
    r"\s?\d{3}\s?\d{3}\s?\d{2}(?![\w-]|[.,]\d)", re.IGNORECASE)
_ID_CUE = (
    r"ssn|social\s+security|national\s+insurance|ni\s+(?:number|no)|nino|passport|driver'?s\s+"
    r"licen[cs]e|licen[cs]e\s+(?:number|no)|id\s+(?:number|no|\#)|identity\s+(?:card\s+)?number"
    r"|tax\s+(?:id|number|file\s+number|code)|itin|sin|social\s+insurance|aadhaar|pan\s+card"
    r"|steuer-?id|steuernummer|personalausweis(?:nummer)?|insee|bsn|dni|nie|nif|codice\s+fiscale"
    r"|medicare|nhs\s+(?:number|no)|health\s+card"
)
_ID_CUE_WORD = re.compile(rf"\b(?:{_ID_CUE})\b")
_ID_CONTEXT = re.compile(
    rf"\b(?:{_ID_CUE})\b(?:\s+(?:number|no|num|\#))?[\s:#.-]{{0,6}}(?:(?:is|was|of)\s+)?"
    r"(?P<id>[a-z]{0,2}\d(?:[ -]?\d){4,17}[a-z]?)(?![\w-]|[.,]\d)",
)

_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 4, 0, 6, 7, 8, 9, 5), (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7), (4, 0, 1, 2, 3, 9, 5, 6, 7, 8), (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2), (7, 6, 5, 9, 8, 2, 1, 0, 4, 3), (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0))
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 5, 7, 6, 2, 8, 3, 0, 9, 4), (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7), (9, 4, 5, 3, 1, 2, 6, 8, 7, 0), (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5), (7, 0, 4, 6, 9, 1, 3, 2, 5, 8))


def luhn_valid(digits: str) -> bool:
    """True when a digit string passes the Luhn checksum used by payment cards."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _verhoeff_valid(digits: str) -> bool:
    check = 0
    for i, ch in enumerate(reversed(digits)):
        check = _VERHOEFF_D[check][_VERHOEFF_P[i % 8][ord(ch) - 48]]
    return check == 0


_GROUPS = re.compile(r"\d+")


def _digits(s: str) -> str:
    return "".join(_GROUPS.findall(s))


def _motif(candidate: str) -> bool:
    """Repeating-number motifs and year lists, not data: "4444 4444 4444 4444", "1212 1212 ...",
    "1234 1234 ...", "222 333 444 555 666" (every group one repeated digit), "2019 2020 2021"."""
    digits = _digits(candidate)
    if any(digits == (digits[:n] * (len(digits) // n + 1))[:len(digits)] for n in (1, 2, 3, 4)):
        return True
    groups = _GROUPS.findall(candidate)
    if len(groups) > 1 and all(len(set(g)) == 1 for g in groups):
        return True
    # "2019 2020 2021": a list of years.
    return len(groups) > 1 and all(len(g) == 4 and g.startswith(("19", "20")) for g in groups)


_CARD_CUE = re.compile(r"card|exp|cvv|cvc|visa|mastercard|amex|payment|billing", re.IGNORECASE)


def _card_ok(m: re.Match[str], text: str) -> bool:
    digits = _digits(m.group())
    if not (13 <= len(digits) <= 19 and _CARD_ISSUER.match(digits) and luhn_valid(digits)):
        return False
    # "4444 3333 2222 1111" without its spaces: blocks of one repeated digit are a motif too,
    # unless the text speaks of a card ("card 5555 5555 5555 4444, exp 11/27").
    blocks = {len(set(digits[i:i + 4])) for i in range(0, len(digits) - 3, 4)}
    if not _motif(m.group()) and blocks != {1}:
        return True
    return (len(set(digits)) > 1
            and _CARD_CUE.search(text, max(0, m.start() - 40), m.end() + 30) is not None)


def _aadhaar_ok(m: re.Match[str], _text: str) -> bool:
    return not _motif(m.group()) and _verhoeff_valid(_digits(m.group()))


def _nir_ok(m: re.Match[str], _text: str) -> bool:
    raw = re.sub(r"\s", "", m.group()).upper()
    body, key = raw[:-2], int(raw[-2:])
    # Corsica: 2A / 2B stand for 19 / 18 in the key's arithmetic.
    number = int(body.replace("2A", "19").replace("2B", "18"))
    return key == 97 - number % 97


def _nino_ok(m: re.Match[str], _text: str) -> bool:
    return m.group("p").lower() not in _NINO_STOP


def _id_context_ok(m: re.Match[str], _text: str) -> bool:
    digits = _digits(m.group("id"))
    return 5 <= len(digits) and not _motif(m.group("id")) and not _DATE.search(m.group("id"))


# --- phone numbers -----------------------------------------------------------------------

_PHONE = re.compile(
    r"(?<![\w+/.,-])(?<!\d[ .-])(?:"  # never from the middle of a digit group
    r"(?:\+|00)[1-9]\d{0,2}(?:[ .-]?\(?\d{1,5}\)?){2,6}"  # international: +44 7700 900123
    r"|(?:1[ .-]?)?\(\d{3}\)[ .-]?\d{3}[ .-]?\d{4}"  # (555) 123-4567
    r"|(?:1[ .-])?\d{3}(?P<s>\s-\s|[ ./-])\d{3}(?P=s)\d{4}"  # 555-123-4567, 555.123.4567
    r"|\(0\d{1,4}\)[ .-]?\d{2,4}(?:[ .-]?\d{2,4}){1,4}"  # (030) 1234567, (02) 9876 5432
    r"|0\d{1,4}(?:[ /.-]|\s-\s)?\d{2,4}(?:[ .-]?\d{2,4}){0,4}"  # trunk 0: 07700 900123, 06 12 34 56 78
    r"|[6-9]\d{4}[ -]\d{5}"  # India: 98765 43210
    r"|[679]\d{2} \d{2} \d{2} \d{2}"  # Spain: 612 34 56 78
    r"|\(\d{2}\)\s?\d{4,5}-\d{4}"  # Brazil: (11) 91234-5678
    r")(?![\w-]|[ .,-]\d|:\d)"  # nor stop inside a longer run of numbers ("04 15 23 42 08 16")
)
_PHONE_CUE = (r"call|calling|ring|dial|phone|telephone|tel|text|sms|whatsapp|signal|telegram"
              r"|mobile|cell|cellphone|fax|number\s+is|number:|reach\s+(?:me|her|him|them|us)"
              r"|contact\s+(?:me|her|him|them|us)")
_PHONE_CUE_WORD = re.compile(rf"\b(?:{_PHONE_CUE})\b")
_PHONE_CONTEXT = re.compile(
    rf"\b(?:{_PHONE_CUE})\b[^\d\n+]{{0,20}}(?P<phone>\+?\d(?:(?:[ .-]|\s-\s)?\d){{6,14}})"
    r"(?![\w-]|[.,]\d|:\d)",
)
# A date or a date-and-time inside a digit group is never a phone number.
_DATE = re.compile(r"(?<!\d)(?:\d{1,2}([./ -])\d{1,2}\1(?:19|20)\d\d"
                   r"|(?:19|20)\d\d([./ -])\d{1,2}\2\d{1,2})(?!\d)")
# Toll-free prefixes (public services, crisis lines), as the first group of a national
# number or the group after a country code: "0800 1111", "1-800-273-8255", "+44 800 1111".
_TOLL_FREE = frozenset(("800", "833", "844", "855", "866", "877", "888", "0800", "0808", "0805",
                        "1800", "1300"))
# The same written without any grouping, by country code ("" for national layouts).
_TOLL_FREE_BARE = {"": ("800", "833", "844", "855", "866", "877", "888", "1800", "0800", "0808"),
                   "1": ("800", "833", "844", "855", "866", "877", "888"), "44": ("800", "808"),
                   "49": ("800",), "33": ("800", "805"), "61": ("1800", "1300"), "91": ("1800",)}
# Published helplines outside toll-free ranges (national significant numbers, no trunk 0).
_HELPLINES = frozenset((
    "3001233393", "3003047000",  # UK: Mind infoline, SANEline
    "972394050",  # France: SOS Amitié
    "9152987821", "9999666555",  # India: iCall, Vandrevala Foundation
))


def _toll_free_or_helpline(candidate: str, digits: str, international: bool) -> bool:
    groups = [g for g in _GROUPS.findall(candidate) if g != "0"]  # "+44 (0) 800 ..."
    if international:
        groups = groups[1:]
    elif groups and groups[0] == "1" and len(groups) > 1:  # "1-800-273-8255"
        groups = groups[1:]
    if len(groups) > 1 and groups[0] in _TOLL_FREE:
        return True
    if len(groups) == 1:
        codes = ("1", "44", "49", "33", "61", "91") if international else ("",)
        if any(digits.startswith(cc) and digits[len(cc):].lstrip("0").startswith(
                tuple(p.lstrip("0") for p in _TOLL_FREE_BARE[cc])) for cc in codes):
            return True
    # Helplines: the digits after a 1-3 digit country code, or after the trunk 0.
    return any(digits[n:].lstrip("0") in _HELPLINES for n in ((1, 2, 3) if international else (0,)))


_COUNT_UP, _COUNT_DOWN = "0123456789" * 3, "9876543210" * 3


def _phone_digits_ok(candidate: str) -> bool:
    international = candidate.startswith(("+", "00"))
    digits = _digits(candidate)
    if international and candidate.startswith("00"):
        digits = digits[2:]
    if not 8 <= len(digits) <= 15 or _motif(candidate) or _DATE.search(candidate):
        return False
    if candidate == digits and (digits in _COUNT_UP or digits in _COUNT_DOWN
                                or _BARE_DATE.match(digits) or _BARE_DATE.match(digits[-8:])
                                or max(map(digits.count, set(digits))) > 0.6 * len(digits)):
        return False  # "0123456789" counts, "050620261130" is a date, "07777777771" a motif
    groups = _GROUPS.findall(candidate)
    if len(groups) >= 4 and all(len(g) <= 2 for g in groups):
        steps = {int(b) - int(a) for a, b in zip(groups, groups[1:])}
        if len(steps) == 1:  # "01 02 03 04 05", "05 10 15 20 25": a count, not a number
            return False
    return not _toll_free_or_helpline(candidate, digits, international)


def _phone_ok(m: re.Match[str], _text: str) -> bool:
    candidate = m.group()
    if candidate.startswith("0") and not candidate.startswith("00"):
        # National numbers with a trunk 0 have 9-12 digits in at most 5 groups
        # ("06 12 34 56 78"); "04 15 23 42 08 16" is a row of lucky numbers.
        if not 9 <= len(_digits(candidate)) <= 12 or len(_GROUPS.findall(candidate)) > 5:
            return False
    return _phone_digits_ok(candidate)


def _phone_context_ok(m: re.Match[str], _text: str) -> bool:
    candidate = m.group("phone")
    digits = _digits(candidate)
    if len(digits) == 7:  # "call 555-0132": a local number, only with a cue word
        return (not _DATE.search(candidate) and not _motif(candidate)
                and not _toll_free_or_helpline(candidate, digits, False))
    return _phone_digits_ok(candidate)


# Bare 11-12 digit numbers after a country code, with no cue word: "447700900123",
# "14155550132". The national part never starts with 0; ten digits after a code are left
# alone, because ISBN-10s and order numbers look the same.
_BARE_COUNTRY_CODES = ("1", "7", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43",
                       "44", "45", "46", "47", "48", "49", "52", "54", "55", "56", "57", "60", "61",
                       "62", "63", "64", "65", "66", "81", "82", "84", "90", "91", "92", "351", "352",
                       "353", "354", "358", "359", "370", "371", "372", "380", "420", "421", "852",
                       "886", "966", "971", "972")
# A date at either end of a bare number: ddmmyyyy, mmddyyyy, yyyymmdd (+ a time).
_BARE_DATE = re.compile(
    r"(?:(?:0[1-9]|[12][0-9]|3[01])(?:0[1-9]|1[0-2])|(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01]))"
    r"(?:19|20)[0-9]{2}|(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])")
# "#447700900123", "$14155550132", "v1.14155550132": an order, a price, a version.
_BARE_NOT_AFTER = frozenset("#$€£¥.,/-_:@&=" + string.ascii_letters)
_NANP_FICTIONAL = re.compile(r"[2-9][0-9]{2}555[0-9]{4}")  # 415 555 0132, the films' range


def _bare_phone_ok(digits: str, low: str, s: int) -> bool:
    """A run of 10-12 digits with no separators and no cue word: phone-like first digits
    (trunk 0 then a non-zero, or a country code), no date inside, no motif or count."""
    n = len(digits)
    if not 10 <= n <= 12 or _motif(digits) or digits in _COUNT_UP or digits in _COUNT_DOWN:
        return False
    if max(map(digits.count, set(digits))) > 0.6 * n:  # "07777777771": an angel-number row
        return False
    if _BARE_DATE.match(digits) or _BARE_DATE.match(digits[-8:]) or "isbn" in low[max(0, s - 12):s]:
        return False
    if digits[0] == "0":
        return digits[1] != "0" and not _toll_free_or_helpline(digits, digits, False)
    if n == 10:
        return _NANP_FICTIONAL.fullmatch(digits) is not None
    return any(digits.startswith(cc) and digits[len(cc)] != "0"
               and not _toll_free_or_helpline(digits, digits[len(cc):], False)
               for cc in _BARE_COUNTRY_CODES)


# Letters typed for digits: "O7700 9OO123", "O2O 7946 O958". Only whole tokens of digits
# and O/o/I/l with at least one real digit are read as numbers.
_LOOKALIKE_TOKEN = re.compile(r"(?<![^\W\d])[0-9OoIl]*[0-9][0-9OoIl]*(?![^\W\d])")
_LOOKALIKE_TABLE = str.maketrans("OoIl", "0011")
_LOOKALIKE_AFTER = re.compile(r"[OoIl][0-9OoIl]*(?![^\W\d])")

# A line break inside a number ("07700\n900123") reads as a space, unless a new number
# starts on the next line ("116 123\n0800 1111" is a list of helplines).
_NUMBER_BREAK = re.compile(r"(?<=[0-9])\n(?![ \t]*(?:\+|0[0-9]{2,4}[ .-][0-9]))(?=[ \t]*[0-9(])")

# Digits spelled out: "five five five, one two three, four five six seven", "oh seven
# seven double oh nine ...". A search for a rare-letter digit word followed by another
# digit word is the cheap first step (a run of seven digits without a five, six, seven,
# zero, two or double before its last word is rare); the whole run is then read and needs
# 7+ digits and a cue word, or 10+ digits.
_DIGIT_WORD_VALUES = {"zero": "0", "oh": "0", "o": "0", "nought": "0", "nil": "0", "one": "1",
                      "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
                      "eight": "8", "nine": "9"}
_DIGIT_WORDS = "zero|oh|nought|nil|one|two|three|four|five|six|seven|eight|nine|o"
# The hint starts at a rarer letter (v, x, z, w, b) and checks the word behind it: a
# search led by a small character set is several times faster than one led by the words.
_SPELLED_HINT = re.compile(
    r"(?:v(?:(?<=\bfiv)e|(?<=\bsev)en)|x(?<=\bsix)|z(?<=\bz)ero|w(?<=\btw)o|b(?<=\bdou)le)"
    rf"[ ,-]{{1,3}}(?:{_DIGIT_WORDS}|double|triple)(?![\w'’])")
_SPELLED_SEP = r"(?:[ \t]{1,3}|[ \t]{0,2}[,\n-][ \t]{0,2})"
_SPELLED_RUN = re.compile(
    rf"(?<![\w'’])(?:(?:double|triple){_SPELLED_SEP})?(?:{_DIGIT_WORDS})(?![\w'’])"
    rf"(?:{_SPELLED_SEP}(?:(?:double|triple){_SPELLED_SEP})?(?:{_DIGIT_WORDS})(?![\w'’])){{3,}}")
_SPELLED_PIECE = re.compile(rf"[,\n-]|(?:double|triple|{_DIGIT_WORDS})(?![\w'’])")
_SPELLED_CUE = re.compile(r"\b(?:call|calling|called|text|texting|phone|number|reach|ring|whatsapp"
                          r"|mobile|cell|dial|tel|contact|landline)\b")


_SAME_DIGITS = re.compile(r"([0-9])\1*")


def _spelled_digits(run: str) -> tuple[str, list[str]]:
    """The digits a spelled run stands for, and its groups (split at commas and hyphens)."""
    digits, groups, times = [], [""], 1
    for m in _SPELLED_PIECE.finditer(run):
        word = m.group()
        if word in ",\n-":
            groups.append("")
        elif word in ("double", "triple"):
            times = 2 if word == "double" else 3
        else:
            d = _DIGIT_WORD_VALUES[word] * times
            digits.append(d)
            groups[-1] += d
            times = 1
    return "".join(digits), [g for g in groups if g]


def _spelled_ok(m: re.Match[str], low: str) -> bool:
    digits, groups = _spelled_digits(m.group())
    if not 7 <= len(digits) <= 15 or _motif(" ".join(groups)) or _motif(digits):
        return False
    if digits in _COUNT_UP or digits in _COUNT_DOWN:  # "one, two, three, ... seven"
        return False
    # "one one one two two two three three three": rows of a repeated digit are angel numbers.
    if all(len(r.group()) >= 3 for r in _SAME_DIGITS.finditer(digits)):
        return False
    if len(digits) >= 10:
        return True
    return _SPELLED_CUE.search(low, max(0, m.start() - 40), min(len(low), m.end() + 25)) is not None


def _spelled_spans(low: str, out: list[tuple[int, str, int, int]]) -> None:
    done = 0
    for hint in _SPELLED_HINT.finditer(low):
        if hint.start() < done:
            continue
        for m in _SPELLED_RUN.finditer(low, max(done, hint.start() - 120), hint.end() + 160):
            if m.start() <= hint.start() < m.end():
                if _spelled_ok(m, low):
                    out.append((4, "phone number", m.start(), m.end()))
                done = m.end()
                break


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


# --- street addresses and postcodes ------------------------------------------------------

_STREET_SUFFIX = (
    r"Street|St|Avenue|Ave|Av|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl"
    r"|Terrace|Tce|Close|Crescent|Cres|Square|Sq|Highway|Hwy|Parkway|Pkwy|Alley|Circle|Cir"
    r"|Row|Mews|Gardens|Grove|Trail|Trl|Loop|Plaza|Wharf|Quay|Embankment|Esplanade|Broadway"
    r"|Causeway|Crossing|Expressway|Freeway|Turnpike|Pike"
)
_NAME = (r"(?:[A-Z](?:'[A-Z])?[a-z]+(?:[A-Z][a-z]+)?|[A-Z]{2,}|\d{1,3}(?:st|nd|rd|th)|[NSEW]\.?"
         r"|St\.|Mt\.)")
_UNIT = r"(?:,?\s(?i:apt|apartment|unit|suite|ste|flat|floor|fl|room|rm)\.?\s?\#?\w{1,5}|,?\s\#\w{1,5})"
# Number first (US, UK, Canada, Australia): "742 Evergreen Terrace", "221B Baker Street".
_STREET_EN = re.compile(
    rf"(?<![\w.,/:$-])\d{{1,5}}(?:[A-Za-z](?![\w']))?(?:[-/]\d{{1,4}}[A-Za-z]?)?,?\s"
    rf"(?P<name>(?:{_NAME}\s){{1,3}})(?i:{_STREET_SUFFIX})\b\.?(?:\s(?:[NS][EW]?|[EW])\b\.?)?{_UNIT}?"
)
_STREET_NAME_STOP = frozenset(
    "the a an and of to in on for your my our their his her its this that step steps day days "
    "week weeks minute minutes hour hours time times year years breath breaths simple easy "
    "quick small best better good true new old friends people things ones hearts souls angels "
    "stars cards numbers doors paths dreams wishes moments chakras wise men am pm january february "
    "march april may june july august september october november december monday tuesday "
    "wednesday thursday friday saturday sunday ways truths keys habits lessons rules signs gifts "
    "secrets pillars principles practices questions reasons tips tools rituals affirmations "
    "blessings prayers mantras intentions laws powers stages phases levels layers elements "
    "directions seasons colors colours".split())
# "742 evergreen terrace": lowercase names only after an address cue and before the end of
# the address, because "walk 2 miles down the road" is English.
_STREET_EN_LOWER = re.compile(
    r"\d{1,5}[a-z]?\s(?P<name>(?:[a-z][a-z'-]+\s){1,3})"
    r"(?:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|terrace"
    r"|crescent|place|highway|hwy|parkway|pkwy)\b\.?"
    r"(?=\s*(?:[,;:)!?\n]|\.(?:\s|$)|$|and\b|in\b|apt|unit|suite|flat))",
    re.IGNORECASE,
)
_ADDRESS_CUE_WORDS = frozenset(("at", "is", "on", "to", "visit", "address", "address:"))
_PO_BOX = re.compile(
    r"\b(?:P\.?\s?O\.?\s?Box|Post(?:al)?\s+Office\s+Box|Postfach)\s+\d{1,6}(?:\s\d{2}){0,2}\b",
    re.IGNORECASE)
# Postcode with a town after a continental address: ", 10115 Berlin", ", 1012 AB Amsterdam".
_TOWN_TAIL = (r"(?P<tail>(?:,\s?|\s)(?P<pc>(?:[A-Z]-)?\d{5}|\d{4}(?:\s?[A-Z]{2}|-\d{3})?)"
              r"\s[A-ZÄÖÜÉ][\w'’-]+)")
# Name first (Germany, Austria, Switzerland, Netherlands): "Hauptstraße 5", "Berliner Str. 12".
_STREET_DE = re.compile(
    r"(?<![\w-])(?:[A-ZÄÖÜ][\w'’.-]*?(?:stra(?:ss|ß)e|str\.|weg|platz|allee|gasse|damm|ufer"
    r"|chaussee|steig|pfad|markt|straat|gracht|laan|plein|kade|dijk|gatan|gata|vägen|vej|gade"
    r"|veien|katu|utca)"
    r"|(?:[A-ZÄÖÜ][\w'’-]*\s){1,3}(?:Stra(?:ss|ß)e|Str\.|Weg|Platz|Allee|Gasse|Damm|Ufer|Chaussee))"
    rf"\s?\d{{1,4}}(?:\s?[a-zA-Z](?!\w))?(?:[-/]\d{{1,4}}[a-z]?)?(?![\w,.]?\d)(?:{_TOWN_TAIL})?"
)
# Words, in the few words before a number, that can start a name-first address.
_NAME_FIRST_ENDINGS = ("straße", "strasse", "str.", "weg", "platz", "allee", "gasse", "damm", "ufer",
                       "chaussee", "steig", "pfad", "markt", "straat", "gracht", "laan", "plein",
                       "kade", "dijk", "gatan", "gata", "vägen", "vej", "gade", "veien", "katu", "utca")
_NAME_FIRST_WORDS = frozenset(
    "via viale piazza corso calle carrer avenida rua travessa largo paseo rue avenue boulevard "
    "chaussée ulica ul. aleja al.".split())
# Name first (Italy, Spain, Portugal, Brazil): "Via Roma 10", "Calle Mayor 5, 28013 Madrid".
_STREET_SOUTH = re.compile(
    r"(?<![\w-])(?:Via|Viale|Piazza|Corso|Calle|Carrer|Avenida|Rua|Travessa|Largo|Paseo|Rue|Avenue"
    r"|Boulevard|Chaussée|Ulica|ul\.|Aleja|al\.)\s"
    r"(?:(?:de|del|della|dei|di|da|do|dos|das|la|las|los|du|des|le|les|l['’])\s?)*[A-ZÁÉÍÓÚŁŚŻŹĆ][\w'’-]+"
    r"(?:\s[A-ZÁÉÍÓÚŁŚŻŹĆ][\w'’-]+){0,2},?\s\d{1,4}[a-zA-Z]?"
    rf"(?:{_TOWN_TAIL}|(?P<end>(?=\s*(?:[,;)\n]|\.(?:\s|$)|$))))?"
)
# Number first (France, Belgium, Quebec): "12 rue de la Paix, 75002 Paris".
_STREET_FR = re.compile(
    r"(?<![\w.,/:$-])\d{1,4}(?:\s?(?:bis|ter|[a-dA-D]))?,?\s"
    r"(?i:rue|avenue|av\.|boulevard|bd|place|pl\.|allée|allee|chemin|impasse|quai|route|rte"
    r"|cours|passage|square|faubourg|sentier)\s"
    r"(?:(?:de\s+la|de\s+l['’]|du|des|de|d['’]|la|le|les|l['’])\s*)?[A-ZÉÈÀÂÊÎÔÛÇ][\w'’-]+"
    r"(?:\s(?:(?:de|du|des|la|le|les|et|d['’]|l['’])\s*)?[A-ZÉÈÀÂÊÎÔÛÇ][\w'’-]+){0,3}"
    rf"(?:{_TOWN_TAIL})?"
)
_UK_POSTCODE = re.compile(
    r"(?<![\w-])[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]?\s?\d[ABD-HJLNP-UW-Z]{2}(?![\w-])")
_CA_POSTCODE = re.compile(
    r"(?<![\w-])[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z][ -]?\d[ABCEGHJ-NPRSTV-Z]\d(?![\w-])")
_US_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ"
    "|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR")
_REGION_POSTCODE = re.compile(
    rf"(?<![\w-])(?:(?:{_US_STATES})\s\d{{5}}(?:-\d{{4}})?"
    r"|(?P<au>NSW|VIC|QLD|TAS|ACT|NT|SA|WA)\s\d{4})"
    r"(?![\w-]|[.,]\d)")


_TOWN_BEFORE = re.compile(r"([A-Za-z]+),?\s$")
_NOT_A_TOWN = frozenset("the a an your my our their this that in on at for of and or to by".split())


def _region_ok(m: re.Match[str], text: str) -> bool:
    if m.group("au") is None:
        return True
    # Australia needs its town first ("Sydney NSW 2000"): "the ACT 2026 exam" is a year.
    town = _TOWN_BEFORE.search(text, max(0, m.start() - 25), m.start())
    return town is not None and town.group(1)[0].isupper() and town.group(1).lower() not in _NOT_A_TOWN


def _street_ok(m: re.Match[str], _text: str) -> bool:
    names = m.group("name").split()
    return not any(w.lower().rstrip(".") in _STREET_NAME_STOP for w in names)


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
