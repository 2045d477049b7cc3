"""Agreement statistics against values worked out by hand, ties, and degenerate input;
the route role's rubric-judge agreement metrics."""

from __future__ import annotations

import math

import pytest
from prometheus_client import REGISTRY

from kasper.agents.quality.agreement import (
    DECISIONS, AgreementError, cohen_kappa, confusion, grade_decision, ranks, spearman,
    thumbs_decision, verdict_decision, weighted_kappa,
)
from kasper.agents.route import AgreementWindow, rejected, route
from kasper.schemas.errors import KasperError
from kasper.schemas.samples import sample_record


def _table(yy: int, yn: int, ny: int, nn: int) -> tuple[list[str], list[str]]:
    """Two raters' labels from a 2x2 table (rows: rater A, columns: rater B)."""
    cells = [("yes", "yes")] * yy + [("yes", "no")] * yn + [("no", "yes")] * ny + [("no", "no")] * nn
    return [x for x, _ in cells], [y for _, y in cells]


@pytest.mark.parametrize("cells, expected", [
    # p_o = 35/50 = 0.7; p_e = 0.5*0.6 + 0.5*0.4 = 0.5; (0.7 - 0.5) / 0.5
    ((20, 5, 10, 15), 0.4),
    # Same p_o = 0.6 twice, different marginals: p_e = 0.54 -> 0.06/0.46, p_e = 0.46 -> 0.14/0.54
    ((45, 15, 25, 15), 0.06 / 0.46),
    ((25, 35, 5, 35), 0.14 / 0.54),
])
def test_cohen_kappa_on_textbook_two_by_two_tables(cells, expected):
    a, b = _table(*cells)
    assert cohen_kappa(a, b) == pytest.approx(expected, abs=1e-12)
    assert cohen_kappa(b, a) == pytest.approx(expected, abs=1e-12)  # symmetric


# Three decisions, four items: pairs (REJECT,REVISE) (REVISE,REVISE) (APPROVE,APPROVE) (APPROVE,REJECT).
A = ["REJECT", "REVISE", "APPROVE", "APPROVE"]
B = ["REVISE", "REVISE", "APPROVE", "REJECT"]


def test_unweighted_kappa_on_three_decisions():
    # agree 2 of 4; marginals A (1,1,2), B (1,2,1): sum r*c = 1+2+2 = 5 -> (4*2-5)/(16-5)
    assert cohen_kappa(A, B, labels=DECISIONS) == pytest.approx(3 / 11)


def test_weighted_kappa_linear_and_quadratic_by_hand():
    # Linear costs 0, 1/2, 1: observed 1/2 + 1 = 1.5; expected sum w*r*c / n = 7/4 -> 1 - 6/7.
    assert weighted_kappa(A, B, weights="linear") == pytest.approx(1 / 7)
    # Quadratic costs 0, 1/4, 1: observed 1/4 + 1 = 1.25; expected 5/4 -> exactly chance.
    assert weighted_kappa(A, B, weights="quadratic") == pytest.approx(0.0, abs=1e-12)


def test_weighted_kappa_tells_a_near_miss_from_a_reversal():
    near = weighted_kappa(["APPROVE", "REVISE", "REJECT"], ["REVISE", "REVISE", "REJECT"])
    reversal = weighted_kappa(["APPROVE", "REVISE", "REJECT"], ["REJECT", "REVISE", "REJECT"])
    assert near > reversal
    # Unweighted kappa cannot tell them apart: one disagreement each.
    assert cohen_kappa(["APPROVE", "REVISE", "REJECT"], ["REVISE", "REVISE", "REJECT"]) == \
        cohen_kappa(["APPROVE", "REVISE", "REJECT"], ["REJECT", "REVISE", "REJECT"])


def test_perfect_agreement_and_the_worst_disagreement():
    assert cohen_kappa(A, A) == 1.0 and weighted_kappa(A, A, weights="quadratic") == 1.0
    assert cohen_kappa(["x", "y"] * 5, ["y", "x"] * 5) == -1.0


def test_degenerate_inputs_are_defined_and_never_divide_by_zero():
    assert math.isnan(cohen_kappa([], [])) and math.isnan(weighted_kappa([], []))
    # Both raters in one same category: agreement is total, kappa is 1 by convention.
    assert cohen_kappa(["APPROVE"] * 4, ["APPROVE"] * 4) == 1.0
    assert weighted_kappa(["APPROVE"] * 4, ["APPROVE"] * 4, weights="quadratic") == 1.0
    # One rater constant: 3 of 4 agree, yet kappa is 0 (the rubric on LLM-judged pairs).
    judge = ["APPROVE", "APPROVE", "APPROVE", "REVISE"]
    assert cohen_kappa(["APPROVE"] * 4, judge) == 0.0
    assert weighted_kappa(["APPROVE"] * 4, judge) == pytest.approx(0.0, abs=1e-12)
    # Each constant in a different category: they never agree and chance says so too.
    assert cohen_kappa(["APPROVE"] * 3, ["REJECT"] * 3) == 0.0
    assert weighted_kappa(["only"] * 3, ["only"] * 3, labels=["only"]) == 1.0


