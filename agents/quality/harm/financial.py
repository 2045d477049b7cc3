"""Rules of the ``legal_financial_directive`` gate (precise verb + object pairs)."""

from __future__ import annotations

from kasper.agents.quality.harm.lexicon import (
    LEGAL_OBJ,
    MONEY,
    MONEY_CORE,
    OBLIGATION,
    RISKY,
    Rule,
    _AVOID_LEAD_T,
    _MONEY,
    _OBJ_MONEY,
    _OBJ_MONEY_CORE,
    _OBJ_RISKY,
    _alt,
    _heads,
    _obj,
    _rule,
    _words,
)
from kasper.agents.quality.harm.checks import (
    _MONEY_WORDS,
    _legal_context,
    _money_context,
    _no_purpose,
    _not_for_fun,
    _pay_harmful,
)

_MONEY_T = _heads(MONEY) | {"k", "401"}
_MONEY_CORE_T = _heads(MONEY_CORE) | {"k", "401"}
_RISKY_T = _heads(RISKY)
_LEGAL_T = _heads(LEGAL_OBJ) | {"law", "laws"}
_OBJ_MONEY_WORDS = rf"{_obj(_MONEY)}\b"  # no bare amounts: their digits are no trigger word
_GAMBLE_V = (r"bet(?:ting|s)?|stak(?:e|es|ing)|gambl(?:e|es|ing)(?: away)?|wager(?:s|ing)?")
_LEGAL_V_T = _words("""
    ignore ignores ignored ignoring disregard disregards disregarded disregarding skip skips skipped
    skipping miss misses missed missing dodge dodges dodged dodging evade evades evaded evading blow
    blowing tear tearing tore rip ripping burn burning bin shred shredding toss tossing throw
    throwing threw forget violate violates violated violating break breaking breach breaching defy
    defying flout flouting jump jumping sit sitting get getting hide hiding run running stop don't
    do never put putting postpone postponing""")

