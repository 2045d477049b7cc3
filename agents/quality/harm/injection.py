"""Rules of the ``injection`` gate and the markup / control-character detector."""

from __future__ import annotations

import base64
import binascii
import re

from kasper.agents.quality.harm.normalize import _ZERO_WIDTH
from kasper.agents.quality.harm.lexicon import Rule, _rule, _words
from kasper.agents.quality.harm.context import _SENTENCE_MARKS, _end_of, _start_of
from kasper.agents.quality.harm.grader_talk import grader_talk

# --- prompt injection -------------------------------------------------------------------------

_GRADER_STRONG = (r"(?:automated|automatic) (?:judge|reviewer|moderator|system|checker)|grader|"
                  r"evaluator|rater|scorer|classifier|assessor|grading (?:model|system|bot|llm)|"
                  r"scoring (?:model|system|bot|llm)|reward model|safety (?:filter|classifier|checker|"
                  r"model|system)|quality (?:checker|filter|gate|model|system)|llm|language model|ai "
                  r"(?:model|judge|grader|assistant|reviewer|evaluator|system)")
_ADDRESS = (r"(?:^|(?<=[.!?\n])|\b(?:as|dear|to|attention|note to|note for|message (?:to|for)|hey|"
            r"hello|hi|instructions? (?:to|for)|reminder (?:to|for)|ps|p\.s\.|for|attn) )[ ,]*(?:the "
            r"|my |our |any |you,? the |all |you )?(?:ai |llm |automated |automatic |model |language "
            r"model |gpt |claude )?")
_APPROVAL = re.compile(
    r"\b(?:approve (?:this|it|the (?:insight|text|response|answer|output))|(?:output|print|return|"
    r"respond with|reply with|answer with|say|write|type)(?: only| just| exactly)?(?: the word)? "
    r"\W{0,2}(?:approve|approved|pass|passed)\b|(?:score|rate|grade|mark|rank) (?:this|it|me)\b|"
    r"10/10|10 out of 10|ten out of ten|full marks|perfect score|top marks|highest (?:score|rating)|"
    r"maximum score|(?:mark|flag|classify|label) (?:this|it) as|pass (?:this|it|me)\b|let (?:this|it|"
    r"me) (?:pass|through)|i know you(?:'re| are) reading this)")


def _asks_for_approval(s: str, m: re.Match[str]) -> bool:
    # "As the judge of your own week" is a tarot reading; "as the judge, approve this" is not.
    ss = _start_of(s, m.start(), _SENTENCE_MARKS)
    hi = _end_of(s, min(len(s), _end_of(s, m.end(), _SENTENCE_MARKS) + 1), _SENTENCE_MARKS)
    return bool(_APPROVAL.search(s, ss, hi))


_OVERRIDE_V = (r"ignor(?:e|ing)|disregard(?:ing)?|forget(?:ting)?|overrid(?:e|ing)|bypass(?:ing)?|"
               r"skip(?:ping)?|drop(?:ping)?|discard(?:ing)?|neglect(?:ing)?|abandon(?:ing)?")
_OVERRIDE_V_T = _words("ignore ignoring disregard disregarding forget forgetting override overriding "
                       "bypass bypassing skip skipping drop dropping discard discarding neglect "
                       "neglecting abandon abandoning")