def test_bad_input_is_an_agreement_error():
    with pytest.raises(AgreementError, match="same items"):
        cohen_kappa(["APPROVE"], [])
    with pytest.raises(AgreementError, match="MAYBE"):
        weighted_kappa(["MAYBE"], ["APPROVE"])
    with pytest.raises(AgreementError, match="cubic"):
        weighted_kappa(A, B, weights="cubic")
    with pytest.raises(AgreementError, match="as many"):
        spearman([1, 2, 3], [1, 2])
    assert issubclass(AgreementError, KasperError)


def test_confusion_counts_every_cell():
    table = confusion(A, B)
    assert table["APPROVE"] == {"REJECT": 1, "REVISE": 0, "APPROVE": 1}
    assert table["REJECT"]["REVISE"] == 1 and table["REVISE"]["REVISE"] == 1
    assert sum(sum(row.values()) for row in table.values()) == 4


def test_spearman_without_ties_matches_the_textbook_value():
    # IQ against hours of TV per week, ten people: sum d^2 = 194 -> 1 - 6*194/(10*99) = -29/165.
    iq = [106, 100, 86, 101, 99, 103, 97, 113, 112, 110]
    tv = [7, 27, 2, 50, 28, 29, 20, 12, 6, 17]
    assert spearman(iq, tv) == pytest.approx(-29 / 165)


def test_spearman_ranks_with_ties():
    assert ranks([10, 20, 20, 30]) == [1.0, 2.5, 2.5, 4.0]
    assert ranks([5, 5, 5]) == [2.0, 2.0, 2.0]
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ranks x (1, 2.5, 2.5, 4), y (1, 3, 2, 4): cov 4.5 over sqrt(4.5 * 5)
    assert spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(4.5 / math.sqrt(4.5 * 5))
    assert math.isnan(spearman([1, 2], [1, 2])) and math.isnan(spearman([1, 1, 1], [1, 2, 3]))


def test_grades_verdicts_and_thumbs_map_onto_one_scale():
    assert grade_decision({"passed": True, "gate_failures": []}) == "APPROVE"
    assert grade_decision({"passed": False, "gate_failures": []}) == "REVISE"
    assert grade_decision({"passed": False}) == "REVISE"  # a grade written before gates
    assert grade_decision({"passed": False, "gate_failures": ["personal_data: email address"]}) == "REJECT"
    assert [verdict_decision({"recommendation": d}) for d in DECISIONS] == list(DECISIONS)
    with pytest.raises(AgreementError):
        verdict_decision({"recommendation": "MAYBE"})
    assert thumbs_decision({"rating": "up"}) == "APPROVE"
    assert thumbs_decision({"rating": "down"}) == "REJECT"
    assert thumbs_decision({"rating": "none", "stars": 5}) is None


# The route role's gauge and counter: real metrics in the process registry, read back.

def _verdict(decision: str, passed: bool, grader: str, judge: str = "judge-test") -> dict:
    record = sample_record("Verdict")
    record["recommendation"], record["rubric_version"] = decision, judge
    record["grade"]["passed"], record["grade"]["grader_version"] = passed, grader
    record["grade"]["gate_failures"] = []
    return record


def _kappa(grader: str, judge: str = "judge-test") -> float | None:
    return REGISTRY.get_sample_value("kasper_quality_agreement_kappa", {
        "pair": "rubric_judge", "rubric_version": grader, "judge_rubric_version": judge})


def _pairs(grader: str, rubric: str, judge: str) -> float | None:
    return REGISTRY.get_sample_value("kasper_quality_agreement_pairs_total", {
        "pair": "rubric_judge", "rubric_version": grader, "judge_rubric_version": "judge-test",
        "rubric_decision": rubric, "judge_decision": judge})


def test_the_router_gauges_rubric_judge_kappa_on_llm_judged_verdicts_only():
    window = AgreementWindow(size=10)
    for decision in ("APPROVE", "APPROVE", "REVISE"):
        route(_verdict(decision, True, "rubric-gauge"), agreement=window)
    # The rubric's own REVISE of a failed grade and the router's final REJECT are no pairs.
    route(_verdict("REVISE", False, "rubric-gauge"), agreement=window)
    route(rejected(_verdict("REVISE", True, "rubric-gauge"), "still REVISE"), agreement=window)
    assert _pairs("rubric-gauge", "APPROVE", "APPROVE") == 2.0
    assert _pairs("rubric-gauge", "APPROVE", "REVISE") == 1.0
    assert _pairs("rubric-gauge", "REVISE", "REVISE") is None
    assert _kappa("rubric-gauge") == 0.0  # the rubric is APPROVE on every judged pair


def test_the_agreement_window_keeps_the_last_pairs_per_version_pair():
    window = AgreementWindow(size=3)
    assert window.add(("r", "j"), "APPROVE", "REVISE") == 0.0
    for _ in range(3):
        kappa = window.add(("r", "j"), "APPROVE", "APPROVE")
    assert kappa == 1.0  # the disagreement left the window
    assert window.add(("r2", "j"), "REVISE", "REJECT") == 0.0  # another version: its own window
    route(_verdict("APPROVE", True, "rubric-window"), agreement=window)
    assert _kappa("rubric-window") == 1.0
    with pytest.raises(ValueError):
        AgreementWindow(size=0)


def test_route_without_a_window_leaves_the_gauge_alone():
    route(_verdict("APPROVE", True, "rubric-none"))
    assert _kappa("rubric-none") is None and _pairs("rubric-none", "APPROVE", "APPROVE") is None
