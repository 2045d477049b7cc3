"""Card numbers, national id numbers and phone numbers (digits, spelled out or with
lookalike letters) for the personal-data detector
(:mod:`kasper.agents.quality.personal_data` says what counts and why)."""

from __future__ import annotations

import re
import string

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
