# Long: many short attack cases, one per layout or trick the detector must catch or leave alone.
"""The personal-data detector, attacked: layouts and tricks it must catch, numbers it must leave.

Every positive case is embedded in an otherwise ordinary insight sentence and checked
three ways: its kind is found, redaction gives exactly the sentence with placeholders
(so nothing of the data survives and nothing else changes), and the spans are in order.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from kasper.agents.quality.personal_data import (
    find_personal_data,
    luhn_valid,
    personal_data_spans,
    redact_personal_data,
)

LABELED = Path(__file__).parent / "data" / "insights_labeled.jsonl"

# One sentence per kind; "{}" is where the data goes.
SENTENCES = {
    "email address": "If the silence feels heavy, send one warm line to {} tonight and let her answer in her "
                     "own time.",
    "phone number": "Your mentor's line, {}, is one honest conversation away before the big meeting.",
    "card number": "The digits {} on your card reduce to a nine, the number of completion and release.",
    "national id number": "Before you sign the new contract, check that {} is printed correctly on page two.",
    "street address": "This Sunday, bring a white candle to the altar at {} and sit in silence before prayer.",
    "postcode": "Your new home near {} invites an evening walk of gratitude under the first stars.",
}
PLACEHOLDER = {"email address": "[EMAIL]", "phone number": "[PHONE]", "card number": "[CARD]",
               "national id number": "[ID]", "street address": "[ADDRESS]", "postcode": "[POSTCODE]"}

# (kind, layout, what redaction leaves of the layout; None: the kind's placeholder)
POSITIVES = [
    ("email address", "jane.doe@example.com", None),
    ("email address", "jane dot doe at gmail dot com", None),
    ("email address", "jane[at]mail[dot]org", None),
    ("email address", "j.doe (at) example (dot) net", None),
    ("email address", "jane {at} example {dot} co {dot} uk", None),
    ("email address", "jane<at>example<dot>org", None),
    ("email address", "JANE AT EXAMPLE DOT COM", None),
    ("email address", "jane-at-example-dot-com", None),
    ("email address", "jane at gmail.com", None),
    ("email address", "jane at proton dot me", None),
    ("email address", "jane @ example . com", None),
    ("email address", "jane @gmail.com", None),
    ("email address", "jane@example[.]com", None),
    ("email address", "jane&#64;example.com", None),
    ("email address", "jane@\u200bexample.com", None),  # zero-width space
    ("email address", "jane\u2060@\u2060example\u2060.\u2060com", None),  # word joiners
    ("email address", "jane@exam\u00adple.com", None),  # soft hyphen
    ("email address", "\uff4a\uff41\uff4e\uff45\uff20\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\uff0e\uff43\uff4f\uff4d", None),
    ("email address", "j\u0430ne@ex\u0430mple.com", None),  # Cyrillic a
    ("email address", "jane@example\u3002com", None),  # ideographic full stop
    ("phone number", "(415) 555-0132", None),
    ("phone number", "555-123-4567", None),
    ("phone number", "555.123.4567", None),
    ("phone number", "+1 (555) 123-4567", None),
    ("phone number", "07700 900123", None),
    ("phone number", "+44 7700 900123", None),
    ("phone number", "+44 (0) 20 7946 0958", None),
    ("phone number", "+49 30 1234567", None),
    ("phone number", "030 1234567", None),
    ("phone number", "0049 30 1234567", None),
    ("phone number", "089/12345678", None),
    ("phone number", "06 12 34 56 78", None),
    ("phone number", "+33 6 12 34 56 78", None),
    ("phone number", "+91 98765 43210", None),
    ("phone number", "98765 43210", None),
    ("phone number", "0412 345 678", None),
    ("phone number", "+61 412 345 678", None),
    ("phone number", "(02) 9876 5432", None),
    ("phone number", "03-1234-5678", None),
    ("phone number", "+49 80 5248449", None),  # not toll-free: 0805 is French
    ("phone number", "08051 12345", None),  # a German area code, not 0805
    ("phone number", "\uff15\uff15\uff15\uff0d\uff11\uff12\uff13\uff0d\uff14\uff15\uff16\uff17", None),  # fullwidth
    ("phone number", "555\u2013123\u20134567", None),  # en dashes
    ("phone number", "\u0665\u0665\u0665-\u0661\u0662\u0663-\u0664\u0665\u0666\u0667", None),  # Arabic-Indic
    ("phone number", "555\u200b-123\u200b-4567", None),
    ("phone number", "+1\u00a0555\u00a0123\u00a04567", None),  # no-break spaces
    ("card number", "4539 1488 0343 6467", None),
    ("card number", "4539-1488-0343-6467", None),
    ("card number", "4539148803436467", None),
    ("card number", "4539.1488.0343.6467", None),
    ("card number", "4539 - 1488 - 0343 - 6467", None),
    ("card number", "3782 822463 10005", None),  # Amex layout
    ("card number", "5425 2334 3010 9903", None),
    ("card number", "2223 0031 2200 3222", None),
    ("card number", "6011 1111 1111 1117", None),
    ("card number", "\uff14\uff15\uff13\uff19 \uff11\uff14\uff18\uff18 \uff10\uff13\uff14\uff13 \uff16\uff14\uff16\uff17", None),
    ("card number", "4539\u200b1488\u200b0343\u200b6467", None),
    ("card number", "4539\u00a01488\u00a00343\u00a06467", None),
    ("national id number", "123-45-6789", None),
    ("national id number", "123 45 6789", None),
    ("national id number", "123.45.6789", None),
    ("national id number", "123\u200b-45-6789", None),
    ("national id number", "\uff11\uff12\uff13-\uff14\uff15-\uff16\uff17\uff18\uff19", None),
    ("national id number", "QQ 12 34 56 C", None),  # UK National Insurance
    ("national id number", "QQ123456C", None),
    ("national id number", "qq 12 34 56 c", None),
    ("national id number", "4991 1866 5246", None),  # Aadhaar (Verhoeff)
    ("national id number", "ABCPE1234F", None),  # Indian PAN
    ("national id number", "1 85 05 78 006 084 91", None),  # French NIR (key)
    ("street address", "742 Evergreen Terrace", None),
    ("street address", "221B Baker Street", None),
    ("street address", "1428 Willow Creek Road, Apt 3B", None),
    ("street address", "1600 Pennsylvania Avenue NW", None),
    ("street address", "350 5th Ave", None),
    ("street address", "742 EVERGREEN TERRACE", None),
    ("street address", "742 evergreen terrace", None),
    ("street address", "742\u00a0Evergreen\u00a0Terrace", None),
    ("street address", "\uff17\uff14\uff12 Evergreen Terrace", None),
    ("street address", "Hauptstraße 5", None),
    ("street address", "Hauptstrasse 5a", None),
    ("street address", "Berliner Str. 12", None),
    ("street address", "12 rue de la Paix", None),
    ("street address", "Keizersgracht 123", None),
    ("street address", "Via Roma 10, Milano", "[ADDRESS], Milano"),
    ("street address", "P.O. Box 1234", None),
    ("street address", "221B Baker Street, London NW1 6XE", "[ADDRESS], London [POSTCODE]"),
    ("postcode", "NW1 6XE", None),
    ("postcode", "SW1A 1AA", None),
    ("postcode", "SW1A1AA", None),
    ("postcode", "EC1A\u00a01BB", None),
    ("postcode", "\uff2e\uff37\uff11 \uff16\uff38\uff25", None),  # fullwidth
    ("postcode", "K1A 0B1", None),  # Canada
    ("postcode", "K1A0B1", None),
    ("postcode", "Springfield, IL 62704", "Springfield, [POSTCODE]"),
    ("postcode", "San Francisco, CA 94110-1234", "San Francisco, [POSTCODE]"),
    ("postcode", "Sydney NSW 2000", "Sydney [POSTCODE]"),
    ("postcode", "Hauptstraße 5, 10115 Berlin", "[ADDRESS], [POSTCODE] Berlin"),
    ("postcode", "12 rue de la Paix, 75002 Paris", "[ADDRESS], [POSTCODE] Paris"),
    ("postcode", "Keizersgracht 123, 1015 CJ Amsterdam", "[ADDRESS], [POSTCODE] Amsterdam"),
    ("postcode", "Via Roma 10, 00184 Roma", "[ADDRESS], [POSTCODE] Roma"),
]


@pytest.mark.parametrize("kind,layout,left", POSITIVES, ids=[f"{k}:{v!a}" for k, v, _ in POSITIVES])
def test_each_layout_is_found_and_redacted_without_a_trace(kind, layout, left):
    sentence = SENTENCES[kind]
    text = sentence.format(layout)
    assert kind in find_personal_data(text)
    assert redact_personal_data(text) == sentence.format(left or PLACEHOLDER[kind])


def test_every_kind_has_at_least_eight_layouts():
    counts = {kind: sum(1 for k, _, _ in POSITIVES if k == kind) for kind in SENTENCES}
    assert min(counts.values()) >= 8, counts


@pytest.mark.parametrize("text,kind,data", [
    ("Her number is 4155550132, so call her tonight.", "phone number", "4155550132"),
    ("Call me on 555-0132 after dinner and we can talk it through.", "phone number", "555-0132"),
    ("Text her at 07700900123 when the letter is done.", "phone number", "07700900123"),
    ("Check that your social security number 123456789 is right.", "national id number", "123456789"),
    ("Keep your passport number X1234567 somewhere safe before the trip.", "national id number", "X1234567"),
    ("Your NHS number 943 476 5919 is on the letter.", "national id number", "943 476 5919"),
    ("Please email jane at example.com with one memory.", "email address", "jane at example.com"),
])
def test_bare_numbers_count_after_a_cue_word(text, kind, data):
    assert find_personal_data(text) == [kind]
    assert data not in redact_personal_data(text)
    assert PLACEHOLDER[kind] in redact_personal_data(text)


# Insight text that is full of numbers and of "at"/"dot" words, none of them personal data.
DECOYS = [
    "Angel number 444 keeps appearing, and so do 1111, 777, 333 and 12:12.",
    "Seeing 11:11 again? Your life path 7 asks for one quiet breath at 22:22 tonight.",
    "On March 3, 2026, the new moon rises; by 2026-03-03 your intention should be written.",
    "Your birth date 03.03.1990 reduces to 7, and 1990-07-14 reduces to 3.",
    "Dates repeat: 12/21/2025, 21.12.2025 and 2025/12/21 all mark the solstice.",
    "Wake at 07:30, breathe for 22 minutes, then rest for three breaths and 4 counts.",
    "Read chapter 12, verse 3, then Psalm 23:4 and John 3:16 before bed.",
    "Turn to page 212 of the journal; pages 100-150 hold last year's dreams.",
    "If the heaviness turns into thoughts of harm, call 988 or 1-800-273-8255 any time.",
    "In the UK, Samaritans answer on 116 123 and Childline on 0800 1111, day or night.",
    "Mind's infoline is 0300 123 3393; SOS Amitié listens on 09 72 39 40 50.",
    "Lifeline is on 13 11 14 and Beyond Blue on 1300 22 4636; text HOME to 741741.",
    "Kids Help Phone: 1-800-668-6868 or +1 800 273 8255, free from any phone.",
    "From abroad, Childline is +44 800 1111 and the line (800) 273-8255 stays free.",
    "The retreat costs $1,250 or €1.250,00, about 45% less than last year's $2,199.99.",
    "Take 10,000 steps, then 1,000,000 small kindnesses will follow over 365 days.",
    "Fibonacci speaks of growth: 1 1 2 3 5 8 13 21 34 55 89 144.",
    "Your lucky sequence 04 15 23 42 08 16 is a story, not a prophecy.",
    "Count down: 05 10 15 20 25 and then 01 02 03 04 05 slowly.",
    "The years 1999 2000 2001 2002 taught you patience; 1990-2020 was a long chapter.",
    "Repeat 4444 4444 4444 4444 as a mantra, or 1111 2222 3333 4444 if you prefer.",
    "Angel numbers 222 333 444 555 666 and 777 888 9999 each carry a message.",
    "Try the 4-7-8 breath, the 5-4-3-2-1 grounding and a 10-15 minute walk.",
    "The golden ratio 1.618 and pi 3.14159 hide in the shell at 40.7128, -74.0060.",
    "ISBN 978-3-16-148410-0 is the book; version 1.2.3 of your habit starts now.",
    "Room 101 of your mind can stay closed; Route 66 and Highway 61 can wait.",
    "Walk 2 miles down the road, then keep 3 friends close and take the long way home.",
    "Spring 2026 brings 12 Steps, 7 Habits and the 8 Fold Path to your shelf.",
    "Vitamin B12 and the A4 page on your desk can wait until 5AM tomorrow.",
    "The ACT 2026 exam and your SAT scores do not define you; neither does the IN tray.",
    "Join via Zoom 10 minutes early and bring the 3 questions from session 2.",
    "Call a friend tonight and ask how their week was; text your sister a photo.",
    "Call your mother at 7:30 on 03.03.2026 and tell her one thing you admire.",
    "Look at the moon. Dot your i's, cross your t's, and look at the dot com era with humor.",
    "She worked at the dot com boom; now calm sessions at insighttimer.com suit her.",
    "Meet me @ 7pm, tag @jane.doe on the photo, and find it at calm.com later.",
    "Wake at 6 a.m., e.g. before the birds, and sit at home.Then breathe.",
    "Your number 4539 1488 0343 6468 fails its check, so it is only a nine.",
    "Personal year 2026 is a 1 (2 + 0 + 2 + 6 = 10 = 1 + 0 = 1).",
    "Stand at 5 on the road of life; 3 deep breaths at 9:30 pm.",
    "Lottery dreams of 7 14 21 28 35 42 are cycles of seven.",
    "Temperatures of -5 to +12 degrees and 1013 hPa make a calm day.",
    "A 1,250-word letter, rated 4.5/5, takes 25-34 minutes to write.",
    "Coordinates 51.5074 N, 0.1278 W mark the city you left in 2019.",
    "Between 9 and 5, 5 days a week, 52 weeks a year: 260 days of effort.",
]


@pytest.mark.parametrize("text", DECOYS)
def test_ordinary_numbers_and_at_dot_words_are_not_personal_data(text):
    assert personal_data_spans(text) == []
    assert redact_personal_data(text) == text


def test_there_are_at_least_twenty_five_decoys():
    assert len(DECOYS) >= 25


def test_spelled_out_dot_com_after_at_is_flagged_by_design():
    # "<word> at <word> dot com" is the obfuscation layout itself (see the module docstring).
    assert find_personal_data("Stay at home dot com tonight.") == ["email address"]


def test_a_website_after_at_is_not_an_address_but_a_handle_or_provider_is():
    assert find_personal_data("Guided sessions at insighttimer.com help.") == []
    assert find_personal_data("Write j.doe at example.net today.") == ["email address"]
    assert find_personal_data("Write jane at protonmail.com today.") == ["email address"]


def test_redaction_works_on_the_original_text_and_keeps_its_unicode():
    text = "Café ☕ — write to jane@\u200bexample.com — and call ５５５-１２３-４５６７ ✨"
    assert redact_personal_data(text) == "Café ☕ — write to [EMAIL] — and call [PHONE] ✨"
    spans = personal_data_spans(text)
    assert [text[s:e] for _, s, e in spans] == ["jane@\u200bexample.com", "５５５-１２３-４５６７"]
    # "İ" lowercases to two characters: offsets must not move.
    text = "İstanbul İSTANBUL: write to JANE@EXAMPLE.COM or call 555-123-4567."
    assert redact_personal_data(text) == "İstanbul İSTANBUL: write to [EMAIL] or call [PHONE]."


def test_spans_are_ordered_non_overlapping_and_kinds_listed_once():
    text = ("Email jane@example.com or call (555) 123-4567; card 4539 1488 0343 6467. "
            "Her SSN 123-45-6789, home 742 Evergreen Terrace, London NW1 6XE. "
            "Or mail john@example.org. Life path 7.")
    spans = personal_data_spans(text)
    assert all(a[2] <= b[1] for a, b in zip(spans, spans[1:]))
    assert find_personal_data(text) == ["email address", "phone number", "card number",
                                        "national id number", "street address", "postcode"]
    assert redact_personal_data(text) == (
        "Email [EMAIL] or call [PHONE]; card [CARD]. Her SSN [ID], home [ADDRESS], London [POSTCODE]. "
        "Or mail [EMAIL]. Life path 7.")


def test_a_card_number_is_not_also_a_phone_or_an_id():
    assert find_personal_data("Card 4539 1488 0343 6467 tonight.") == ["card number"]


def test_the_labeled_insights_agree_with_their_labels():
    rows = [json.loads(line) for line in LABELED.read_text().splitlines() if line.strip()]
    flagged = {row["id"] for row in rows if find_personal_data(row["text"])}
    assert flagged == {row["id"] for row in rows if row["label"] == "personal_data"}
    assert flagged


def test_luhn():
    assert luhn_valid("4539148803436467") and not luhn_valid("4539148803436468")
    assert luhn_valid("378282246310005") and luhn_valid("0")


def test_empty_and_odd_input():
    assert personal_data_spans("") == [] and redact_personal_data("") == ""
    for text in ("\u200b", "@", " at dot ", "0", "+", "((((", "\u0301\u0301", "𝟙𝟙:𝟙𝟙"):
        assert redact_personal_data(text) == text


def test_100_kb_inputs_finish_with_the_right_answer():
    sentence = "Breathe for 22 minutes at 07:30, then write to jane@example.com about 444. "
    text = sentence * (100_000 // len(sentence) + 1)
    assert len(text) >= 100_000
    assert len(personal_data_spans(text)) == text.count("jane@example.com")
    assert "jane@" not in redact_personal_data(text)
    # Pathological runs: one long digit run, endless "at"/"dot" tokens, endless @ signs.
    for hostile in ("1 " * 50_000, "9" * 100_000, "jane dot " * 12_000, "a@" * 50_000,
                    "at " * 33_000, "(" * 100_000, "\u200b" * 100_000, "Street 1 " * 11_000):
        assert find_personal_data(hostile) == []


# --- layouts that were once known gaps ---------------------------------------------------------
# (sentence, what redaction must leave): each is found and removed without a trace.
FORMER_GAPS = [
    # digits spelled out: 7+ digits with a cue word, or 10+ digits
    ("Call me on five five five, one two three, four five six seven tonight.",
     "Call me on [PHONE] tonight."),
    ("Her mobile is oh seven seven double oh nine double oh one two three, so ring before eight.",
     "Her mobile is [PHONE], so ring before eight."),
    ("Text Sam on four one five - five five five - zero one three two after class.",
     "Text Sam on [PHONE] after class."),
    ("Save zero seven seven zero zero nine zero zero one two three in your favourites.",
     "Save [PHONE] in your favourites."),
    ("FIVE FIVE FIVE, ONE TWO THREE, FOUR FIVE SIX SEVEN is her number.", "[PHONE] is her number."),
    ("The number is triple seven, double oh, one two three.", "The number is [PHONE]."),
    # letters typed for digits
    ("Ring him on O7700 9OO123 before noon.", "Ring him on [PHONE] before noon."),
    ("His landline, O2O 7946 O958, rings in the hall.", "His landline, [PHONE], rings in the hall."),
    ("Keep +44 77OO 9OOl23 for emergencies.", "Keep [PHONE] for emergencies."),
    ("Your card 4539 l488 O343 6467 is in the drawer.", "Your card [CARD] is in the drawer."),
    # letter-spaced and comma-dotted addresses
    ("Write to j a n e @ g m a i l . c o m today.", "Write to [EMAIL] today."),
    ("Write to J O H N @ E X A M P L E . O R G today.", "Write to [EMAIL] today."),
    ("Write to j a n e at g m a i l dot c o m today.", "Write to [EMAIL] today."),
    ("Write to j.o.h.n.a.t.h.a.n at gmail dot com today.", "Write to [EMAIL] today."),
    ("Send the poem to jane@gmail,com tonight.", "Send the poem to [EMAIL] tonight."),
    ("Send the CV to d.okafor@example,org, then rest.", "Send the CV to [EMAIL], then rest."),
    # a line break inside a number
    ("Her line is 07700\n900123 if the evening gets long.", "Her line is [PHONE] if the evening gets long."),
    ("Ring +44 7700\n900123 on Sunday.", "Ring [PHONE] on Sunday."),
    ("Card 4539 1488 0343\n6467 paid for the retreat.", "Card [CARD] paid for the retreat."),
    # bare 10-12 digit numbers without a cue word
    ("Save 447700900123 before the trip.", "Save [PHONE] before the trip."),
    ("Save 14155550132 before the trip.", "Save [PHONE] before the trip."),
    ("Save 33612345678 before the trip.", "Save [PHONE] before the trip."),
    ("Save 4155550132 before the trip.", "Save [PHONE] before the trip."),
    ("Save 0612345678 before the trip.", "Save [PHONE] before the trip."),
    # streets without a street word, and continental postcodes on their own
    ("Visit her at Unter den Linden 77, 10117 Berlin next week.",
     "Visit her at [ADDRESS], [POSTCODE] Berlin next week."),
    ("She lives at Via Roma 12 near the station.", "She lives at [ADDRESS] near the station."),
    ("Send a card to Drottninggatan 5, 111 51 Stockholm.", "Send a card to [ADDRESS], [POSTCODE] Stockholm."),
    ("Send a card to Vesterbrogade 12, 1620 København.", "Send a card to [ADDRESS], [POSTCODE] København."),
    ("Send a card to ul. Marszałkowska 10, 00-001 Warszawa.", "Send a card to [ADDRESS], [POSTCODE] Warszawa."),
    ("Send a card to Rue Neuve 123, 1000 Bruxelles.", "Send a card to [ADDRESS], [POSTCODE] Bruxelles."),
    ("Send a card to Marie Dupont, 75002 Paris.", "Send a card to Marie Dupont, [POSTCODE] Paris."),
    ("Write to Frau Becker, D-10115 Berlin.", "Write to Frau Becker, [POSTCODE] Berlin."),
    ("Familie Wagner\nHauptstraße 5\n10115 Berlin", "Familie Wagner\n[ADDRESS]\n[POSTCODE] Berlin"),
    ("Bahnhofstrasse 1, 8001 Zürich is where it starts.", "[ADDRESS], [POSTCODE] Zürich is where it starts."),
    # a test card of repeated blocks, beside the word card
    ("Book it with your joint card, 5555 5555 5555 4444, exp 11/27.", "Book it with your joint card, [CARD], exp 11/27."),
]


@pytest.mark.parametrize("text,redacted", FORMER_GAPS)
def test_former_gaps_are_found_and_redacted(text, redacted):
    assert personal_data_spans(text)
    assert redact_personal_data(text) == redacted


def test_former_gaps_map_back_to_the_original_text():
    # Fullwidth letters and digits, zero-width joiners: spans cover the original characters.
    text = "Ring \uff2f\uff17\uff17\uff10\uff10 9\uff2f\uff2f123 or write j a n e @ g m a i l . c o m \u2728"
    assert redact_personal_data(text) == "Ring [PHONE] or write [EMAIL] \u2728"
    text = "Call five five\u200b five, one two three, four five six seven \u2014 please."
    assert redact_personal_data(text) == "Call [PHONE] \u2014 please."


# Number-heavy and word-heavy insight text around the new layouts: none of it is personal data.
FORMER_GAP_DECOYS = [
    "Repeat seven seven seven as you breathe, then count one two three four five six seven.",
    "Seven seven seven seven seven seven seven: let the number of the seeker fill the room.",
    "Seeing one one one, two two two, three three three? Your angel numbers are speaking.",
    "Call on the count: nine eight seven, six five four, three two one zero, and exhale.",
    "Breathe in for four, hold for seven, out for eight; call it the four seven eight breath.",
    "His lucky numbers are four, eight, fifteen, sixteen, twenty-three and forty-two.",
    "Write five five five on the mirror and two two two in your journal.",
    "Ring the bell one, two, three times, then text a friend one kind word.",
    "In 2026 I learned that 10 lessons, 3 oaths and 1 Oak tree are enough; O 12 Oh.",
    "Room 1O1, page lO and the I 2 l layout are typos, not numbers.",
    "Born 05062026? Then 050620261130 is the minute you arrived, and 20260306 the day.",
    "ISBN 3161484100 and order #447700900123 shipped; version v14155550132 is a build.",
    "Count 0123456789 and 9876543210, or 1234567890 for the ten breaths.",
    "Your angel row 07777777771 glows on the receipt.",
    "Samaritans: 116 123\n0800 1111 Childline\n988 for the US.",
    "Step 3\n4 breaths\n2026 goals\n444\n1111\n777 are your numbers.",
    "On March 3, 2026 Spring comes; in 1999 Prince sang; by 2026, 10000 Steps a day.",
    "Chapter 12, 2026 Goals and Psalm 23, 1999 Memories are on the shelf.",
    "Take 10,000 Steps, then rest. Level 3, 50000 Points. Page 212, 3000 Words.",
    "Verse 4, 12345 Angels sing. The year 2020, 2021 Brought change.",
    "Life Path 7, 11111 Light and a price of 1,25000 Euro are not places.",
    "Join via Zoom 10 minutes early; Via Negativa 3 is a book, Rue 5 a band.",
    "Meet @ 7, then home, com on. Tag @jane, com and find it at calm.com.",
    "Look at the moon, dot your i's, and let s o s @ h o m e stay a game.",
    "Lottery picks 4 15 23 42 8 and 16 came up; 1 1 2 3 5 8 13 21 is Fibonacci.",
    "Mind's infoline is 0300 123 3393; Lifeline 13 11 14; text HOME to 741741.",
]


@pytest.mark.parametrize("text", FORMER_GAP_DECOYS)
def test_former_gap_decoys_are_not_personal_data(text):
    assert personal_data_spans(text) == []


def test_100_kb_inputs_with_the_new_layouts_stay_fast():
    hostile = ["j a n e " * 12_500, "a @ b . c " * 10_000, "five five five " * 7_000,
               "seven, " * 14_000, "two oh " * 14_000, "double " * 14_000, "O7 " * 33_000,
               "0O" * 50_000, "1\n" * 50_000, "a@b,c" * 20_000, "j." * 50_000 + "j at gmail dot com",
               ", 10115 Berlin" * 7_000, "Unter den Linden 77, " * 5_000, "07700900123 " * 8_000]
    for text in hostile:
        start = time.perf_counter()
        personal_data_spans(text)
        assert time.perf_counter() - start < 1.0, text[:20]
