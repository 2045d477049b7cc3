"""Rules of the ``hateful`` gate."""

from __future__ import annotations

import re

from kasper.agents.quality.harm.normalize import _WORD
from kasper.agents.quality.harm.lexicon import Rule, _rule, _words

_GROUPS = (r"(?:women|men|jews|jewish people|muslims|muslim people|christians|hindus|sikhs|"
           r"buddhists|atheists|immigrants|migrants|refugees|asylum seekers|foreigners|gay people|"
           r"gays|gay men|lesbians|trans people|transgender people|trans women|trans men|black people|"
           r"blacks|white people|whites|asians|arabs|mexicans|latinos|hispanics|africans|indians|"
           r"chinese people|indigenous people|native americans|disabled people|the disabled|"
           r"autistic people|the mentally ill|mentally ill people|homeless people|the homeless|the "
           r"poor|poor people|fat people|old people|gypsies|roma|romani|travellers)")
_SINGULAR = (r"(?:jew|muslim|christian|hindu|sikh|immigrant|migrant|refugee|foreigner|mexican|"
             r"arab|asian|african|indian|latino|hispanic|woman|gay man|lesbian|trans person|black "
             r"person|white person|gypsy|traveller)")
_DEMEANING = (r"(?:evil|vermin|animals|subhuman|inferior|disgusting|parasites|the problem|a disease|"
              r"trash|filth|savages|a plague|cockroaches|rats|an infestation|criminals|terrorists|"
              r"rapists|thieves|scum|a cancer|a virus|worthless|less than human|"
              r"not (?:real )?(?:people|human)|lazy|stupid|dirty|dangerous|the enemy|"
              r"ruining (?:everything|this country|our "
              r"country|society|the world)|destroying (?:everything|this country|our country|society)|"
              r"invading|taking over|replacing us)")
# A word of every group name (for "the poor", "poor"; "people" and "the" are no signal).
_GROUP_T = frozenset(_WORD.findall(re.sub(r"\(\?:|[()|?]", " ", _GROUPS + _SINGULAR))) - {
    "the", "people", "person"}
RULES: list[Rule] = [
    _rule("hateful",
          rf"\b(?:(?:all|those|these|most|the)\s+)?{_GROUPS}\s+(?:are|is)\s+(?:all\s+|just\s+|"
          rf"simply\s+|nothing but\s+|basically\s+)?{_DEMEANING}\b",
          (_words("evil vermin animals subhuman inferior disgusting parasites problem disease trash "
                 "filth savages plague cockroaches rats infestation criminals terrorists rapists "
                 "thieves scum cancer virus worthless human people lazy stupid dirty dangerous enemy "
                 "ruining destroying invading taking replacing"), _GROUP_T), mode="plain"),
    _rule("hateful",
          rf"\b(?:{_GROUPS}\s+(?:don't|do not)\s+deserve\s+(?:rights|to live|respect|to exist|"
          rf"anything)|{_GROUPS}\s+(?:should|must|need to|ought to)\s+(?:die|go back (?:to where they "
          r"came from|home)|be (?:killed|exterminated|wiped out|removed|deported|banned|locked up|"
          r"gassed|sterilized|sterilised|kicked out|thrown out))|inferior races?|(?:exterminate|get "
          rf"rid of|wipe out|kill all|purge|deport all)\s+(?:all\s+)?(?:the\s+|those\s+)?{_GROUPS}|"
          rf"(?:don't|do not|never) trust (?:a |an |any |the )?(?:{_GROUPS}|{_SINGULAR})|{_GROUPS} "
          r"(?:control|run|own) (?:the "
          r")?(?:banks|media|world|government|money))\b",
          (_words("deserve die back killed exterminated wiped removed deported banned locked gassed "
                 "sterilized sterilised kicked thrown races race exterminate rid wipe kill purge "
                 "deport trust control run own"), _GROUP_T | {"races", "race"}), mode="plain"),
]
