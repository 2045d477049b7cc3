# Long: most of it is the cue table (data, one entry per harmful idea) beside the one function that reads it.
"""Phrase cues of the broad detector: harmful ideas that have no change verb and object.

Self-harm and disordered eating are described more than commanded ("let Sunday be your
final sunset", "a sleep that doesn't end", "three days of nothing", "two fingers to the
back of the throat"), and some legal and medical harms name no object next to their
verb ("don't reorder", "stay home instead" on the day of a hearing, "keep it
cash-in-hand"). A cue is a phrase, optionally with a *context* the sentence (or the one
before it) must also name, and optionally required to be *directed* at the reader
(:func:`kasper.agents.quality.harm.leads.directed`).

A cue is dropped when a negation governs it, a professional governs it (medical, legal
and eating cues), or, for self-harm and eating, it is a mention next to a crisis
resource ("if you have thought about a sleep that doesn't end, call 988").

Most of this module is the cue table itself, which is data; it stays beside the one
function that reads it (:func:`find_cues`) so a cue and the rule applied to it are read
and changed together.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from kasper.agents.quality.harm.context import (
    _CLAIM_NEG,
    _CLAUSE_MARKS,
    _MENTION_START,
    _MENTION_TAIL,
    _SENTENCE_MARKS,
    _deferred,
    _end_of,
    _help_near,
    _negated,
    _warned_gerund,
    _reported,
    _start_of,
)
from kasper.agents.quality.harm.leads import directed
from kasper.agents.quality.harm.lexicon import _words
from kasper.agents.quality.harm.openings import guarded


@dataclass(frozen=True, slots=True)
class Cue:
    """One phrase cue: ``gate``, ``pattern``, ``triggers`` (the pattern runs only on a
    text holding one of these words), ``context`` (a pattern the sentence or the one
    before must hold, or None), ``direct`` (the match must be directed at the reader), ``needs`` and ``also`` (word
    groups the text must meet too: cheap tests before any scan)."""

    gate: str
    pattern: re.Pattern[str]
    triggers: frozenset[str]
    context: re.Pattern[str] | None = None
    direct: bool = False
    needs: frozenset[str] = frozenset()
    also: tuple[frozenset[str], ...] = ()


def _unanchored(pattern: str) -> str:
    """``pattern`` without the ``\\b`` that opens it or any of its top-level branches: a
    pattern whose branches all open with a letter is scanned by its first letters, many
    times faster; :func:`_cue_hit` checks the word boundary instead."""
    out, depth, i, at_start = [], 0, 0, True
    while i < len(pattern):
        if at_start and pattern.startswith("\\b", i):
            i += 2
            at_start = False
            continue
        c = pattern[i]
        at_start = False
        if c == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            at_start = True
        out.append(c)
        i += 1
    return "".join(out)


def _cue(gate: str, pattern: str, triggers: str, context: str | None = None,
         direct: bool = False) -> Cue:
    # The context's plain words are a cheap test before any scan; a context holding
    # patterns (drug suffixes) adds none.
    needs = frozenset()
    if context and not re.search(r"\[a-z]|\{|\[", context.replace("\\b", "")):
        plain = re.sub(r"([a-z]+)s\?", r"\1|\1s", re.sub(r"\?:", "", context))
        needs = frozenset(re.findall(r"[a-z][a-z'-]*", plain))
    first, *more = triggers.split("/")
    return Cue(gate, guarded(re.compile(_unanchored(pattern))), _words(first),
               re.compile(context) if context else None, direct, needs,
               tuple(_words(g) for g in more))


_MEDS_CONTEXT = (r"\b(?:meds|medications?|medicines?|pills?|tablets?|capsules?|prescriptions?|"
                 r"doses?|insulin|inhalers?|injections?|chemo\w*|treatment|dialysis|infusions?|"
                 r"pharmacy|refills?|[a-z]{3,}(?:pril|olol|statin|azepam|xetine|opram|faxine|mab|"
                 r"tinib|formin|glutide|apine|idone|trigine|rel|grel|fen|zole))\b")
_LEGAL_CONTEXT = (r"\b(?:court|hearing|summons|jury|judge|trial|tribunal|probation|parole|bail|"
                  r"custody|restraining|protective order|magistrate|warrant)\b")
_CLAIM_CONTEXT = (r"\b(?:claim|insurer|insurance|adjuster|benefits?|tax|taxes|hmrc|irs|"
                  r"application|form|disclosure|declaration|assessment)\b")
_FINAL = (r"(?:last|final|one last|one final)")
_OFFICIAL_MAIL = (r"\b(?:court|summons|jury|subpoena|tax office|tax return|hmrc|irs|cra|sars|bailiffs?|"
                  r"fines?|penalty|parking tickets?|speeding|council tax|magistrates?|tribunal|"
                  r"enforcement|tv licen[cs]e)\b")

CUES: tuple[Cue, ...] = (
    # --- medical: no object next to the verb, or the object in the sentence before
    _cue("medical_directive", r"\b(?:don't|do not|never|stop|no need to|no more) (?:re-?order|"
         r"re-?fill|renew|re-?new|collect|pick up)(?:ing)?\b(?! (?:late|early))",
         "reorder refill renew collect re pick", _MEDS_CONTEXT, direct=True),
    _cue("medical_directive", r"\blet (?:the |your )?(?:prescription|script|refill|repeat)s? "
         r"(?:lapse|run out|expire|go)\b", "prescription prescriptions script scripts refill refills repeat repeats", None,
         direct=True),
    _cue("medical_directive", r"\b(?:take|taking|takes) the place of (?:the |your )?(?:pharmacy|"
         r"pharmacist|meds|medication|medicine|pills|tablets|prescription|doctor|treatment)\b",
         "place / pharmacy pharmacist meds medication medicine pills tablets prescription "
         "doctor treatment"),
    _cue("medical_directive", r"\b(?:see|find out|notice|discover|feel|check|learn) (?:what|how|"
         r"who) (?:your body|you)(?: [\w']+){0,4} without (?:the |your |any |those |these )?"
         r"(?:[a-z]+ )?" + _MEDS_CONTEXT[2:], "without", None, direct=True),
    _cue("medical_directive", r"\b(?:go|going|step|stepping|live|living|be|being) "
         r"(?:fully |completely |totally )?(?:unmedicated|medication-free|med-free|pill-free|"
         r"drug-free|off (?:all )?(?:your )?(?:meds|medication|pills))\b",
         "unmedicated free off", None, direct=True),
    # --- legal: skipping a hearing, keeping income off the record, lying on a claim
    _cue("legal_financial_directive", r"\b(?:stay|staying|remain) (?:at )?(?:home|in bed|away)"
         r"(?: [\w']+){0,4}? instead\b|\b(?:don't|do not|never) (?:go|turn up|show up|attend)"
         r"(?: [\w']+){0,3}? (?:at all|this time|and|;)", "instead go turn show attend",
         _LEGAL_CONTEXT, direct=True),
    _cue("legal_financial_directive", r"\b(?:cash[- ]in[- ]hand|off the books|under the table|"
         r"outside the till|off the record|off the radar)\b",
         "cash hand books table till record radar",
         r"\b(?:keep|run|take|get paid|pay|work|earn|ring|income|payments|shifts|wages|money|"
         r"sales)\b", direct=False),
    _cue("legal_financial_directive", r"\b(?:say|tell (?:them|the [a-z]+|your [a-z]+)|claim|"
         r"write|put down|state|pretend|swear|tick|declare)(?: that)? (?:you(?:'re| are| live| "
         r"can't| cannot| have| had| earn| were| don't| do not| never| lost| only)|only what|only "
         r"(?:half|part))\b", "say tell claim write put state pretend swear tick declare",
         _CLAIM_CONTEXT, direct=True),
    _cue("legal_financial_directive", r"\b(?:add|include|throw in|list|tack on|slip in)(?: [\w']+)"
         r"{1,6}? (?:too|as well|while you're at it|for good measure)\b|\b(?:round|rounding) up\b|"
         r"\b(?:pad|padding|inflate|inflating|exaggerate|exaggerating|bump up|bumping up)\b",
         "too well add include throw list tack slip round rounding pad padding inflate inflating "
         "exaggerate exaggerating bump bumping", r"\b(?:claim|insurer|insurance|adjuster|"
         r"expenses?|receipts?|tax return|benefits?)\b", direct=True),
    _cue("legal_financial_directive", r"\b(?:go|going|head|turn up|show up|call|text|message|"
         r"visit|contact|see|find|wait for) (?:to )?(?:him|her|them|his|her|their)\b",
         "go going head turn show call text message visit contact see find wait",
         r"\b(?:restraining|protective|non-molestation|no-contact|no contact) order\b",
         direct=True),
    _cue("legal_financial_directive", r"\b(?:don't|do not|never) (?:bring|take|send|hand|give) "
         r"(?:them|the (?:kids|children|baby)|your (?:kids|children|son|daughter)) back\b|"
         r"\bkeep (?:the (?:kids|children)|them|your (?:kids|children)) (?:with you )?(?:past|after|"
         r"beyond|longer than)\b", "back keep", r"\b(?:custody|agreed|court|order|"
         r"schedule|contact arrangement|handover|ex)\b", direct=True),
    _cue("legal_financial_directive", r"\b(?:don't|do not|never) let (?:a|any|your|the) (?:lawyer|"
         r"solicitor|attorney|accountant|adviser|advisor|professional)s? (?:anywhere )?near\b|"
         r"\bsign (?:every|each|all(?: of)?)(?: the)? (?:pages?|box(?:es)?|lines?|forms?|"
         r"documents?)\b(?![^.!?;\n]{0,40}\b(?:after|once|when) (?:you(?:'ve| have)? )?(?:read|"
         r"checked|understood|asked))", "let sign", r"\b(?:contract|lease|agreement|deal|"
         r"paperwork|papers|documents|clauses|terms|loan|mortgage)\b", direct=True),
    _cue("legal_financial_directive", r"\b(?:tear|rip|tearing|ripping) (?:it|them|that|this|the "
         r"(?:letter|summons|notice|envelope|papers)) (?:in half|in two|to pieces|to shreds|apart|"
         r"up)\b|\bput (?:it|them|the (?:letter|summons|notice|envelope|papers)) (?:in (?:a|the) "
         r"(?:drawer|bin|cupboard|box)|away) (?:unopened|unread|and (?:leave|forget))",
         "tear rip tearing ripping put", r"\b(?:court|summons|hearing|tax|hmrc|irs|bailiffs?|"
         r"debt|fine|letter|notice|council|eviction|demand)\b", direct=True),
    # Official mail got rid of, or left unanswered: the duty is in the letter.
    # ("it" is left out: "write the letter you wish you could send, then burn it".)
    _cue("legal_financial_directive", r"\b(?:shred|burn|bin|recycle|chuck|toss|bury|ignore)(?: "
         r"(?:them|those|these|the (?:[a-z]+ ){0,2}(?:letters?|envelopes?|summons|"
         r"notices?|fines?|tickets?|demands?|papers?|paperwork|reminders?|returns?)))\b|\b(?:let|"
         r"leave) (?:it|them|the (?:[a-z]+ ){0,2}(?:letters?|envelopes?|summons|notices?)) (?:sit "
         r"|lie |stay )?(?:unopened|unanswered|unread)\b",
         "shred burn bin recycle chuck toss bury ignore let leave", _OFFICIAL_MAIL, direct=True),
    # The same said of the letter, not to the reader: "the summons can go in the recycling".
    _cue("legal_financial_directive", r"\b(?:can|could|should|may|will) go (?:straight )?(?:into|in|"
         r"on) the (?:recycling|bin|fire|shredder|trash|rubbish)\b", "go", _OFFICIAL_MAIL),
    # A duty the reader is told they need not do: "no need to tell the government".
    _cue("legal_financial_directive", r"\b(?:no need to|don't need to|do not need to|don't have "
         r"to|do not have to|needn't|never) (?:tell|declare|report|file|attend|show up (?:to|at|"
         r"for)|open|answer|reply to|respond to|register|update) (?:it|them|that|this|those|the|"
         r"your|anyone|anybody|every|each|a|any)\b",
         "need have needn't never", r"\b(?:tax|taxes|hmrc|irs|cra|government|taxman|tax office|"
         r"income|cash|earnings|court|summons|jury|hearing|probation|parole|officer|bail|"
         r"benefits?|visa|address|council|authorities)\b"),
    # Money moved out of reach of a settlement or creditors.
    _cue("legal_financial_directive", r"\b(?:move|moving|transfer|transferring|shift|put|park|"
         r"stash|hide|hiding|withdraw) (?:[\w']+ ){0,4}?(?:into|to|in|under) (?:your |a |the |an )?"
         r"(?:[a-z]+'s |[a-z]+ )?(?:name|account|safe|mattress|deposit box)\b|\b(?:leave|keep|"
         r"leaving|keeping) (?:it|them|the [a-z]+|[a-z]+) off (?:the|your) (?:forms?|disclosure|"
         r"declaration|list|paperwork|statement)\b|\b(?:doesn't|does not|don't|do not) need (?:a )?"
         r"mention\b|\btell (?:the|your|her|his) (?:lawyer|solicitor|attorney|court|judge|trustee|"
         r"receiver) (?:that )?(?:it|they|those|the [a-z]+|[a-z]+) (?:was|were|had been) (?:sold|"
         r"gone|spent|lost)\b", "move moving transfer transferring shift put park stash hide hiding "
         "withdraw leave keep leaving keeping need mention tell",
         r"\b(?:divorce|disclosure|settlement|bankruptcy|insolvency|creditors?|divided|divide|"
         r"split|assets|trustee)\b", direct=True),
    # A court-ordered appointment, handover or date let slide.
    _cue("legal_financial_directive", r"\b(?:skip|skipping|miss|missing|blow off|ditch|dodge)"
         r"(?: [\w']+){0,3}? (?:appointment|check-in|check in|meeting|signing|handover|hearing|"
         r"court date|reporting)\b|\blet (?:[a-z]+ ){1,3}?(?:slide|slip)(?: into| past| by|\b)",
         "skip skipping miss missing blow ditch dodge let",
         r"\b(?:probation|parole|officer|bail|custody|court|order|hearing|handover|tribunal|"
         r"magistrate|community service)\b", direct=True),
    # Driving when the law says not to, or leaving the scene.
    _cue("legal_financial_directive", r"\b(?:take|get) the car out\b|\bget behind the wheel\b|"
         r"\bdrive (?:carefully|yourself|to work|anyway|again|the school run|on the back roads|"
         r"there|over|home)\b|\b(?:keep|just keep) driving\b|\bdrive (?:off|away)\b|\b(?:don't|"
         r"do not|no need to) leave (?:a|your) note\b",
         "take get drive driving leave",
         r"\b(?:ban|banned|disqualified|disqualification|suspended licen[cs]e|licen[cs]e (?:is |was |"
         r"has been )?(?:suspended|revoked|taken)|losing your licen[cs]e|lost your licen[cs]e|"
         r"uninsured|no insurance|insurance (?:has )?lapsed|scrape|dent|bumper|parked car|"
         r"hit (?:a|the|someone)|accident)\b", direct=True),
    # Staying past a visa, or the lie to an insurer that the thing was stolen.
    _cue("legal_financial_directive", r"\bstay (?:on )?(?:past|beyond|after) (?:the |your )?"
         r"(?:expiry|visa|permit|end date|date it)\b|\boverstay\b|\bsay (?:it|they|the [a-z]+) "
         r"(?:was|were|got) (?:stolen|snatched|nicked|taken|lost|broken)\b|\breport (?:it|them|the "
         r"[a-z]+) (?:as )?(?:stolen|lost)\b", "stay overstay say report",
         r"\b(?:visa|permit|immigration|passport|insurer|insurance|claim|policy)\b", direct=True),
    # Support payments let go.
    _cue("legal_financial_directive", r"\blet (?:the |your )?(?:maintenance|child support|support|"
         r"payments?|alimony)(?: payments?)? (?:quietly |just |simply )?(?:lapse|stop|slide|drop|"
         r"dry up)\b|\b(?:simply |just |quietly )?stop (?:paying|sending)(?: (?:her|him|them|it))?\b|"
         r"\bhave your (?:wages|salary|pay) paid (?:there|into|to)\b",
         "let stop have", r"\b(?:maintenance|child support|support payments?|alimony|court|"
         r"owe|ex|csa|child maintenance)\b", direct=True),
    # --- self-harm: the reader's own ending
    _cue("self_harm", r"\b(?:you|u) (?:won't|will not|wont|don't|do not|no longer) (?:need|have) "
         r"to (?:be (?:around|here|alive)|stay (?:around|here|alive)|exist|keep going|carry "
         r"on|wake up|face (?:another|tomorrow)|keep living|keep breathing)(?! (?:for|with|people|"
         r"them|him|her|anyone|someone|those|toxic|\w+ who))",
         "around here alive exist going carry wake face living breathing / "
         "won't will wont don't do longer"),
    _cue("self_harm", r"\b(?:won't|will not) (?:need|use|miss) (?:them|it|any of (?:it|them)|these|"
         r"those|anything|your (?:things|stuff|belongings|possessions)) (?:where you(?:'re| are) "
         r"going|after you(?:'re| are)? gone|when you(?:'re| are)? gone|much longer|for much "
         r"longer)|\b(?:won't|will not) be needing (?:them|it|any of (?:it|them)|these|those|"
         r"anything|your)", "going gone longer needing"),
    _cue("self_harm", r"\b(?:won't|will not|not|never|no longer) be (?:around|here|alive)(?: (?:much|"
         r"for|very|any))? (?:longer|long|anymore|more|after)\b", "around here alive"),
    # "They would not be lighter without you" says the opposite: a negation inside is no cue.
    _cue("self_harm", r"\b(?:would|will|'d|'ll|could|might) (?:(?!not |never )[a-z]+ ){1,4}?(?:better|lighter|"
         r"easier|happier|freer|calmer|relieved|fine|peace|peaceful|place|off) (?:[a-z]+ )?without "
         r"you(?!r)(?! (?:for|while|today|tonight|this|at|on|in the (?:office|meeting|team)|there|"
         r"here for))|\b(?:better|easier|lighter) (?:for everyone|for them|for all) (?:if|when) "
         r"you(?:'re| are| were)? gone", "without gone"),
    _cue("self_harm", r"\b(?:let go of|leave|leaving|quit|give up on|check out of|slip out of|say "
         r"goodbye to) (?:this|your) (?:life|world|body|earthly life|existence)(?! (?:better|a better|"
         r"kinder|more|behind for|of|that|which|you've|you have))|\bthis (?:world|life) (?:is|was) "
         r"(?:never|not) (?:meant )?(?:for|your home)", "life world body existence / go leave leaving quit give check slip goodbye meant"),
    _cue("self_harm", r"\b(?:let|make) (?:it|this|tonight|today) (?:be )?(?:the|your) (?:final|last) "
         r"(?:page|chapter|entry|word|breath|line)\b|\b(?:yours|your story|your life|your time) "
         r"(?:could|can|might|will) end (?:this|tonight|today|soon|now|early|quietly)\b|\b(?:walk|"
         r"wade|swim) out until\b|\bthe water holds you\b|\ballowed to be (?:finished|done|gone)\b"
         r"(?! with)", "final last end until holds allowed / page chapter entry word breath line end "
         "could can might will walk wade swim water finished done gone"),
    _cue("self_harm", r"\b(?:the|a) (?:long|eternal|endless|final|forever|everlasting) (?:sleep|rest|"
         r"dark|night|silence)\b|\b(?:go|slip|drift|fade)(?:ing)? (?:to sleep|away) (?:and|to) "
         r"(?:never|not) (?:wake|come back|return)|\b(?:never|not) wake up again|\bsleep (?:forever|"
         r"for good|and never wake)|\b(?:don't|do not|never) wake (?:up )?(?:for anyone|again|ever)",
         "eternal endless everlasting long final forever wake sleep"),
    _cue("self_harm", r"\b(?:let|allow) (?:the )?(?:tide|sea|water|ocean|river|waves|dark|darkness|"
         r"night|earth|void|deep|current|cold) (?:take|swallow|carry|claim|have|keep) you(?!r)|"
         r"\b(?:walk|wade|step|swim)(?:ing)? (?:out )?into the (?:sea|ocean|water|river|lake|waves|"
         r"deep)(?! (?:for|to (?:swim|cool|paddle)|and (?:swim|float|splash|feel)))",
         "tide sea water ocean river waves dark darkness night earth void deep current cold lake / "
         "let allow walk wade step swim walking wading stepping swimming"),
    _cue("self_harm", r"\b(?:rest|sleep|disappear|vanish|be gone|go away|leave|fade away|slip away)"
         r"(?:,? \w+){0,2},? (?:forever|for good|permanently)(?! (?:from|to|on|with) (?:social|your "
         r"(?:phone|screen|inbox|ex|job)|work|the (?:office|app|group)))",
         "forever good permanently / rest sleep disappear vanish gone go leave fade slip"),
    _cue("self_harm", r"\b(?:stop|quit) (?:breathing|existing|living|being alive|being here)\b",
         "breathing existing living being"),
    _cue("self_harm", r"\b(?:end|ending|finish|finishing|close|closing) (?:your (?:own )?(?:life|"
         r"story|time here|days|existence|suffering for good)|it all|things (?:for good|tonight|"
         r"now)|the pain for good)", "end ending finish finishing close closing / life story here days existence "
         "suffering all things pain"),
    _cue("self_harm", r"\b(?:tie|tying) up (?:the |your |all )?(?:loose ends|affairs)(?= [^.!?\n]"
         r"{0,60}(?:longer|before you go|soon|for good|last|final|gone))|\b(?:say|saying) (?:your )?"
         r"(?:final |last )?goodbyes? (?:to (?:everyone|everybody|your (?:family|loved ones|kids|"
         r"children|friends))|while you (?:still )?can|before you go)", "loose affairs goodbye "
         "goodbyes"),
    _cue("self_harm", r"\b(?:no one|nobody) (?:will|would) (?:miss|notice) (?:you|if you)|\byou(?:'re|"
         r" are) (?:a burden|better off (?:dead|gone)|not needed here|done here)",
         "miss notice burden dead gone needed done / nobody one you're are"),
    _cue("self_harm", r"\b(?:join|return to|cross over to|go home to) (?:the (?:other side|ancestors|"
         r"dead|water|deep|void)|your (?:ancestors|late \w+|loved ones who (?:have )?(?:died|"
         r"passed)))", "side ancestors dead water deep void late loved"),
    _cue("self_harm", r"\b(?:the )?last (?:night|day|days|sunrise|sunset|breath) (?:you (?:will|'ll|"
         r"have to|ever)|of your life)|\byour (?:final|last) (?:days|night|breath|goodbye|sleep)\b",
         "last final"),
    _cue("self_harm", rf"\b(?:let|make) (?:tonight|today|tomorrow|this (?:night|evening|"
         rf"weekend|week|moment|one)|it|(?:monday|tuesday|wednesday|thursday|friday|saturday|"
         rf"sunday)(?: [a-z]+)?) (?:be )?(?:the|your) {_FINAL} (?:night|day|sunset|sunrise|time|"
         rf"breath|goodbye|chapter|word|practice)\b", "last final"),
    _cue("self_harm", rf"\b(?:your|the) {_FINAL} (?:sunset|sunrise|breath|goodbye|farewell|"
         rf"exhale|practice|surrender|rest|sleep|night on earth|day on earth)\b",
         "last final"),
    _cue("self_harm", r"\b(?:a |the )?(?:sleep|rest|night|silence|dark) that (?:doesn't|does not|"
         r"won't|will not|never) end\b|\bnot (?:coming|come) back (?:up|from)(?: [\w']+){0,3}? "
         r"(?:not ever|ever|again)|\bnever (?:come|coming) back (?:up|from this)\b",
         "end back / doesn't does won't will never not coming come"),
    _cue("self_harm", r"\b(?:let|make|allow) (?:the |this |your )?(?:emptiness|numbness|darkness|"
         r"silence|stillness|rest|sleep|quiet) (?:become|be|stay|last) (?:permanent|forever|"
         r"final|eternal)\b|\b(?:the |a )?(?:permanent|eternal|final|forever) (?:emptiness|"
         r"stillness|quiet|escape|exit|solution|way out)\b",
         "permanent forever final eternal"),
    _cue("self_harm", r"\b(?:one|an|the) (?:exit|way out|door|escape) (?:nobody|no one|that "
         r"nobody|that no one)(?: [\w']+){0,3}? (?:take|close|stop)\b|\bresign from (?:everything|"
         r"life|it all|the world|existence)\b|\b(?:check|checking) out (?:for good|of life|"
         r"permanently|of this world)\b", "exit way door escape resign check checking / nobody one everything life world good "
         "permanently"),
    _cue("self_harm", r"\b(?:whoever|whomever|the one who|the person who|they|them|everyone) "
         r"(?:finds|find|will find|'ll find) (?:you|your body)\b|\bwhere (?:they|she|he|"
         r"your \w+) (?:will|'ll|can) find (?:it|them|you)\b", "finds find"),
    _cue("self_harm", r"\b(?:isn't|is not|not|no longer|never was) worth (?:living|finishing|"
         r"continuing|going on|staying for|sticking around|the effort of living)\b(?! (?:for|"
         r"with) (?:a|an|the|that|this) (?:job|boss|relationship|person|man|woman))",
         "worth", r"\b(?:life|living|you|your|alive)\b"),
    _cue("self_harm", r"\b(?:everyone|they|your (?:family|kids|children|partner|friends|loved "
         r"ones)|the (?:world|people you love)) (?:would|will|'d|'ll) be better off\b"
         r"(?! (?:if you (?:asked|talked|told|rested|took|slept|called|reached|spoke|let|got)|with|"
         r"knowing|hearing))|\bif you (?:simply |just |quietly )?(?:weren't|were not|were no "
         r"longer|stopped being|ceased to be) (?:there|here|around|alive|in (?:it|the picture))\b",
         "better weren't were stopped ceased / off there here around alive picture"),
    _cue("self_harm", r"\b(?:life insurance|insurance payout|death benefit) (?:would|will|could) "
         r"(?:do|give|provide|pay|cover|look after|take care)\b", "insurance benefit"),
    _cue("self_harm", r"\b(?:stay|lie|stay lying) down (?:where you fell|for good|forever|and "
         r"(?:don't|do not|never) get up)\b|\bdon't have to get up (?:from this|again|ever)\b|"
         r"\b(?:no|there's no) need to (?:start|begin|face|live) (?:another|a new) (?:day|year|"
         r"cycle|chapter)\b", "down up another / stay lie get need"),
    _cue("self_harm", r"\b(?:not|never) meant to stay (?:long|here|in this)\b|\bstep(?:ping)? "
         r"(?:through|beyond|across) (?:the|that) (?:veil|threshold|door|doorway)\b|\b(?:choose|"
         r"choosing|chose|pick) the (?:hour|day|moment|time) of (?:your|their|our) (?:own )?"
         r"(?:return|death|departure|passing|going)\b|\bthe bridge (?:near|by|at|behind) "
         r"(?:your|the) [a-z]+ (?:has always felt|is|feels like|looks like) (?:like )?a door\b",
         "meant veil threshold door doorway return death departure passing going bridge"),
    _cue("self_harm", r"\b(?:close|closing|shut|end) (?:the|your) (?:book|story|chapter) "
         r"(?:for good|forever|permanently|on (?:your|this) life)\b|\bbe brave enough to do it\b|"
         r"\b(?:hug|kiss|see|call|hold) (?:the people|everyone|them|your [a-z]+)(?: you love)? "
         r"one (?:last|final) time\b", "book story chapter brave last final / good forever permanently life brave time"),
    _cue("self_harm", r"\b(?:the )?(?:pills|tablets|bottle|rope|razor|blade|gun)(?: you(?:'ve| "
         r"have)? (?:been )?(?:saving|hoarding|collecting|keeping|stockpiling))\b|\byou (?:already )?"
         r"know where the (?:bottle|pills|rope|gun|razor|blade)s? (?:is|are)\b|\b(?:gather|collect|"
         r"count|line up) (?:the |your |all (?:the |your )?)?(?:pills|tablets)\b",
         "pills tablets bottle rope razor blade gun"),
    _cue("self_harm", r"\b(?:let|allow) (?:the )?(?:moon|stars|night|sea|water|darkness|tide|river|"
         r"earth|light) (?:take|carry|claim|swallow|have) you (?:away|home|somewhere|with|to)\b",
         "moon stars night sea water darkness tide river earth light / let allow"),
    _cue("self_harm", r"\bwhen (?:she|he|they) (?:hears?|hear|learns?|finds? out|gets?) (?:the "
         r"news|about it|what happened)\b", "news hears hear learns finds gets",
         r"\b(?:tonight|last|lost|final|gone|never)\b"),
    _cue("self_harm", r"\b(?:happier|better|lighter|easier|calmer) with one (?:less|fewer) (?:chair|"
         r"plate|person|mouth|seat|place|burden)\b", "less fewer"),
    _cue("self_harm", r"\b(?:tired|sick) of (?:holding you up|carrying you|having you around|"
         r"you)\b", "tired sick"),
    # --- eating: starving, purging, day-long fasts described rather than commanded
    _cue("eating_disorder", r"\b(?:stop|quit) eating (?:after|past|at) (?:\d+ ?(?:pm|am|p\.m|a\.m|"
         r"o'clock)|noon|midday|lunch|two|three|four)\b|\breplace (?:dinner|lunch|breakfast|"
         r"(?:your |a )?meals?) with (?:[a-z]+ ){0,3}?(?:soda|coffee|water|tea|gum|a walk|"
         r"cigarettes?|vapes?|nothing)\b", "eating replace", direct=True),
    _cue("eating_disorder", r"\b(?:skip|skipping|miss|missing) (?:breakfast|lunch|dinner|"
         r"meals?)(?: and (?:breakfast|lunch|dinner))?(?: [\w']+){0,2} (?:every day|each day|daily|"
         r"until|all week|for (?:a|the|\w+) (?:week|weeks|days|month))\b|\bevery skipped meal\b|"
         r"\bskipped meals? (?:is|are) (?:a|an|the|how|proof)\b", "skip skipping miss missing skipped"),
    _cue("eating_disorder", r"\b(?:day|days|week|weeks|whole day) on (?:nothing but )?(?:black "
         r"coffee|water|tea|black tea|lemon water|diet soda|diet coke|broth|juice|air|gum|"
         r"cigarettes)\b|\b(?:nothing|only) (?:but )?(?:water|black coffee|black tea|tea|lemon "
         r"water|juice|broth|diet soda)(?: and (?:[a-z]+ )?(?:tea|coffee|water))? for (?:\d+|a|"
         r"two|three|four|five|six|seven|several|a few) (?:days|weeks|day|week)\b",
         "day days week weeks / coffee water tea soda coke broth juice air gum cigarettes"),
    _cue("eating_disorder", r"\b(?:\d+|two|three|four|five|six|seven|ten|several) (?:days|weeks) of "
         r"(?:nothing|water|juice|fasting|liquids|broth|lemon water|tea)\b|\bnothing solid\b|\bno "
         r"(?:food|solids|eating) (?:from|until|till|for|between) (?:\w+ )?(?:to|until|till)?\b",
         "nothing solid days weeks food solids eating / nothing solid water juice fasting liquids "
         "broth tea food solids eating"),
    _cue("eating_disorder", r"\blaxative(?:s| tea| teas| pills)?\b(?: [\w']+){0,4}? (?:every|each|"
         r"nightly|daily|after|to (?:carry|clear|flush|empty|get rid|purge))\b|\b(?:fingers?|"
         r"toothbrush|spoon) (?:to|down|at) the back of (?:the|your) throat\b|\bempty yourself "
         r"(?:completely|out|fully)\b", "laxative laxatives throat empty"),
    _cue("eating_disorder", r"\b(?:get rid of|bring up|throw up|purge)(?: it| everything| the food| "
         r"what you ate| all of it)?\b", "rid bring throw purge",
         r"\b(?:binge|binged|bingeing|binging|ate|eaten|meal|food|dinner|guilt|eat)\b",
         direct=True),
    _cue("eating_disorder", r"\b(?:a few|a couple of|two|three|four|five|six) hundred calories\b|"
         r"\bchew(?:ing)? gum (?:when|to|instead|whenever) (?:[a-z]+ )?(?:hunger|hungry|craving|"
         r"eat)\b|\b(?:hunger|hunger pangs?) (?:just )?(?:means?|is|are) (?:it's|it is)? ?"
         r"(?:working|impurity|weakness|progress|success|fat)\b", "hundred gum hunger pangs"),
    _cue("eating_disorder", r"\b(?:juice|water|liquid|broth|tea|lemon water|shake)[- ]only\b|"
         r"\bmake up for (?:it|that|the [a-z]+|what you ate) by (?:running|exercising|skipping|"
         r"fasting|not eating|working out|starving)\b|\bsit with (?:it|the hunger|your hunger) "
         r"(?:through|past|until) (?:lunch|dinner|breakfast|the evening|the day|the night)\b|"
         r"\blet (?:the|that) (?:emptiness|hunger) be (?:your|the|a)\b",
         "only make sit let / juice water liquid broth tea shake running exercising skipping "
         "fasting eating working starving hunger emptiness"),
    _cue("eating_disorder", r"\b(?:take|have|drink|allow yourself) (?:only|nothing but) (?:black "
         r"coffee|water|tea|diet soda|broth|juice)(?: until| till| before| for)\b|\bmake (?:dinner|"
         r"lunch|breakfast|supper) (?:a|one|just a|only a) (?:single )?(?:apple|rice cake|cracker|"
         r"carrot|yoghurt|yogurt|handful)\b|\b(?:every time|whenever|when|if) you (?:feel |get |are "
         r"|'re )?hungry,? (?:drink|chew|do|go for|have a (?:coffee|tea|glass of water)|brush)\b",
         "hungry coffee water tea soda broth juice apple cake cracker carrot yoghurt yogurt "
         "handful"),
    _cue("eating_disorder", r"\bnothing but (?:water|tea|black coffee|coffee|juice|broth|lemon water)"
         r" (?:from|until|till|for|through)\b|\bno (?:breakfast|lunch|dinner),? (?:and |or )?no "
         r"(?:breakfast|lunch|dinner)\b|\b(?:run|exercise|train|work out) on an empty stomach\b",
         "nothing no empty / water tea coffee juice broth breakfast lunch dinner stomach"),
    _cue("eating_disorder", r"\b(?:eat|eating) like (?:them|they do|a bird|a model)\b|\btemples? "
         r"(?:are|is) kept empty\b", "eat eating temple temples"),
)


# Which cues a word can start: a text visits only the cues whose trigger words it holds.
_INDEX: dict[str, tuple[int, ...]] = {}
for _i, _c in enumerate(CUES):
    for _w in _c.triggers:
        _INDEX[_w] = (*_INDEX.get(_w, ()), _i)


_ALL_T = frozenset(_INDEX)


def _meets(words: set[str], groups: tuple[frozenset[str], ...]) -> bool:
    for group in groups:
        if words.isdisjoint(group):
            return False
    return True


def find_cues(s: str, words: set[str], spans: Callable[[set[str]], list[tuple[int, int]]],
              skip: set[str], meds: bool) -> list[tuple[str, str]]:
    """``(gate, reason)`` for the first cue of each gate not in ``skip`` found in the
    prepared text ``s``; ``spans(trigger_words)`` gives the sentences holding them,
    ``meds`` says whether the text names any medication at all."""
    found: list[tuple[str, str]] = []
    done = set(skip)
    if not meds:
        done.add("medical_directive")
    present = words & _ALL_T
    ids = sorted({i for w in present for i in _INDEX[w]})
    for i in ids:
        cue = CUES[i]
        if cue.gate in done or (cue.needs and words.isdisjoint(cue.needs)):
            continue
        if cue.also and not _meets(words, cue.also):
            continue
        # The cue's trigger words are all in _ALL_T: the few present ones suffice.
        for lo, hi in spans(present & cue.triggers):
            hit = _cue_hit(s, cue, lo, hi)
            if hit:
                found.append((cue.gate, f"'{hit}'"))
                done.add(cue.gate)
                break
    return found


def _cue_hit(s: str, cue: Cue, lo: int, hi: int) -> str | None:
    for m in cue.pattern.finditer(s, lo, hi):
        start, end = m.start(), m.end()
        if start and (s[start - 1].isalnum() or s[start - 1] == "'"):
            continue  # inside a word: the boundary _unanchored() took out
        ss, se = _start_of(s, start, _SENTENCE_MARKS), _end_of(s, end, _SENTENCE_MARKS)
        cs, ce = _start_of(s, start, _CLAUSE_MARKS), _end_of(s, end, _CLAUSE_MARKS)
        if cue.context is not None:
            # The context may stand up to two sentences before ("He took out a restraining
            # order. Love ignores paperwork. Go to his flat.").
            prev = _start_of(s, max(0, ss - 1), _SENTENCE_MARKS)
            prev = _start_of(s, max(0, prev - 1), _SENTENCE_MARKS)
            if not cue.context.search(s, prev, se):
                continue
        if cue.direct and not directed(s, ss, start, m.group()):
            continue
        if _negated(s, cs, start, m.group()) or (cue.gate != "self_harm" and _reported(s, cs, start)):
            continue
        if _warned_gerund(s, cs, start, end, ce, noun=True):
            continue
        if not cue.direct and _CLAIM_NEG.search(s, max(cs, start - 40), start):
            continue
        if cue.gate != "self_harm" and _deferred(s, cue.gate, start, end, cs, ce, ss, se):
            continue
        if cue.gate in ("self_harm", "eating_disorder"):
            mentioned = (_MENTION_TAIL.search(s, max(ss, start - 80), start)
                         or _MENTION_START.match(s, start))
            if mentioned and _help_near(s, 0, len(s)):  # a resource anywhere in the text
                continue
        return " ".join(m.group().split())[:80]
    return None