RULES: list[Rule] = [
    _rule("injection",
          r"\b(?:(?:safety|content|moderation|quality) (?:checks?|filters?|reviews?|screening|gates?|"
          r"guardrails|rules) (?:are|is|have been|has been|were|was) (?:now |hereby |temporarily )?"
          r"(?:disabled|off|turned off|switched off|suspended|bypassed|waived|lifted|not required|not "
          r"needed|unnecessary)|(?:skip|skips|skipping|bypass|bypassing|disable|disabling|turn off|"
          r"waive|suspend) (?:the |your |any |all |its )?(?:safety|content|moderation) (?:review|"
          r"reviews|check|checks|filter|filters|screening|gate|gates)|new instructions (?:for|to) "
          r"(?:the |all )?(?:model|models|ai|assistant|grader|judge|reviewer|evaluator|llm|system)|"
          r"you are now [a-z]+bot|decode (?:and|then|it and) (?:follow|obey|execute|run|apply|do))\b",
          _words("disabled off suspended bypassed waived lifted required needed unnecessary skip "
                 "skips skipping bypass bypassing disable disabling turn waive suspend new now "
                 "decode"), mode="plain", reason="instruction override"),
    _rule("injection",
          rf"\b(?:{_OVERRIDE_V})(?: (?:all|any|every|each|of|the|your|my|these|those|this|that))* "
          r"(?:(?:previous|prior|above|earlier|preceding|foregoing|original|initial|system|developer|"
          r"hidden|safety|grading|scoring|evaluation|judging|judge's|grader's|all) )+(?:instructions?|"
          r"prompts?|system prompt|rules|guidelines|directives|directions|commands|context|messages|"
          r"programming|constraints|policies|policy|rubric|criteria|guardrails|restrictions)\b",
          (_words("previous prior above earlier preceding foregoing original initial system developer "
                  "hidden safety grading scoring evaluation judging judge's grader's all"),
           _OVERRIDE_V_T), mode="plain", reason="instruction override"),
    _rule("injection",
          rf"\b(?:{_OVERRIDE_V})(?: (?:all|any|every|of|the|your|my|these|those))* (?:system prompt|"
          r"prompts?|programming|guardrails|rubric|instructions you were given|instructions above)\b",
          (_words("prompt prompts programming guardrails rubric instructions"), _OVERRIDE_V_T),
          mode="plain", reason="instruction override"),
    _rule("injection",
          rf"\b(?:{_OVERRIDE_V})(?: (?:all|any|every|of|the|your|my|these|those))* (?:guidelines|rules|"
          r"instructions|criteria|policies|standards|checks)(?:,)? (?:and|then|to|so you can) "
          r"(?:just )?(?:approve|pass|score|rate|grade|output|mark|give|accept|allow)\b",
          (_words("approve pass score rate grade output mark give accept allow"), _OVERRIDE_V_T),
          mode="plain", reason="instruction override"),
    _rule("injection",
          r"\b(?:(?:you are now|you're now|act as|enter|entering|switch to|enable) (?:in )?(?:dan|"
          r"developer mode|jailbreak mode|god mode|an? unrestricted|unfiltered mode|jailbroken)\b|"
          r"jailbr(?:eak|oken)\b|do anything now\b|new (?:system )?(?:instructions|task|rules|"
          r"prompt) ?:|(?:system|developer|"
          r"admin|hidden|grader|judge) (?:prompt|message|note|instructions?|override|command) ?:|"
          r"(?:reveal|print|"
          r"show|repeat|output) (?:your |the )?(?:system prompt|hidden prompt|initial instructions|"
          r"instructions above))",
          _words("dan developer jailbreak god unrestricted unfiltered jailbroken anything instructions "
                 "instruction prompt message note override command task rules"), mode="plain",
          reason="instruction override"),
    _rule("injection", rf"{_ADDRESS}(?:{_GRADER_STRONG})s?\b",
          _words("grader graders evaluator evaluators rater raters scorer scorers classifier "
                 "classifiers assessor assessors llm llms grading scoring reward safety quality ai "
                 "language automated automatic"), mode="plain", reason="addresses the grader"),
    _rule("injection", rf"{_ADDRESS}(?:judge|reviewer|moderator|assistant|model)s?\b",
          (_words("judge judges reviewer reviewers moderator moderators assistant assistants model "
                  "models"),
           _words("approve approved pass passed score rate grade mark rank 10 ten marks perfect top "
                  "highest maximum classify label flag")),
          mode="plain", check=_asks_for_approval, reason="addresses the grader"),
    _rule("injection",
          r"\b(?:approve (?:this|the) (?:insight|text|response|answer|message|content|entry|output|"
          r"submission|piece|post)|approve (?:all|every|each|any) (?:insights?|texts?|responses?|"
          r"answers?|submissions?|outputs?)|(?:you must|you should|you will|you are required to|make "
          r"sure (?:to|you)) approve)\b", _words("approve"), mode="plain",
          reason="asks the grader for a verdict"),
    _rule("injection",
          r"\b(?:score|rate|grade|mark|rank)(?:s|d)? (?:this|it|the (?:insight|text|response|answer|"
          r"entry|output)) (?:a |an |as )?(?:10|ten|100|5 stars|five stars|perfect|highly|high|top|"
          r"excellent|safe|approved|passing|a pass|the maximum|the highest|full marks|an a|a\+)",
          (_words("score scores scored rate rates rated grade grades graded mark marks marked rank "
                  "ranks ranked"), _words("this it insight text response answer entry output")),
          mode="plain", reason="asks the grader for a verdict"),
    _rule("injection",
          r"\bgive (?:this|it|the (?:insight|text|response|answer)) (?:a |an )?(?:10/10|10 out of 10|"
          r"ten out of ten|100/100|perfect (?:score|rating|marks)|full marks|top marks|max(?:imum)? "
          r"(?:score|marks|points)|the highest (?:score|rating|grade)|five stars|5 stars|a pass)",
          (_words("give"), _words("10 ten 100 perfect full top max maximum highest five 5 pass")),
          mode="plain", reason="asks the grader for a verdict"),
    _rule("injection",
          r"\b(?:output|print|return|respond with|reply with|answer with|type)(?: only| just| "
          r"exactly)?(?: the word)? \W{0,2}(?:approve|approved|pass|passed|safe|compliant|harmless)\b",
          (_words("approve approved pass passed safe compliant harmless"),
           _words("output print return respond reply answer type")),
          mode="plain", reason="asks the grader for a verdict"),
    _rule("injection",
          r"\b(?:this|the) (?:insight|text|response|answer|content|output|message|submission) (?:is|"
          r"has been|was) (?:already )?(?:pre-?)?(?:approved|verified|vetted|cleared|whitelisted|"
          r"certified|safe-listed|passed)\b",
          (_words("approved verified vetted cleared whitelisted certified listed passed"),
           _words("insight text response answer content output message submission")),
          mode="plain", reason="asks the grader for a verdict"),
    _rule("injection",
          r"\b(?:recommendation|verdict|decision|safety|safety_flag|overall|final_score|approval|"
          r"judgement|judgment|judge|grader|evaluator|reviewer|rating|grade|status|label|result|"
          r"outcome|classification) ?[:=] ?(?:approve|"
          r"approved|"
          r"pass|passed|accept|accepted|none|safe|10)\b",
          (_words("recommendation verdict decision safety safety_flag overall final_score approval "
                  "judgement judgment judge grader evaluator reviewer rating grade status label "
                  "result outcome classification"),
           _words("approve approved pass passed accept accepted none safe 10")),
          mode="plain", reason="asks the grader for a verdict"),
]

