"""Email addresses, plain and obfuscated, for the personal-data detector
(:mod:`kasper.agents.quality.personal_data` says what counts and why)."""

from __future__ import annotations

import re

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
