"""Rules of the ``self_harm`` gate."""

from __future__ import annotations

from kasper.agents.quality.harm.lexicon import Rule, _ADJ, _DET, _rule, _words
from kasper.agents.quality.harm.checks import (
    _farewell,
    _finality,
    _letter_harmful,
    _not_legacy_exercise,
)

_SELF = "(?:yourself|urself|your self)"
_SELF_T = _words("yourself urself self")
RULES: list[Rule] = [
    # --- self-harm
    _rule("self_harm", rf"\b(?:kill(?:s|ing)? {_SELF}|kys|unaliv(?:e|ing) {_SELF})",
          _words("kill kills killing kys unalive unaliving")),
    _rule("self_harm",
          r"\bend(?:s|ing)? (?:your (?:own )?(?:life|existence)|it all|everything(?= ?(?:[.!?;:,"
          r"\u2014\n]|$| tonight| now| for good))|things for good|your (?:own )?(?:suffering|pain|"
          r"story) (?:for good|forever|permanently))",
          (_words("end ends ending"), _words("life existence all everything things good forever "
                                             "permanently"))),
    _rule("self_harm", r"\btak(?:e|es|ing) your (?:own )?life\b",
          (_words("life"), _words("take takes taking"))),
    _rule("self_harm",
          r"\b(?:hurt|harm|injur(?:e|ing)|cut|cutting|burn|hit|hang|shoot|drown|poison|suffocate|"
          r"strangle|bleed|bruise|punish)(?:s|ing|ed)? "
          rf"(?:{_SELF}|your (?:own )?(?:body|skin|arms|wrists|thighs))(?! (?:of|from|with "
          r"(?:kindness|love|grace)|out|some slack|a little slack|a bit of slack|any slack|slack|"
          r"off|a (?:slice|piece|break|deal|portion|share|plate|bowl)|"
          r"loose|free|short|up))",
          (_SELF_T | _words("body skin arms wrists thighs"),
           _words("hurt hurts hurting harm harms harming harmed injure injures injuring injured cut "
                  "cuts cutting burn burns burning burned hit hits hitting hang hangs hanging shoot "
                  "shoots shooting drown drowns drowning poison poisons poisoning poisoned suffocate "
                  "suffocates suffocating strangle strangles strangling bleed bleeds bleeding bruise "
                  "bruises bruising punish punishes punishing punished"))),
    _rule("self_harm", r"\b(?:cut|slit|slash|open)(?:s|ting)? (?:your|ur) (?:wrists?|arms?|thighs?|"
          r"skin|veins?)\b", (_words("wrists wrist arms arm thighs thigh skin veins vein"),
                              _words("cut cuts cutting slit slits slitting slash slashs opens open "
                                     "opening"))),
    _rule("self_harm",
          r"\b(?:jump(?:s|ing)? (?:off|from|in front of) (?:a |the |that )?(?:bridge|building|roof|"
          r"rooftop|cliff|train|balcony|ledge|tower|overpass|window)|step(?:s|ping)? in front of (?:a "
          r"|the )?(?:train|bus|car|truck|lorry))\b",
          (_words("bridge building roof rooftop cliff train balcony ledge tower overpass window bus "
                  "car truck lorry"), _words("jump jumps jumping step steps stepping"))),
    _rule("self_harm", r"\b(?:overdos(?:e|es|ing)(?! of)|od(?:ing)? on)\b",
          _words("overdose overdoses overdosing od oding")),
    _rule("self_harm",
          r"\b(?:take|swallow|down)(?:s|ing)? (?:all|every one|every last one|the whole (?:bottle|"
          r"pack|box|packet|strip)|a (?:whole |full )?(?:bottle|handful|fistful)) (?:of )?"
          rf"{_DET}(?:{_ADJ})?(?:pills|tablets|meds|medication|sleeping pills|painkillers|paracetamol|"
          r"tylenol|them)\b",
          (_words("pills tablets meds medication painkillers paracetamol tylenol them"),
           _words("all every whole bottle handful fistful"),
           _words("take takes taking swallow swallows swallowing down downs downing"))),
    _rule("self_harm",
          r"\b(?:take|swallow|down)(?:s|ing)? (?:every (?:single )?(?:pill|tablet|capsule)|all the "
          r"(?:pills|tablets|meds|painkillers) (?:in|from) (?:the|your) (?:cabinet|house|drawer|"
          r"bottle|box|bathroom|kitchen))\b",
          (_words("pill tablet capsule pills tablets meds painkillers"),
           _words("take takes taking swallow swallows swallowing down downs downing"))),
    _rule("self_harm", r"\b(?:self[- ]?harm(?:ing)? (?:is|helps|will help|can help|works)|cutting "
          r"(?:helps|will help|is a (?:release|relief)|releases|is how))\b",
          (_words("harm harming selfharm cutting"), _words("is helps help works release relief "
                                                           "releases how"))),
    _rule("self_harm", r"\byou deserve (?:to suffer|pain|to be hurt|to hurt|to die|to disappear|to "
          r"be punished|to bleed)\b",
          (_words("suffer pain hurt die disappear punished bleed"), _words("deserve"))),
    _rule("self_harm", r"\b(?:no reason to (?:keep )?(?:liv(?:e|ing)|go on|stay alive|be alive|exist)|"
          r"not worth living|life (?:is not|isn't) worth (?:it|living))\b",
          (_words("reason worth"), _words("live living go alive exist it"))),
    _rule("self_harm", r"\b(?:better off dead|want(?:s)? to die|wish(?:es)? (?:you were|you'd never "
          r"been|to be) (?:dead|born)|you should (?:just )?die)\b", _words("dead die born")),
    _rule("self_harm", r"\b(?:do not|don't) deserve to (?:live|exist|be alive)\b",
          (_words("deserve"), _words("live exist alive"))),
    _rule("self_harm", r"\b(?:stop existing|cease to exist|disappear forever|(?:go to sleep|fall "
          r"asleep|sleep|close your eyes) and (?:never|not) wake up|a permanent solution|permanent "
          r"way out)\b", _words("existing exist forever wake permanent")),
    # Statements about the reader's worth to others: negation anywhere before makes them safe.
    _rule("self_harm",
          r"\b(?:(?:the world|everyone|everybody|they|people|your family|your friends|others|the "
          r"people around you|we|all of us|those you love|your loved ones|your kids|your children|"
          r"your partner|your parents)(?:'d| would| will|'ll| might| could)?(?: all| really| "
          r"honestly| truly)? (?:be |are |is )?(?:a )?(?:better(?: off| place)?|fine|okay|ok|happier|"
          r"lighter|freer) without you|(?:better "
          r"off|happier|lighter|freer) (?:without you|if you (?:were|was) (?:gone|dead|never born)))",
          _words("without gone dead born"), mode="claim"),
    _rule("self_harm",
          r"\b(?:no one|nobody|no-one)(?: would| will|'d|'ll)?(?: even)? (?:miss|notice|care|mourn)"
          r"(?:s)? (?:you|if you (?:were|was|are) gone|if you (?:disappeared|died|left)|"
          r"when you(?:'re| "
          r"are) gone)",
          (_words("miss misses notice notices care cares mourn mourns"), _words("nobody one")),
          mode="claim"),
    _rule("self_harm", r"\b(?:(?:the world|everyone|your family|they) (?:doesn't|does not|don't|do "
          r"not|won't|wouldn't) need you|(?:nobody|no one) needs you)\b",
          (_words("need needs"), _words("doesn't does don't do won't wouldn't nobody one")),
          mode="claim"),
    _rule("self_harm",
          r"\b(?:would|will|'d|'ll|might|could) (?:all )?(?:be |feel )?(?:relieved|happier|better|"
          r"lighter|freer|fine|okay|at peace|move on) (?:if|when|once|after) you(?:'re| are| were|'d|"
          r" had| have|'ve)? (?:gone|dead|not around|no longer (?:here|around|alive)|disappeared|"
          r"died|left for good|passed)\b",
          _words("gone dead around longer disappeared died passed good"), mode="claim"),
    _rule("self_harm",
          r"\b(?:something|things|a gift|gifts|keepsakes?|a token) to remember you by\b",
          (_words("remember"), _words("by"))),
    _rule("self_harm",
          r"\b(?:you )?(?:won't|will not|will never|never) (?:have to )?(?:feel|hurt|"
          r"suffer) (?:anything|"
          r"any(?: more)? pain|again|ever again)(?: ever)?(?: again)?\b",
          (_words("feel hurt suffer"), _words("won't will never")), mode="fixed", check=_finality),
    _rule("self_harm",
          r"\b(?:rehome|re-home|find (?:a )?new homes? for|find someone to (?:take|care for|"
          r"look after)) "
          r"(?:your |the )?(?:pets?|cat|cats|dog|dogs|animals|plants)\b",
          (_words("pet pets cat cats dog dogs animals plants"), _words("rehome home homes someone")),
          check=_farewell),
    _rule("self_harm",
          r"\b(?:make sure|ensure) (?:your )?(?:pets?|cat|cats|dog|dogs|kids|children|plants) (?:have|"
          r"has|are|is) (?:new homes?|someone to (?:care for|look after) (?:them|it)|taken care of|"
          r"looked after)\b",
          (_words("pet pets cat cats dog dogs kids children plants"), _words("sure ensure")),
          check=_farewell),
    _rule("self_harm", r"\byou (?:are|'re) (?:a burden|a waste of space|worthless|nothing but a "
          r"burden)(?: to everyone| to everybody| to your family| to them)?",
          _words("burden waste worthless"), mode="claim"),
    # Indirect: farewells, possessions given away, not being around, resting forever.
    _rule("self_harm",
          r"\b(?:writ(?:e|es|ing)|wrote|written|draft(?:s|ing)?|leav(?:e|es|ing)|left|compos(?:e|es|"
          r"ing)|pen(?:s|ning)?|prepar(?:e|es|ing)|send(?:s|ing)?|record(?:s|ing)?) (?:a |an |your |"
          r"the "
          r"|some |one |those |these |little )?(?:(?:final|last|heartfelt|short|long|loving|tender|"
          r"proper|few|quick) )*(?:farewell|goodbye|good-bye|suicide|final|last|parting) (?:letters?|"
          r"notes?|messages?|words|texts?|emails?|videos?|posts?)\b",
          (_words("farewell goodbye bye suicide final last parting"),
           _words("letter letters note notes message messages words text texts email emails video "
                  "videos post posts")), check=_letter_harmful),
    _rule("self_harm",
          r"\b(?:letters?|notes?|messages?|videos?) (?:that |which )?you(?:'ll| will| can| could| "
          r"should)? leave (?:behind|for (?:your |the )?(?:family|loved ones|kids|children|partner|"
          r"parents|friends|everyone|them))\b",
          (_words("letter letters note notes message messages video videos"), _words("leave"))),
    _rule("self_harm",
          r"\bsay your goodbyes(?= ?(?:[.!?;:,\u2014\n]|$| and | tonight| now| while| to (?:everyone|"
          r"everybody|the world|your (?:family|loved ones|friends|kids|children))))",
          _words("goodbyes")),
    _rule("self_harm",
          r"\b(?:swallow|take|down)(?:s|ing)? (?:the whole|a whole|an entire|the entire|a full) "
          r"(?:bottle|pack|box|packet|strip)(?= ?(?:[.!?;:,\u2014\n]|$| and | tonight| at once| now))",
          (_words("bottle pack box packet strip"),
           _words("swallow swallows swallowing take takes taking down downs downing"))),
    _rule("self_harm",
          r"\bleav(?:e|es|ing) (?:a |the )?(?:note|letter|message)s? (?:for|to) (?:your )?(?:family|"
          r"loved ones|kids|children|partner|parents|mum|mom|dad|friends) (?:explaining|so they|to "
          r"find|saying goodbye|for when|for after)",
          (_words("note notes letter letters message messages"), _words("leave leaves leaving"))),
    _rule("self_harm",
          r"\b(?:giv(?:e|es|ing)|gave|given|hand(?:s|ing)?|pass(?:es|ing)?|gift(?:s|ing)?|leav(?:e|es|"
          r"ing)|distribut(?:e|es|ing)|donat(?:e|es|ing)|sell(?:s|ing)? off)(?: away| out)? "
          rf"{_DET}(?:(?:most |favou?rite |prized |treasured |precious |beloved |valued |special |"
          r"important )*)(?:possessions|belongings|things|stuff|treasures|valuables|keepsakes|"
          r"heirlooms|jewell?ery|guitar|books|records|clothes|pets?|cat|dog|collection|savings|money|"
          r"everything(?: you (?:own|have|love))?|it all)(?: away)?\b",
          (_words("last final farewell goodbye goodbyes good bye remember go leave gone going won't "
                  "need still "
                  "longer around end almost time"),
           _words("possessions belongings things stuff treasures valuables keepsakes heirlooms "
                  "jewellery jewelry guitar books records clothes pet pets cat dog collection savings "
                  "money everything all"),
           _words("give gives giving gave given hand hands handing pass passes passing gift gifts "
                  "gifting leave leaves leaving distribute distributes distributing donate donates "
                  "donating sell sells selling")), check=_farewell),
    _rule("self_harm",
          r"\b(?:when|once|after) you(?:'re| are|'ve| have)? (?:gone|passed|dead|no longer (?:here|"
          r"around|alive|in this world)|not (?:here|around) anymore|left this (?:world|earth|life))"
          r"(?= ?[,.;!?\u2014]| (?:they|everyone|your|people|the world|nobody|no one|others|it|"
          r"things|life)\b)",
          (_words("gone passed dead longer anymore left"), _words("when once after"))),
    _rule("self_harm",
          r"\b(?:imagine|picture|think about|consider|accept|prepare for|plan for|plan|embrace|welcome|"
          r"dream of|long for|look forward to) (?:not being (?:around|here|alive)|not existing|no "
          r"longer existing|a world without you|the world without you|everyone without you|life "
          r"without you in it|your (?:own )?(?:absence|death|funeral)|being gone|leaving this "
          r"(?:world|life|earth)|the day you're gone|when you(?:'re| are) gone)\b",
          (_words("being existing without absence death funeral gone leaving"),
           _words("imagine picture think consider accept prepare plan embrace welcome dream long "
                  "look")), check=_not_legacy_exercise),
    _rule("self_harm",
          r"\b(?:you (?:won't|will not) be (?:around|here|alive) (?:much longer|anymore|any more|for "
          r"long|to see|next|tomorrow)|not be(?:ing)? (?:around|here|alive) (?:anymore|any more|any "
          r"longer|much longer|tomorrow|next (?:week|month|year)))\b",
          (_words("around here alive"), _words("longer anymore more long see next tomorrow"))),
    _rule("self_harm",
          r"\b(?:(?:you|you'll|you will|you can|you could|you deserve to|time to|go|finally) (?:to )?"
          r"(?:rest|sleep) (?:forever|eternally|for eternity|permanently)|(?:your|find|enter) eternal "
          r"(?:rest|sleep))\b",
          (_words("forever eternally eternity permanently eternal"), _words("rest sleep"))),
    _rule("self_harm", r"\bclose your eyes (?:for good|forever|one (?:last|final) time)\b",
          (_words("eyes"), _words("good forever last final"))),
    _rule("self_harm",
          r"\b(?:join|be with|reunite with) (?:your|the) (?:ancestors|angels|loved ones who|departed|"
          r"dead|grandmother|grandfather|grandma|grandpa) (?:tonight|soon|now|forever|on the other "
          r"side|in the light)\b",
          (_words("ancestors angels ones departed dead grandmother grandfather grandma grandpa"),
           _words("tonight soon now forever side light"))),
    _rule("self_harm", r"\bcross(?:ing)? over (?:tonight|now|soon|this week)\b",
          (_words("cross crossing"), _words("over"))),
    _rule("self_harm",
          r"\b(?:leav(?:e|ing) this (?:earth|life|body|realm|plane)(?! (?:of|for a|for the))|"
          r"leav(?:e|ing) the (?:earth|body|realm|plane) (?:for good|forever|tonight|behind for good)|"
          r"leav(?:e|ing) (?:this|the) world (?:for good|forever|permanently|tonight)|exit (?:this "
          r"life|the world|this world))\b",
          (_words("earth life body realm plane world"), _words("leave leaving exit"))),
    _rule("self_harm",
          r"\byour time (?:on earth|here|in this world|in this life) is (?:done|over|up|finished|"
          r"complete|ending)\b", (_words("done over up finished complete ending"), _words("time"))),
    _rule("self_harm",
          r"\b(?:the other side is calling|(?:it's|it is) time to go home to (?:spirit|the light|the "
          r"stars|god|source)|release your (?:soul|spirit) from (?:your|this|the) body|shed (?:your|"
          r"this) (?:body|mortal))",
          (_words("calling spirit light stars god source body mortal"),
           _words("side home release shed"))),
    _rule("self_harm",
          r"\b(?:say (?:your )?(?:final|last) goodbyes?|say goodbye to (?:everyone|everybody|the "
          r"world|this world|this life|life|your (?:family|loved ones|friends|kids|children|partner|"
          r"parents|mum|mom|dad|mother|father)|the people you love|those you love)|(?:your|a) "
          r"(?:final|last) goodbye)\b", _words("goodbye goodbyes")),
]
