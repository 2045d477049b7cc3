"""Decoding guards (agents/runtime/guards.py) and the few-shot exemplars (agents/quality/exemplars.py).

Plain logic: no broker, no model (the engine's use of both is in tests/test_generate.py).
"""

from __future__ import annotations

import pytest

from kasper.agents.runtime.prompting import tier_sampling
from kasper.agents.quality.exemplars import Exemplar, ExemplarBook, from_approved, seed_exemplars, set_id
from kasper.agents.quality.prompts import build_messages, stop_labels, template
from kasper.agents.runtime.blas import mx
from kasper.agents.runtime.guards import (
    COPY,
    LABEL,
    LOOP,
    GuardSpec,
    RowGuard,
    first_person_bias,
    mark_seen,
    penalize,
    trim_to_sentence,
)
from kasper.schemas.errors import KasperError
from kasper.schemas.samples import sample_record
from kasper.streams.settings import GenerateSettings
from kasper.streams.synthetic_prompts import synthetic_prompt

# A stand-in tokenizer for the label guard: one token per word, ids index this vocabulary.
VOCAB = ["You", " walk", " slowly", ".", " Sun", " sign", ":", " Leo", " Life", " path", " number", "\n"]


def decode(tokens) -> str:
    return "".join(VOCAB[t] for t in tokens)


def feed_all(guard: RowGuard, tokens: list[int]):
    for token in tokens:
        hit = guard.feed(token)
        if hit is not None:
            return hit
    return None


# --- guards --------------------------------------------------------------------


def test_a_loop_stops_where_the_repeat_starts():
    guard = RowGuard(GuardSpec(loop_ngram=3), decode)
    # 1 2 3 4 | 1 2 3: the second "1 2 3" starts at index 4.
    assert feed_all(guard, [1, 2, 3, 4, 1, 2, 3, 9]) == (LOOP, 4)


def test_a_near_repeat_shorter_than_the_ngram_is_no_loop():
    guard = RowGuard(GuardSpec(loop_ngram=4), decode)
    assert feed_all(guard, [1, 2, 3, 9, 1, 2, 3, 8, 1, 2, 5]) is None


def test_copying_the_prompt_stops_at_the_copy():
    source = (50, 51, 52, 53, 54, 55)
    guard = RowGuard(GuardSpec(copy_ngram=4, source=source), decode)
    # Three tokens of the source are a quote; the fourth makes a copy that began at index 2.
    assert feed_all(guard, [1, 2, 51, 52, 53, 7]) is None
    guard = RowGuard(GuardSpec(copy_ngram=4, source=source), decode)
    assert feed_all(guard, [1, 2, 51, 52, 53, 54, 7]) == (COPY, 2)


def test_a_template_label_stops_before_the_label():
    guard = RowGuard(GuardSpec(stop_texts=("Sun sign:",)), decode)
    # "You walk slowly.\n Sun sign:" -> keep "You walk slowly.\n"
    assert feed_all(guard, [0, 1, 2, 3, 11, 4, 5, 6, 7]) == (LABEL, 5)
    # A colon that ends no label does not stop the row.
    guard = RowGuard(GuardSpec(stop_texts=("Sun sign:",)), decode)
    assert feed_all(guard, [0, 1, 6, 2, 3]) is None


def test_the_first_person_bias_covers_each_one_token_spelling():
    vocab = {"I": 1, " I": 2, " me": 3, " my": 4, "My": 5, " mine": 6}
    encode = lambda text: [vocab[text]] if text in vocab else [9, 9]  # noqa: E731
    assert first_person_bias(encode, -3.0) == tuple((t, -3.0) for t in (1, 2, 3, 4, 5, 6))


def test_an_empty_spec_guards_nothing():
    assert not GuardSpec().active
    assert not GuardSpec(copy_ngram=8).active  # nothing to compare with
    assert GuardSpec(loop_ngram=6).active and GuardSpec(copy_ngram=8, source=(1,)).active


@pytest.mark.parametrize(("text", "trimmed"), [
    ("You walk. Then you stop and", "You walk."),
    ("Tonight, rest! Tomorrow you", "Tonight, rest!"),
    ('You said "enough." And then the', 'You said "enough."'),
    ("no sentence end at all", "no sentence end at all"),
    ("Version 2.5 is here and", "Version 2.5 is here and"),  # a dot inside a number ends nothing
])
def test_a_cut_text_ends_at_its_last_whole_sentence(text, trimmed):
    assert trim_to_sentence(text) == trimmed


def test_the_repetition_penalty_lowers_seen_tokens_either_sign():
    logits = mx.array([[2.0, -1.0, 3.0], [2.0, -1.0, 3.0]])
    seen = mark_seen(mx.zeros((2, 3), dtype=mx.bool_), mx.array([0, 1]))
    out = penalize(logits, seen, mx.array([[2.0], [2.0]])).tolist()
    assert out[0] == [1.0, -1.0, 3.0]  # row 0 saw token 0: its positive logit halves
    assert out[1] == [2.0, -2.0, 3.0]  # row 1 saw token 1: its negative logit doubles
    same = penalize(logits, seen, mx.array([[1.0], [1.0]])).tolist()
    assert same == logits.tolist()  # 1.0 is off