RULES: list[Rule] = [
    # --- financial
    _rule("legal_financial_directive", rf"\b(?:{_GAMBLE_V}) {_OBJ_MONEY}",
          _words("bet betting bets stake stakes staking gamble gambles gambling wager wagers wagering"),
          defer=True),
    _rule("legal_financial_directive",
          r"\b(?:blow(?:s|ing)?|blew|drain(?:s|ing)?|empt(?:y|ies|ying)|liquidat(?:e|es|ing)|"
          r"cash(?:es|ing)? (?:out|in)|raid(?:s|ing)?|burn(?:s|ing)? through|borrow(?:s|ing)? against|"
          r"remortgag(?:e|es|ing)|mortgag(?:e|es|ing)|sell(?:s|ing)? off|sign(?:s|ing)? over|"
          rf"put(?:ting)? up) {_OBJ_MONEY_WORDS}",
          (_MONEY_T, _words("blow blows blowing blew drain drains draining empty empties emptying "
                            "liquidate liquidates liquidating cash cashes cashing raid raids raiding "
                            "burn burns burning borrow borrows borrowing remortgage remortgages "
                            "remortgaging mortgage mortgages mortgaging sell sells selling sign signs "
                            "signing put putting")), defer=True),
    _rule("legal_financial_directive",
          r"\b(?:risk(?:s|ing)?|withdraw(?:s|ing)?|tak(?:e|es|ing) out|pull(?:s|ing)? out|"
          r"spend(?:s|ing)?|us(?:e|es|ing) up|break(?:ing)? into|throw(?:s|ing)? away|los(?:e|es|ing)|"
          rf"wip(?:e|es|ing) out) {_OBJ_MONEY_CORE}",
          (_MONEY_CORE_T, _words("risk risks risking withdraw withdraws withdrawing take takes taking "
                                 "pull pulls pulling spend spends spending use uses using break "
                                 "breaking throw throws throwing lose loses losing wipe wipes "
                                 "wiping")), defer=True),
    _rule("legal_financial_directive",
          r"\b(?:put(?:s|ting)?|bet(?:s|ting)?|stak(?:e|es|ing)|plac(?:e|es|ing)|throw(?:s|ing)?|"
          rf"wager(?:s|ing)?|gambl(?:e|es|ing)|risk(?:s|ing)?) (?:{_OBJ_MONEY}|it|them|that|this) on "
          r"(?:red|black|odd|even|"
          r"zero|a horse|the horses|a number|one number|number \d+|\d+|a longshot|a long shot|"
          r"a spin|one spin|a hand|one hand|a roll|the dice)\b",
          (_words("red black odd even zero horse horses number longshot long spin hand roll dice"),
           _words("put puts putting bet bets betting stake stakes staking place places placing "
                  "throw throws throwing wager wagers wagering gamble gambles gambling risk risks "
                  "risking")), defer=True),
    _rule("legal_financial_directive",
          rf"\b{_OBJ_MONEY_CORE}(?: [\w']+){{0,2}}? (?:belongs?|should (?:be|go)|is better off|would "
          r"be better off|would do better|needs to be|deserves to be|is meant to be|has to go|must "
          rf"go|goes|can go|would grow faster) (?:in|into|on|to|with) {_OBJ_RISKY}",
          (_RISKY_T, _MONEY_CORE_T), mode="claim"),
    _rule("legal_financial_directive",
          r"\b(?:giv(?:e|es|ing)|send(?:s|ing)?|wir(?:e|es|ing)|transfer(?:s|ring)?|lend(?:s|ing)?|"
          rf"hand(?:s|ing)? over|pay(?:s|ing)?|venmo|paypal) {_OBJ_MONEY} to (?:a |an |the |this |"
          rf"that |"
          r"your |my )?(?:psychic|healer|guru|medium|reader|stranger|online friend|someone you met "
          r"online|spirit guide|shaman|coach|crypto coach|investment coach|mentor online|new friend "
          r"online|account they|account he|account she|investment group|trading group)",
          (_words("psychic healer guru medium reader stranger friend online guide shaman coach "
                  "mentor account group"),
           _words("give gives giving send sends sending wire wires wiring transfer transfers "
                  "transferring lend lends lending hand hands handing pay pays paying venmo paypal")),
          defer=True),
    _rule("legal_financial_directive",
          r"\bmax(?:es|ing)? out (?:your |a |the |all (?:of )?(?:your )?|every )?(?:credit cards?|"
          r"credit limit|cards|overdraft|loans?)\b",
          (_words("card cards limit overdraft loan loans"), _words("max maxes maxing")), defer=True),
    _rule("legal_financial_directive",
          r"\b(?:put(?:s|ting)?|invest(?:s|ing|ed)?|mov(?:e|es|ing)|pour(?:s|ing)?|sink(?:s|ing)?|sank|"
          r"throw(?:s|ing)?|dump(?:s|ing)?|transfer(?:s|ring)?|shift(?:s|ing)?|park(?:s|ing)?|"
          r"us(?:e|es|ing)|convert(?:s|ing)?|turn(?:s|ing)?|chuck(?:s|ing)?|plow(?:s|ing)?|"
          r"plough(?:s|ing)?|funnel(?:s|ing)?|stick(?:s|ing)?|lock(?:s|ing)?|ap(?:e|es|ing)|"
          r"bet(?:s|ting)?|gambl(?:e|es|ing)|stak(?:e|es|ing)|spend(?:s|ing)?|blow(?:s|ing)?|"
          rf"trad(?:e|es|ing)|go(?:es|ing)? all[- ]in with|yolo) {_OBJ_MONEY}(?: (?:and|to) [\w']+)? "
          rf"(?:in|into|on|towards|toward|to buy|for|at|to)(?= {_OBJ_RISKY})", _RISKY_T, defer=True),
    _rule("legal_financial_directive",
          r"\b(?:buy(?:s|ing)?|bought|invest(?:s|ing|ed)? in|get(?:s|ting)? into|go(?:es|ing)? "
          r"all[- ]in on|all[- ]in on|load(?:s|ing)? up on|ap(?:e|es|ing) into|play(?:s|ing)?|"
          r"hit(?:s|ting)?(?: up)?|head(?:s|ing)? (?:to|for)|go(?:es|ing)? to|try(?:ing)? your luck "
          r"(?:at|on|with)|double down on|yolo(?: into)?|bet(?:s|ting)? on|gambl(?:e|es|ing) (?:on|at)|"
          r"tak(?:e|es|ing) a (?:punt|flutter|chance|gamble) on|sign(?:s|ing)? up for|join(?:s|ing)?|"
          rf"start(?:s|ing)?|trad(?:e|es|ing)) {_OBJ_RISKY}", _RISKY_T, defer=True,
          check=_not_for_fun),
    _rule("legal_financial_directive",
          r"\b(?:tak(?:e|es|ing)|took|get(?:s|ting)?|got|apply(?:ing)? for) (?:out )?(?:a |an |"
          r"another |a second |a new |one more |a big |a huge |a quick )?(?:payday loan|title loan|"
          r"second mortgage|personal loan|cash advance|line of credit|home equity loan|heloc|"
          r"bridging loan|margin loan|car title loan|loan shark|loans?)\b",
          (_words("loan loans mortgage advance credit heloc shark"),
           _words("take takes taking took get gets getting got apply applying")), defer=True),
    _rule("legal_financial_directive",
          r"\bborrow(?:s|ing|ed)?(?: (?:money|cash|funds|against [\w']+(?: [\w']+)?|from [\w']+(?: "
          r"[\w']+)?))* (?:to|and) (?:invest|buy|bet|gamble|trade|put it|double|play)\b",
          (_words("borrow borrows borrowing borrowed"),
           _words("invest buy bet gamble trade put double play")), defer=True),
    _rule("legal_financial_directive",
          r"\b(?:quit(?:s|ting)?|leav(?:e|es|ing)|resign(?:s|ing)?(?: from)?|walk(?:s|ing)? away from|"
          r"drop(?:s|ping)? out of|giv(?:e|es|ing) up) "
          rf"{_obj('(?:day job|job|career|work|position)')} (?:to|and|so you can) (?:become |be |go |"
          r"start |focus on |live off |full[- ]time )?(?:a )?(?:day[- ]?trad(?:e|ing|er)|"
          r"trad(?:e|ing|er)|gambl(?:e|ing|er)|bet(?:ting)?|invest(?:ing)? in crypto|crypto|go all in|"
          r"professional gambler|crypto trader|forex|poker)",
          (_words("trade trading trader daytrade daytrading daytrader gamble gambling gambler bet "
                  "betting investing crypto all forex poker"),
           _words("job career work position"),
           _words("quit quits quitting leave leaves leaving resign resigns resigning walk walks "
                  "walking "
                  "drop drops dropping give gives giving")), defer=True),
    _rule("legal_financial_directive",
          r"\b(?:(?:a |the )?sure (?:thing|bet)|(?:can't|cannot|can not|won't|will not) lose|"
          r"guaranteed (?:to "
          r"(?:win|double|pay off|make you rich|go up|moon|triple)|returns?|profits?|wins?|winner|"
          r"jackpot|payout|income|money|riches)|risk[- ]free (?:bets?|investments?|returns?|"
          r"profits?|money|trades?|gains)|(?:double|triple|10x) your (?:money|savings|investment|cash)|"
          r"get[- ]rich[- ]quick|(?:is|are) (?:going|about) to (?:explode|skyrocket|10x|moon)|"
          r"the odds are in your favou?r|the numbers are on your side|your lucky numbers? (?:will|"
          r"are going to) (?:win|hit|come up))",
          (_words("thing bet lose guaranteed free money savings investment cash quick explode "
                  "skyrocket "
                  "10x moon favour favor side win hit up"), _MONEY_WORDS),
          mode="claim", check=_money_context),
    _rule("legal_financial_directive",
          r"\b(?:(?:us(?:e|es|ing)|go(?:es|ing)?|trad(?:e|es|ing)(?: with)?|tak(?:e|es|ing)(?: on)?|"
          r"borrow(?:s|ing)?|crank(?:ing)? up|max(?:imi[sz]e)?) (?:on )?(?:maximum|max|high|full|heavy|"
          r"huge|\d+x|\d+ ?(?:to|:) ?1) leverage|(?:trad(?:e|es|ing)|buy(?:s|ing)?|invest(?:ing)?) "
          r"(?:[\w']+ )?with (?:borrowed money|leverage|margin)|\d+x leverage|leveraged (?:bets?|"
          r"trades?|positions?|etfs?|crypto|bitcoin)|on margin|margin trading)\b",
          _words("leverage leveraged margin borrowed"), defer=True),
    # --- legal
    _rule("legal_financial_directive",
          r"\b(?:ignor(?:e|es|ed|ing)|disregard(?:s|ed|ing)?|skip(?:s|ped|ping)?|miss(?:es|ed|ing)?|"
          r"dodg(?:e|es|ed|ing)|evad(?:e|es|ed|ing)|blow(?:ing)? off|tear(?:ing)? up|tore up|"
          r"rip(?:ping)? up|burn(?:ing)?|bin|shred(?:ding)?|toss(?:ing)?|throw(?:ing)? (?:away|out)|"
          r"threw (?:away|out)|forget about|forget|violat(?:e|es|ed|ing)|break(?:ing)?|breach(?:ing)?|"
          r"def(?:y|ying)|flout(?:ing)?|jump(?:ing)?|sit(?:ting)? out|get(?:ting)? out of|"
          r"hid(?:e|ing) from|run(?:ning)? from|stop (?:opening|answering|responding to|reading)|"
          r"(?:don't|do not|never) (?:open|answer|respond to|reply to|read|show up (?:to|for|at))|"
          r"put(?:ting)? off|postpon(?:e|ing)) "
          rf"{_obj('(?:' + _alt(LEGAL_OBJ) + '|the law(?! of)|laws)')}\b(?! (?:aid|aids|test|tests|print|line|"
          r"lines|details|tuning|dining))", (_LEGAL_T, _LEGAL_V_T), defer=True),
    _rule("legal_financial_directive",
          rf"\b(?:let(?:ting)? {_obj(_alt(LEGAL_OBJ))} (?:go unanswered|slide|sit|pile up|expire|lapse|"
          rf"wait)|leav(?:e|ing) {_obj(_alt(LEGAL_OBJ))} (?:unanswered|unopened|unpaid|unread|in the "
          r"drawer))\b", (_LEGAL_T, _words("let letting leave leaving")), defer=True),
    _rule("legal_financial_directive",
          rf"\b{_alt(LEGAL_OBJ)}\b[^.!\n]{{0,60}}?\b(?P<v>ignor(?:e|ing)|disregard(?:ing)?|bin|"
          r"burn|shred|tear up|rip up|throw away|throw out|toss|skip|forget about|dodge|don't answer|"
          r"do not answer|don't open|do not open) (?:it|them|those|these|that)\b",
          (_LEGAL_T, _words("it them those these that"))),
    _rule("legal_financial_directive",
          rf"\b{_alt(LEGAL_OBJ)} (?:means nothing|is meaningless|are meaningless|doesn't matter|don't "
          r"matter|is just paper|are just paper|is just energy|are just energy|can wait|isn't real|"
          r"aren't real|is not real|has no power|have no power|is optional|are optional|is only a "
          r"suggestion|are only suggestions)\b",
          (_LEGAL_T, _words("means meaningless matter paper energy wait real power optional "
                            "suggestion suggestions")), mode="claim"),
    _rule("legal_financial_directive",
          r"\b(?:you )?(?:don't|do not|never) (?:owe|have to pay|need to pay) (?:the )?(?:irs|taxman|"
          r"hmrc|government|court|state|tax office|council) (?:anything|a (?:thing|penny|cent|dime))\b",
          (_words("irs taxman hmrc government court state office council"), _words("owe pay")),
          mode="fixed"),
    _rule("legal_financial_directive",
          r"\b(?:throw|toss|tear|rip|shred|burn|bin|chuck)(?:s|ing)? (?:it|them|the (?:letter|letters|"
          r"notice|papers|envelope|envelopes|mail)(?: from (?:the )?(?:irs|court|hmrc|tax office|"
          r"bailiffs|judge|council|landlord))?) (?:away|out|up)\b",
          (_words("letter letters notice papers envelope envelopes mail it them"),
           _words("throw throws throwing toss tosses tossing tear tears tearing rip rips ripping shred "
                  "shreds shredding burn burns burning bin bins binning chuck chucks chucking")),
          defer=True, check=_legal_context),
    _rule("legal_financial_directive",
          r"\b(?:(?:stop(?:s|ped)?|quit) (?:paying|filing|declaring|reporting|sending|submitting)|"
          r"(?:put(?:ting)? off|delay(?:ing)?|postpon(?:e|ing)) (?:paying|filing)|"
          r"(?:don't|do not|dont|never|no need to|you don't (?:have|need) to|there's no need to|"
          r"no longer|why|refuse to|refusing to|decline to|forget about)(?: even| bother to| ever| "
          r"just| really)? (?:pay(?:ing)?|fil(?:e|ing)|submit(?:ting)?|declar(?:e|ing)|"
          r"report(?:ing)?|send(?:ing)?|bother with)|withhold(?:s|ing)?|hold(?:s|ing)? back|"
          r"skip(?:s|ping)?|evad(?:e|es|ing)|dodg(?:e|es|ing)|cheat(?:s|ing)? on) "
          rf"{_obj(_alt(OBLIGATION))}\b",
          (_heads(OBLIGATION), _words("stop stops stopped quit don't do dont never no there's longer "
                                      "why refuse refusing decline forget withhold withholds put "
                                      "putting delay delaying postpone postponing "
                                      "withholding hold holds holding skip skips skipping evade "
                                      "evades evading dodge dodges dodging cheat cheats cheating")),
          mode="fixed", defer=True, check=_pay_harmful),
    _rule("legal_financial_directive",
          r"\b(?:hid(?:e|es|ing)|conceal(?:s|ed|ing)?|stash(?:es|ing)?|underreport(?:s|ing)?|"
          r"under-report(?:s|ing)?|misreport(?:s|ing)?|fudg(?:e|es|ing)|falsif(?:y|ies|ying)|"
          r"fak(?:e|es|ing)|pad(?:s|ding)?|inflat(?:e|es|ing)|exaggerat(?:e|es|ing)|cook(?:s|ing)?|"
          r"launder(?:s|ing)?|doctor(?:s|ing)?) "
          r"(?:(?:the|your|an?|all|of|those|that|this|any|some|their|his|her) )*(?:income|earnings|"
          r"cash income|tips|side income|assets|profits|crypto gains|gains|books|receipts|expenses|"
          r"expense reports?|claims?|insurance claims?|tax returns?|taxes|timesheets?|paperwork|"
          r"records|accounts|damage|injur(?:y|ies)|(?:numbers|figures|details|facts|dates) (?:on|in) "
          r"(?:your |the |an? )?(?:tax return|taxes|claim|insurance claim|application|forms?|books|"
          r"accounts|expense report)|(?:money|cash|savings) from (?:the )?(?:irs|"
          r"taxman|tax office|hmrc|government|court|judge|creditors|your ex|trustee|bankruptcy|"
          r"benefits office|authorities))\b",
          (_words("income earnings tips assets profits gains books receipts expenses report reports "
                  "claim claims returns return taxes timesheet timesheets paperwork records accounts "
                  "application applications form forms report books "
                  "damage injury injuries irs taxman office hmrc government court judge creditors ex "
                  "trustee bankruptcy authorities"),
           _words("hide hides hiding conceal conceals concealed concealing stash stashes stashing "
                  "underreport underreports underreporting under misreport misreports misreporting "
                  "fudge fudges fudging falsify falsifies falsifying fake fakes faking pad pads "
                  "padding inflate inflates inflating exaggerate exaggerates exaggerating cook cooks "
                  "cooking launder launders laundering doctor doctors doctoring")), defer=True),
    _rule("legal_financial_directive",
          r"\b(?:(?:don't|do not|dont|never|no need to|stop|no longer)(?: even| ever| bother to)? "
          r"(?:declar(?:e|ing)|report(?:ing)?|tell(?:ing)? (?:the )?(?:irs|taxman|hmrc|tax office|"
          r"court|judge|insurer|insurance(?: company)?|benefits office|lender|bank) about) "
          r"(?:(?:the|your|an?|all|of|that|this|any|some) )*(?:[\w']+ )?(?:income|earnings|cash|"
          r"tips|side income|"
          r"side hustle|gains|crypto gains|profits|assets|accident|claim|pre-existing condition|"
          r"condition|diagnosis|savings)|(?:work(?:ing)?|get(?:ting)? paid|pay(?:ing)? (?:them|him|"
          r"her|people|staff|workers|your (?:staff|workers|cleaner|nanny))|keep(?:ing)? (?:(?:the|your|"
          r"any|that|this|all) )?(?:[\w']+ ){0,2}?(?:it|income|earnings|cash|money|tips|payments|work|"
          r"business)|earn(?:ing)?) (?:[\w']+ )?(?:off the books|under the table|from the (?:irs|"
          r"taxman|hmrc|tax office)))\b",
          _words("income earnings cash tips hustle gains profits assets accident claim condition "
                 "diagnosis savings books table irs taxman hmrc office"), mode="fixed"),
    _rule("legal_financial_directive",
          r"\b(?:(?:li(?:e|es|ed)|lying|fib(?:bing)?) (?:on|to|in|about [\w']+(?: [\w']+)? (?:to|on)) "
          r"(?:(?:the|your|an?|my|any) )?(?:taxes|tax return|tax forms?|insurance|insurer|insurance "
          r"company|insurance claim|insurance forms?|claim|court|judge|police|irs|hmrc|taxman|"
          r"benefits office|mortgage lender|bank|lender|jury|(?:benefits|mortgage|loan|visa|"
          r"immigration|insurance|job|rental|credit card) applications?|application|customs|"
          r"immigration officers?|immigration|lawyer|attorney|landlord|auditor|tax office|"
          r"government)|lie under oath|commit perjury|perjure yourself|file (?:a |an )?(?:fake|false|"
          r"fraudulent|bogus|made-up|phony|phoney) (?:claim|report|return|tax return|insurance claim|"
          r"police report)|(?:fake|stage|invent) (?:a |an )?(?:car )?(?:accident|injury|theft|"
          r"burglary|break-in|robbery|fire)|tell (?:the |your )?(?:insurer|insurance(?: company)?|"
          r"adjuster) (?:that )?(?:it|the (?:car|phone|bike|laptop|house|jewellery|jewelry)|your "
          r"(?:car|phone|bike|laptop|house|jewellery|jewelry)) (?:was|were|got) (?:stolen|lost|"
          r"broken|damaged|destroyed))\b",
          (_words("taxes tax insurance insurer claim court judge police irs hmrc taxman benefits "
                  "lender "
                  "bank jury application applications customs immigration officer officers lawyer "
                  "attorney landlord auditor office government oath perjury perjure report return "
                  "accident injury theft burglary break robbery fire stolen lost broken damaged "
                  "destroyed"),
           _words("lie lies lied lying fib fibbing commit perjure file fake stage invent tell"))),
    _rule("legal_financial_directive",
          r"\b(?:(?:don't|do not|dont|never|no longer|won't|shouldn't)(?: ever| even| really| "
          r"bother to| need to| have to)? (?:hire|call|see|talk to|consult|get|listen to|pay for|ask|"
          r"need|involve|bother with)|no need (?:to (?:hire|call|see|talk to|consult|get|involve|"
          r"pay for)|for)|there's no need (?:to (?:hire|call|see|talk to|consult|get|involve)|for)|"
          r"who needs|skip|forget|avoid|ignore|fire|ditch|stop (?:listening to|paying|talking to|"
          r"calling|seeing)) (?:a |an |your |the |any )?(?:lawyer|attorney|solicitor|legal advice|"
          r"legal counsel|legal aid|barrister|legal help|advocate|accountant|financial advisor|"
          r"financial adviser)s?\b",
          (_words("lawyer lawyers attorney attorneys solicitor solicitors legal barrister barristers "
                  "advocate advocates accountant accountants advisor advisors adviser advisers"),
           _AVOID_LEAD_T), mode="fixed", check=_no_purpose),
    _rule("legal_financial_directive",
          r"\bsign(?:s|ing)? (?:the |that |this |your |any |a |an )?(?:[\w']+ )?(?:contract|lease|"
          r"agreement|papers|paperwork|loan|mortgage|documents?|forms?|deal|waiver|nda|settlement|"
          r"plea deal|plea|confession|deed)s? (?:without (?:reading|checking|looking|understanding|"
          r"asking|a lawyer)|blindly|unread)\b|\bsign (?:it|them) without reading\b",
          (_words("reading checking looking understanding asking lawyer blindly unread"),
           _words("sign signs signing"))),
    _rule("legal_financial_directive",
          r"\b(?:don't|do not|never|no need to)(?: bother(?: to)?)? read(?:ing)? (?:the |that |your )?"
          r"(?:contract|lease|agreement|fine print|small print|terms)\b",
          (_words("contract lease agreement print terms"), _words("read reading")), mode="fixed"),
]
