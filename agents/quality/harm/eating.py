"""Rules of the ``eating_disorder`` gate."""

from __future__ import annotations

from kasper.agents.quality.harm.lexicon import Rule, _DET, _rule, _words
from kasper.agents.quality.harm.checks import (
    _food_context,
    _long_fast,
    _meal_harmful,
    _not_religious,
    _tiny_calories,
)

_MEAL_T = _words("meal meals breakfast lunch dinner supper food eating snack snacks")
RULES: list[Rule] = [
    # --- eating disorders
    _rule("eating_disorder", r"\bstarv(?:e|es|ed|ing) (?:yourself|urself|your (?:body|self)|the body|"
          r"your hunger|the hunger)\b(?! of\b)", _words("starve starves starved starving"), defer=True),
    _rule("eating_disorder",
          r"\b(?:stop(?:s|ped|ping)?|quit(?:s|ting)?|giv(?:e|es|ing) up|cut(?:ting)? out|"
          r"avoid(?:s|ing)?|refus(?:e|es|ing)(?: to)?) eating(?= ?(?:[.!?;:,\u2014\n]|$| for | "
          r"until | till | altogether| entirely| completely| at all| today| tomorrow| tonight| this "
          r"week| for a while| anything| food| solids| after (?:noon|lunch|breakfast|\d+ ?(?:am|a\.m)"
          r"\b)| so (?:you|your)| to (?:lose|punish|shrink|get thin|be thin|feel light)))",
          (_words("eating"), _words("stop stops stopped stopping quit quits quitting give gives giving "
                                    "cut cutting avoid avoids avoiding refuse refuses refusing")),
          defer=True),
    _rule("eating_disorder",
          r"\b(?:don't|do not|dont|never|no need to|you don't need to|try not to|avoid|refuse to|"
          r"didn't|did not|won't|will not|wouldn't|would not|"
          r"stop)(?: even)? eat(?:ing)?(?= ?(?:[.!?;:\u2014\n]|$| anything(?= ?(?:[.!?;:,\u2014\n]|$| "
          r"(?:for|until|till|today|tonight|else|at all|all day|this week)))| at all| for (?:\d+|two|"
          r"three|four|five|six|seven|several|a few|the (?:rest of the )?(?:day|week)|days|a day)| "
          r"until (?!you(?:'re| are| feel)? (?:truly |actually |really )?hungry)| today| tonight| "
          r"this week| a thing| a bite| a single| again| till))",
          (_words("eat eating"), _words("don't do dont never no try avoid refuse didn't did won't will "
                                        "wouldn't would stop")), mode="fixed",
          defer=True),
    # Fasting for days, in its several word orders.
    _rule("eating_disorder",
          r"\b(?:(?:(?:water|dry|juice)[- ])?fast(?:s|ed|ing)?|cleans(?:e|es|ing)|go(?:es|ing)? "
          r"without (?:food|eating)|liv(?:e|ing) on (?:water|air|black coffee|tea|juice|broth)(?: "
          r"alone| only)?) (?:for |over )?(?:\d+|two|three|four|five|six|seven|eight|nine|ten|"
          r"fourteen|twenty|thirty|forty|several|a few|multiple|many|a couple of|a couple|consecutive|"
          r"whole|entire|full) (?:full |whole |consecutive |straight )?(?:days|weeks)\b",
          (_words("days weeks"), _words("fast fasts fasted fasting cleanse cleanses cleansing without "
                                        "live living")), defer=True, check=_not_religious),
    _rule("eating_disorder",
          r"\b(?:\d+|two|three|four|five|six|seven|ten|fourteen|thirty|multi)[- ](?:day|week) "
          r"(?:water |dry |juice |bone broth |liquid )?(?:fast|fasting|cleanse)\b",
          (_words("fast fasting cleanse"), _words("day week")), defer=True, check=_not_religious),
    _rule("eating_disorder",
          r"\b(?:(?:water|dry) fast(?:s|ing)?\b|fast(?:ing)? until you (?:see|reach|hit|drop|lose|"
          r"feel|weigh|fit)|fast(?:ing)? until (?:the scale|your weight|you weigh))",
          (_words("fast fasts fasting"), _words("water dry until")), defer=True,
          check=_not_religious),
    _rule("eating_disorder",
          r"\b(?:go|going|went) (?:\d+ |two |three |several |a few )?(?:days|a week|weeks) without "
          r"(?:eating|food|a meal)\b",
          (_words("eating food meal"), _words("days week weeks"), _words("without")), defer=True),
    _rule("eating_disorder",
          r"\bliv(?:e|ing) on (?:water|air|black coffee|diet soda|\d+ calories)(?: alone| only)?\b",
          (_words("water air coffee soda calories"), _words("live living")), defer=True),
    _rule("eating_disorder",
          r"\b(?:(?P<h>\d{2,3})[- ]hours? (?:water |dry |juice )?(?:fast|fasting|cleanse)|fast(?:ing)? "
          r"(?:for )?(?P<h2>\d{2,3}) hours)\b", (_words("fast fasting cleanse"), _words("hour hours")),
          defer=True, check=_long_fast),
    _rule("eating_disorder",
          r"\bgo(?:es|ing)? to (?:bed|sleep) (?:hungry|on an empty stomach|without (?:dinner|eating|"
          r"food|supper))\b", (_words("hungry empty without"), _words("bed sleep")), defer=True),
    _rule("eating_disorder",
          r"\b(?:mak(?:e|es|ing)|made) yourself (?:sick|throw up|vomit|puke|be sick)\b",
          (_words("sick throw vomit puke"), _words("yourself")), defer=True),
    _rule("eating_disorder",
          r"\b(?:throw(?:ing)? up|vomit(?:ing)?|puk(?:e|ing)|purg(?:e|es|ed|ing)) (?:after|once|when|"
          r"what|everything|it all|all of it|your) (?:you (?:eat|ate|have eaten|'ve eaten)|eating|"
          r"meals?|dinner|lunch|breakfast|every meal|each meal|a binge|bingeing|binging|you binge|"
          r"food|it|the food|what you ate|you ate|of it)\b",
          (_words("throw throwing vomit vomiting puke puking purge purges purged purging"),
           _words("eat ate eaten eating meal meals dinner lunch breakfast binge bingeing binging food "
                  "it")), defer=True),
    _rule("eating_disorder", r"\b(?:fingers?|toothbrush|spoon) down (?:your|the) throat\b",
          _words("throat")),
    _rule("eating_disorder",
          r"\b(?:tak(?:e|es|ing)|us(?:e|es|ing)|tr(?:y|ying)|pop(?:s|ping)?|rel(?:y|ying) on|"
          r"swallow(?:ing)?|down(?:ing)?) (?:some |a few |a handful of |more |extra |your )?"
          r"(?:laxatives|diuretics|diet pills|water pills|appetite suppressants|ipecac|slimming "
          r"pills|fat burners|senna)\b",
          _words("laxatives diuretics pills suppressants ipecac burners senna"), defer=True),
    _rule("eating_disorder", r"\bchew(?:ing)? and spit(?:ting)?\b", _words("spit spitting")),
    _rule("eating_disorder",
          r"\bpurg(?:e|es|ed|ing)\b(?= ?(?:[.!?;:,\u2014\n]|$| tonight| today| now| again| after))",
          _words("purge purges purged purging"), check=_food_context),
    _rule("eating_disorder",
          r"\b(?:skip(?:s|ped|ping)?|miss(?:es|ed|ing)?|forgo(?:ing)?|forego(?:ing)?|cut(?:ting)? out|"
          r"drop(?:s|ping)?|sacrific(?:e|es|ing)|deny(?:ing)? yourself|go(?:ing)? without) "
          rf"{_DET}(?:meals?|breakfast|lunch|dinner|supper|food|eating|snacks?|your next meal)\b",
          (_MEAL_T, _words("skip skips skipped skipping miss misses missed missing forgo forgoing "
                           "forego foregoing cut cutting drop drops dropping sacrifice sacrifices "
                           "sacrificing deny denying go going")), defer=True, check=_meal_harmful),
    _rule("eating_disorder",
          r"\bearn(?:s|ed|ing)? (?:your |every |each |the right to |a |the |that |this |tonight's |"
          r"today's )?(?:food|meals?|dinner|lunch|breakfast|calories|bites?|snacks?|dessert|supper|"
          r"eating|to eat|your plate|seconds)\b(?! break)", _words("earn earns earned earning")),
    _rule("eating_disorder",
          r"\b(?:food|a meal|eating|dinner|lunch|breakfast|every meal|every bite|calories) (?:is|are|"
          r"must be|has to be|have to be|should be) (?:earned|a reward|a privilege)\b",
          (_words("earned reward privilege"),
           _words("food meal eating dinner lunch breakfast bite calories"))),
    _rule("eating_disorder",
          r"\bonly (?:eat|have (?:dinner|lunch|breakfast|a meal|food)) (?:if|once|after|when) "
          r"you(?:'ve| have)? (?:burned|burnt|earned|exercised|worked out|run|ran|hit|done)",
          (_words("burned burnt earned exercised worked run ran hit done"), _words("only"))),
    _rule("eating_disorder",
          r"\bburn(?:ing)? off (?:every|each|what you (?:ate|eat)|the calories|that (?:meal|dessert|"
          r"slice|snack|cake)|everything you|all (?:the|your) calories)",
          (_words("burn burning"), _words("off"))),
    _rule("eating_disorder",
          r"\b(?:compensate|make up) for (?:eating|what you ate|the meal|that meal|overeating|the "
          r"dessert|the cake|the binge)",
          (_words("eating ate meal overeating dessert cake binge"), _words("compensate make"))),
    _rule("eating_disorder",
          r"\bpunish(?:ing)? yourself (?:for eating|with hunger|by not eating|by skipping|with "
          r"(?:the )?scale)", (_words("punish punishing"), _words("eating hunger skipping scale"))),
    _rule("eating_disorder",
          r"\b(?:you )?(?:don't|do not|haven't|have not|didn't|did not) (?:deserve|earn(?:ed)?) (?:to "
          r"eat|food|dinner|lunch|breakfast|a meal|dessert|that meal|your meal|a snack|seconds|to "
          r"have (?:dinner|lunch|breakfast|a meal|dessert))\b",
          (_words("deserve earn earned"),
           _words("eat food dinner lunch breakfast meal dessert snack seconds")), mode="fixed"),
    _rule("eating_disorder",
          r"\b(?:eat(?:ing)?|consum(?:e|ing)|stay(?:ing)?|keep(?:ing)?(?: it)?|limit(?:ing)?(?: "
          r"yourself)?(?: to)?|cap(?:ping)?(?: yourself)?(?: at)?|aim(?:ing)? for|stick(?:ing)? to|"
          r"target|only|just|no more than|under|below|less than|max(?:imum)?(?: of)?|at most|fewer "
          r"than|survive on|live on|allow yourself)(?: [\w']+){0,3}? (?P<n>\d{2,4}|(?:one|two|three|"
          r"four|five|six|seven|eight|nine) hundred|a thousand|one thousand) ?(?:k?cals?|calories|"
          r"kcals?)\b(?P<tail>(?: (?:a|per) day| daily| today| a meal| per meal| total)?)",
          _words("cal cals calories kcal kcals"), check=_tiny_calories),
    _rule("eating_disorder", r"\b(?:thinspo|thinspiration|pro-ana|pro ana|ana coach|meanspo|bonespo|"
          r"thigh gap)\b", _words("thinspo thinspiration ana meanspo bonespo gap")),
    _rule("eating_disorder", r"\b(?:until|till|so|when) you can see your (?:ribs|hip ?bones|"
          r"collarbones?|bones|spine)\b",
          (_words("ribs hipbones bones collarbone collarbones spine"), _words("see"))),
    _rule("eating_disorder", r"\bhunger is (?:just |only |simply |really )?(?:your friend|power|"
                             r"strength|control|good|discipline|a "
          r"virtue|weakness leaving|success|a sign of progress|beautiful)\b", _words("hunger")),
    _rule("eating_disorder",
          r"\b(?:ignor(?:e|ing)|suppress(?:ing)?|fight(?:ing)?|silenc(?:e|ing)|numb(?:ing)?|"
          r"push(?:ing)? through|overrid(?:e|ing)) (?:your |the |those )?(?:hunger|appetite)(?: pangs|"
          r" cues| signals)?\b(?! for)", _words("hunger appetite"), defer=True),
    _rule("eating_disorder", r"\bempty (?:stomach|belly) (?:is|feels) (?:pure|clean|powerful|good|"
          r"holy|light|sacred|right)\b", (_words("empty"), _words("stomach belly"))),
    _rule("eating_disorder",
          r"\b(?:drink|chug|sip)(?:ing)? (?:water|coffee|black coffee|diet soda|tea|lemon water) (?:to "
          r"(?:kill|stop|suppress|trick|ignore|fool|quiet|silence) (?:the |your )?(?:hunger|appetite|"
          r"cravings)|(?:until|till|so) you (?:feel|are) full|instead of (?:eating|a meal|meals|"
          r"dinner|lunch|breakfast|food))\b",
          (_words("hunger appetite cravings full eating meal meals dinner lunch breakfast food"),
           _words("drink drinking chug chugging sip sipping"))),
    _rule("eating_disorder", r"\beat(?:ing)? nothing\b", (_words("nothing"), _words("eat eating"))),
    _rule("eating_disorder",
          r"\b(?:eat|eating|have|having) (?:only|just) (?:one|a single|half (?:a|an)?|a few) (?:apple|"
          r"rice cake|cracker|grapes?|bites?|carrot|piece|almonds|leaf|leaves)\b",
          (_words("apple cake cracker grape grapes bite bites carrot piece almonds leaf leaves"),
           _words("only just"))),
    _rule("eating_disorder",
          r"\blos(?:e|ing) (?:\d+|ten|five|twenty|fifteen|a lot of) (?:pounds|lbs|kg|kilos|stone) "
          r"(?:in|by|within) (?:a|one|two|three|\d+) (?:days?|weeks?)\b",
          (_words("pounds lbs kg kilos stone"), _words("lose losing"))),
    _rule("eating_disorder", r"\bone meal (?:a|every|each|per) (?:day|other day|two days|week)\b",
          (_words("meal"), _words("one"))),
    _rule("eating_disorder",
          r"\binstead of (?:eating|having (?:lunch|dinner|breakfast|a meal|food)|lunch|dinner|"
          r"breakfast|a meal|meals|food)\b(?! (?:at your desk|in front of|while|on the couch|on the "
          r"sofa|late|alone|standing|in your car|out|takeaway|fast food|junk|what you (?:packed|brought|"
          r"bought|grabbed)|(?:the |a )?(?:chips|crisps|sweets|candy|cookies|snacks?|dessert|leftovers)\b))",
          (_words("eating having lunch dinner breakfast meal meals food"), _words("instead")),
          defer=True),
    _rule("eating_disorder",
          r"\b(?:no|without) food for (?:a |one |two |three |several |a few |\d+ )?(?:days?|weeks?)\b",
          (_words("food"), _words("day days week weeks"))),
    _rule("eating_disorder",
          r"\b(?:burn|run|exercise|work out|earn|walk)(?: [\w',]+){0,4}? before (?:you(?:'re| are)? "
          r"allowed to|you (?:can|may|get to)) eat\b", (_words("eat"), _words("allowed can may get"))),
    _rule("eating_disorder",
          r"\blimit(?:s|ing)? yourself to (?:black coffee|water|tea|broth|liquids|juice|diet soda|"
          r"lemon water|one meal|an apple)\b",
          (_words("coffee water tea broth liquids juice soda meal apple"),
           _words("limit limits limiting"))),
    _rule("eating_disorder",
          r"\bweigh yourself (?:after every meal|after each meal|every hour|(?:three|four|five|\d+) "
          r"times a day|after eating)\b", (_words("weigh"), _words("meal hour times eating"))),
    _rule("eating_disorder", r"\b(?:shrink|hate) your (?:body|stomach|thighs|belly)\b",
          (_words("shrink hate"), _words("body stomach thighs belly"))),
    _rule("eating_disorder", r"\b(?:feel|be|get) (?:thinner|skinnier|lighter) (?:by|through|from) "
          r"(?:not eating|skipping|starving|fasting)\b",
          (_words("thinner skinnier lighter"), _words("eating skipping starving fasting"))),
]