def test_the_repetition_penalty_equals_ctrls_rule_bit_for_bit():
    # The full-vocabulary shape the engine uses, zeros included (either branch applies).
    logits = mx.random.normal((4, 49152), key=mx.random.key(3)) * 8
    logits = mx.where(mx.random.uniform(shape=logits.shape, key=mx.random.key(4)) < 0.01, 0.0, logits)
    seen = mx.random.uniform(shape=logits.shape, key=mx.random.key(5)) < 0.2
    penalty = mx.array([[1.1], [1.3], [2.0], [1.0]])
    rule = mx.where(seen, mx.where(logits > 0, logits / penalty, logits * penalty), logits)
    assert mx.array_equal(penalize(logits, seen, penalty), rule).item()


# --- sampling per tier -----------------------------------------------------------


def test_tiers_override_sampling_and_guards_and_unknown_keys_are_named():
    settings = GenerateSettings(tiers={"pro": {"temperature": 0.5, "loop_ngram": 8}})
    pro, lite = tier_sampling(settings, "pro"), tier_sampling(settings, "lite")
    assert (pro.temperature, pro.loop_ngram) == (0.5, 8)
    assert (lite.temperature, lite.loop_ngram) == (settings.temperature, settings.loop_ngram)
    assert "Life path number:" in pro.stop_at_labels and "Their request:" in pro.stop_at_labels
    assert tier_sampling(settings.updated(stop_at_labels=False), "pro").stop_at_labels == ()
    with pytest.raises(KasperError, match="pro.top_kk"):
        tier_sampling(GenerateSettings(tiers={"pro": {"top_kk": 3}}), "pro")


def test_stop_labels_cover_every_field_label_of_the_template():
    labels = stop_labels()
    for label in template()["context_labels"].values():
        assert f"{label}:" in labels


# --- exemplars -------------------------------------------------------------------


def approved(insight_id: str, domain: str, text: str, score: float, overall: float = 8.0,
             user: str | None = "u-1", **context) -> dict:
    record = sample_record("ApprovedInsight")
    record = {**record, "insight_id": insight_id,
              "insight": {**record["insight"], "insight_id": insight_id, "domain": domain, "text": text},
              "grade": {**record["grade"], "final_score": score, "gate_failures": []},
              "verdict": {**record["verdict"], "overall": overall, "safety": None},
              "prompt": {**record["prompt"], "domain": domain, "user_hash": user,
                         "context": {"sun_sign": "Leo", "journal_snippet": "my own private words"} | context}}
    return record


TEXT = ("You have carried this question for weeks, and the Leo in you wants an answer today. "
        "Let the answer wait one more evening. Notice what your body does when you imagine each "
        "choice: the one that lets your shoulders drop is worth a closer look. Tonight, write both "
        "choices on one page and circle the words that feel like yours.")


def test_seed_exemplars_cover_every_domain():
    seeds = seed_exemplars()
    assert set(seeds) == set(template()["domains"]) and all(len(v) >= 2 for v in seeds.values())


def test_an_approved_exemplar_carries_no_user_words_and_no_personal_data():
    text = TEXT + " Mail me at jane.doe@example.com if you like."
    exemplar = from_approved(approved("a-1", "astrology", text, 0.9))
    assert exemplar is not None
    assert "journal_snippet" not in exemplar.context and exemplar.context["sun_sign"] == "Leo"
    assert "jane.doe@example.com" not in exemplar.text
    assert exemplar.score == pytest.approx((0.9 + 0.8) / 2)
    gated = approved("a-2", "astrology", TEXT, 0.9)
    gated["grade"]["gate_failures"] = ["medical_directive: stop taking"]
    assert from_approved(gated) is None
    assert from_approved(approved("a-3", "astrology", "You. Tonight, rest.", 0.9)) is None  # too short


def test_the_book_keeps_the_best_shows_no_one_their_own_and_ignores_redelivery():
    book = ExemplarBook(per_prompt=2, keep=3)
    seeds = [e.ident for e in seed_exemplars()["astrology"]]
    set0, shown = book.choose("astrology")
    assert [e.ident for e in shown] == seeds[:2]
    assert book.offer(approved("a-1", "astrology", TEXT, 0.8, user="u-1"))
    assert book.offer(approved("a-2", "astrology", TEXT.replace("weeks", "months"), 0.95, user="u-2"))
    assert not book.offer(approved("a-2", "astrology", TEXT.replace("weeks", "months"), 0.95, user="u-2"))
    set1, shown = book.choose("astrology", user_hash="u-9")
    assert [e.ident for e in shown] == ["a-2", "a-1"] and set1 != set0
    # u-2 never sees their own text: the next best, then a seed, fill in.
    _, shown = book.choose("astrology", user_hash="u-2")
    assert [e.ident for e in shown] == ["a-1", seeds[0]]
    # The same set, asked again, has the same id (the prefix cache is reused).
    assert book.choose("astrology", user_hash="u-9")[0] == set1
    # Other domains keep their seeds.
    assert [e.ident for e in book.choose("career")[1]] == [e.ident for e in seed_exemplars()["career"][:2]]
    assert ExemplarBook(per_prompt=0).choose("career") == (None, [])


def test_exemplars_are_earlier_turns_before_the_prompt():
    prompt = synthetic_prompt(3, seed=5)
    shown = list(seed_exemplars()[prompt["domain"]][:2])
    messages = build_messages(prompt, exemplars=shown)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert messages[2]["content"] == shown[0].text and messages[4]["content"] == shown[1].text
    assert messages[-1] == build_messages(prompt)[-1]
    assert set_id(shown).startswith(prompt["domain"] + "-")
    assert set_id(shown) != set_id(shown[::-1])


def test_exemplar_fields():
    e = Exemplar("x", "career", {"focus": "rest"}, "You rest.", 0.5)
    assert e.user_hash is None