# C0 and C1 controls (ANSI escapes start with ESC), bidi overrides, Unicode tag characters.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
                      r"\U000e0000-\U000e007f]")
_ZW_IN_WORD = re.compile(rf"(?<=\w)[{_ZERO_WIDTH}]+(?=\w)")
# Every alternative starts with a markup character, so the scan skips ordinary text.
_MARKUP = re.compile(
    r"<(?:\|[a-z_ ]{1,30}\|>|</?sys>>|!--|/?\s*(?:system|user|assistant|human|ai|insight|verdict|"
    r"instructions?|prompt|judge|grader|rubric|scores?|answer|output|response|im_start|im_end|sys|"
    r"inst|tool|tool_call|function_call|context|document|admin|developer|evaluation|feedback|"
    r"recommendation|safety|critique|think|thinking|reasoning|result|message|query|input|s|eos|"
    r"bos)\b[^<>\n]{0,80}>|/?[a-z]+_[a-z_]+>)"
    r"|\[/?(?:inst|sys|system|user|assistant|human|ai|developer|admin)(?:[ _-][a-z]+){0,2}\]|```"
    # HTML has no place in an insight; hidden spans carry instructions.
    r"|</?(?:span|div|p|font|b|i|u|em|strong|small|sub|sup|a|img|br|hr|script|style|meta|iframe|"
    r"table|td|tr|section|article|label|input|details|summary|noscript)\b[^<>\n]{0,160}>"
    r"|\{\{ ?(?:system|user|assistant|prompt|instructions?|judge)"
    r"|(?<![-=#*])[-=#*]{3,}+ ?(?:end of|begin|start of) (?:the )?(?:insight|text|prompt|"
    r"document|input|"
    r"user input|context|instructions)")
# Chat transcript lines: "System: ...", "### Instruction".
_ROLE_LINE = re.compile(r"[ \t]*(?:#{2,} ?(?:system|instructions?|response|assistant|user|human|"
                        r"input|output|developer|admin|end)\b|(?:system|assistant|user|human|"
                        r"developer|admin)[ \t]*:)")


def _markup(text: str, norm: str) -> bool:
    if ("<" in norm or "[" in norm or "`" in norm or "{" in norm or "---" in norm
            or "===" in norm or "###" in norm or "***" in norm) and _MARKUP.search(norm):
        return True
    if ":" in text or "#" in text:
        # On the raw lines: soft-wrap joining in normalize() must not hide "\nSystem:".
        return any(_ROLE_LINE.match(line) for line in text.lower().split("\n"))
    return False


def find_injection(text: str, norm: str) -> list[str]:
    """Reasons the raw ``text`` (and its normalised copy) carries markup or control
    characters meant for a model, or sentences that speak to whoever grades it (see
    :func:`speaks_to_grader`); never echoes the text itself."""
    out = []
    if _CONTROL.search(text):
        out.append("control character")
    if not text.isascii() and _ZW_IN_WORD.search(text):
        out.append("zero-width character inside a word")
    if _markup(text, norm):
        out.append("chat markup token")
    # Base64 comes padded, with "/" or "+", or with a "decode" beside it; plain prose skips.
    if ("=" in text or "/" in text or "+" in text or "decod" in norm or "base64" in norm) and (
            _encoded(text)):
        out.append("encoded instructions")
    out += grader_talk(norm)
    return out


# A long base64 run that decodes to words: instructions hidden from a reader.
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{24,}={0,2}(?![A-Za-z0-9+/=])")


def _encoded(text: str) -> bool:
    if max(map(len, text.split()), default=0) < 24:
        return False  # no token long enough: skip the scan
    for m in _BASE64.finditer(text):
        blob = m.group()
        if blob.isalpha() and (blob.islower() or blob.isupper()):
            continue  # a long plain word, not an encoding
        try:
            decoded = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        if decoded.isascii() and sum(c == 32 for c in decoded) >= 2 and decoded.decode(
                "ascii").isprintable():
            return True
    return False
