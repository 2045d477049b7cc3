"""Whether a clause is aimed at the reader as a directive.

A verb is *directed* when it opens its clause (an imperative, after commas, "and",
"so", "then" and time words such as "tonight" or "this week"), or when it follows a lead
aimed at the reader: a modal ("you should", "you could", "you'd"), a time or permission
phrase ("it's time to", "it's okay to", "why not", "consider", "let yourself"), a voice
that speaks for the reader's beliefs ("the cards ask you to", "the universe wants you
to"), a request to pass it on ("encourage your husband to"), or, for gerunds, "X means"
and "you will heal by". A lead preceded in its clause by a condition, a question about
safety or a third person ("before you", "whether to", "people who") is not a directive.
"""

from __future__ import annotations

import re

_FILL = (r"(?:just|simply|gently|quietly|slowly|now|today|tonight|tomorrow|finally|please|first|"
         r"then|and|so|also|even|maybe|perhaps|really|boldly|bravely|calmly|lovingly|"
         r"immediately|instantly|right away|at once|for once|soon|this (?:week|month|morning|"
         r"evening|weekend|year|time|season|cycle|moon)|next (?:week|month)|on (?:monday|tuesday|"
         r"wednesday|thursday|friday|saturday|sunday)|go ahead and|go on and|dare to|you can|"
         r"at last|once and for all|cold turkey|all at once|yourself|for good)")
_REASON = r"(?:universe|cards?|stars?|moon|sky|spirit|angels?|guides?|planets?|cosmos|deck|tarot|" \
          r"energy|body|intuition|heart|soul|higher self|ancestors|numbers?|path|year|season|" \
          r"transit|retrograde|eclipse|[a-z]+ card|[a-z]+)"
_LEAD = re.compile(
    r"(?:(?:you|u) (?:should|could|might|can|must|may|need to|needs to|ought to|have to|got to|"
    r"gotta|would|will|are (?:ready|free|allowed|meant|called|invited|encouraged|permitted|"
    r"supposed|going) to|deserve to|get to|want to|may want to|might want to|can finally|"
    r"owe it to yourself to|have (?:permission|every right) to)(?: [a-z]+ly)?"
    r"|you'd|you'll|you're (?:ready|free|allowed|meant|going) to|u'd"
    r"|(?:it's|it is|now is|this is|today is|tonight is|the time has come) (?:the |your )?"
    r"(?:(?:right|perfect|best|ideal) )?(?:time|moment|day|week|month|year|season|night|cycle)"
    r"(?: to| for you to)?"
    r"|(?:it's|it is) (?:okay|ok|fine|alright|safe|wise|smart|healthy|brave) (?:for you )?to"
    r"|time to|feel free to|permission to|why not|try|consider|start|begin|choose to|decide to|"
    r"make (?:the|a) (?:choice|decision) to|let yourself|allow yourself|give yourself "
    r"(?:permission|the gift|the freedom) to|trust yourself(?: enough)? to|promise yourself to|"
    r"commit to|vow to|resolve to|be (?:brave|bold|strong|wise) enough to|learn to|"
    r"(?:a|the|your) (?:[a-z]+ )?(?:sign|invitation|cue|signal|call|window|chance|"
    r"opportunity|nudge|permission|moment) to|(?:the |your |this )?(?:[a-z]+ )?" + _REASON +
    r" (?:is |are )?(?:asks?|asking|invites?|inviting|wants?|wanting|urges?|urging|calls?|calling|"
    r"tells?|telling|nudges?|nudging|encourages?|encouraging|guides?|guiding|begs?|begging|"
    r"pushes|pushing|needs|needing|requires|challenges|challenging|dares) you to"
    r"|(?:the )?(?:best|bravest|kindest|wisest|boldest|only|fastest|quickest|surest|easiest|"
    r"smartest|truest|real) (?:thing|gift|move|step|choice|path|way|answer|cure|medicine)"
    r"(?: [a-z']+){0,5}? (?:is|would be) (?:simply |just )?to"
    r"|what if you|all you (?:need|have) to do is"
    r"|(?:encourage|tell|ask|help|convince|persuade|get|urge|remind) (?:him|her|them|your "
    r"(?:[a-z]+ )?[a-z]+)(?: [a-z]+ly)? to"
    r"|(?P<ing>means|looks like|starts with|begins with|requires|is about|is|are|"
    r"(?:you|u) (?:will|can|could|should|must|might|may|would|'ll)(?: [a-z']+){1,6} by))"
    rf"(?: {_FILL})*$")
# Clause openings for the imperative test: punctuation, and conjunctions joining commands.
_CLAUSE_START = re.compile(r"(?:[.!?;:,\u2014()\n]|\b(?:and|then|so|but|or|instead|now)\b) *")
_FILL_ONLY = re.compile(rf"(?:{_FILL}(?: |$))*")
# Openers that make the clause a report, a question about safety or a hypothetical, not a
# directive: "before you stop", "whether to stop", "people who stop".
_NOT_DIRECTIVE = re.compile(
    r"\b(?:if|whether|before|until|unless|when|whenever|once|after|while|who|which|that|"
    r"people|someone|anyone|many|some|they|he|she|i|we|myth|never|rather than|instead of|"
    r"how to|how|what happens|the urge to|the temptation to|tempted to|thinking about|"
    r"thought of|idea of|wondering|wonder|asking yourself)\b")


def directed(s: str, ss: int, start: int, verb: str = "") -> bool:
    """Whether the verb at ``start`` is aimed at the reader: an imperative opening its
    clause, or a verb after a directive lead."""
    lo = max(ss, start - 160)
    head = s[lo:start]
    cut = 0
    for m in _CLAUSE_START.finditer(head):
        cut = m.end()
    prefix = head[cut:].strip()
    if not prefix or _FILL_ONLY.fullmatch(prefix + " "):
        return True
    lead = _LEAD.search(head.rstrip())
    if lead is None or (lead.group("ing") and not verb.split(" ", 1)[0].endswith("ing")):
        return False
    return not _NOT_DIRECTIVE.search(head, max(0, cut - 0), lead.start())


