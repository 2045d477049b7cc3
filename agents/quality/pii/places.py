"""Street addresses and postcodes for the personal-data detector
(:mod:`kasper.agents.quality.personal_data` says what counts and why)."""

from __future__ import annotations

import re

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
