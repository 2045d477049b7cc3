"""The quality signal on the labeled corpus: gates, personal data, rubric v2 (and v1), judge.

Reads ``tests/data/quality/*_{dev,holdout}.jsonl`` (each line: id, label, kind, domain,
context, text, expect_pass, human) and prints, for the part asked for (``--part``,
default ``holdout``: the part nothing was tuned on):

- gate recall on harmful texts and false positives on their safe counterparts;
- personal-data recall, and false positives on number-heavy decoys;
- how many salad, loop and injection texts pass (goal: none);
- the pass rate of strong plain-language insights (goal >= 0.9) and of all good ones;
- ``semantic_layer``: the same gate figures and pass rates with the model layers on, as
  the grade stage runs them: the semantic layer
  (:mod:`kasper.agents.quality.harm.semantic`) ORed with the rules, and rubric-2.2's salad
  head (:mod:`kasper.agents.quality.salad`); and the gates' speed (texts/s over the part,
  one process, batch of one text per call) with and without the semantic layer;
- Spearman between the rubric's final score and the human decision
  (REJECT < REVISE < APPROVE), for rubric v2 and, to compare, v1; Cohen's kappa of the
  rubric's decision (pass, gated, else revise) against the human one;
- the score gap between strong texts and salad / generic ones (also under
  ``semantic_layer``: ``kasper grade`` runs the model layers too);
- with ``--judge``: every text through ``kasper judge --json`` against the configured
  judge (the embedded one when no URL is set), and Cohen's kappa of its
  recommendation against the human decision.

    python bench/bench_quality.py [--part holdout|dev|all] [--judge [--judge-limit N]] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from kasper.agents.quality import salad
from kasper.agents.quality.agreement import DECISIONS, cohen_kappa, grade_decision, spearman, weighted_kappa
from kasper.agents.quality.gates import check_gates
from kasper.agents.quality.rubric import Rubric

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "quality"
_DIRECTIVE_GATES = ("medical_directive", "legal_financial_directive", "self_harm", "eating_disorder",
                    "hateful", "injection")
_ORDER = {d: i for i, d in enumerate(DECISIONS)}


def load(part: str) -> list[dict]:
    """Every labeled row of the part (``dev``, ``holdout`` or ``all``)."""
    parts = ("dev", "holdout") if part == "all" else (part,)
    rows = []
    for name in parts:
        for path in sorted(CORPUS.glob(f"*_{name}.jsonl")):
            rows += [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    if not rows:
        raise SystemExit(f"no labeled rows for part {part!r} under {CORPUS}")
    return rows


def _rate(hits: int, total: int) -> float:
    return round(hits / total, 4) if total else math.nan


def grade_all(rows: list[dict]) -> None:
    """Add each row's v2 and v1 grades and its gate failures."""
    v2, v1, v2m = Rubric(), Rubric(version="rubric-1.0"), Rubric(semantic=True)
    for row in rows:
        row["v2"] = v2.grade(row["text"], row.get("domain"), row.get("context"))
        row["v2m"] = v2m.grade(row["text"], row.get("domain"), row.get("context"))
        row["v1"] = v1.grade(row["text"], row.get("domain"))
        row["gates"] = check_gates(row["text"], semantic=False)
        row["gates_semantic"] = check_gates(row["text"], semantic=True)


def gate_speed(rows: list[dict]) -> dict:
    """Texts/s of :func:`check_gates` over the rows' texts, rules only and with the semantic
    layer (its model already loaded; its per-text cache cleared first)."""
    from kasper.agents.quality.harm import injection_head, semantic

    texts = [r["text"] for r in rows]
    out = {}
    for name, flag in (("rules_only", False), ("with_semantic", True)):
        semantic._cached.cache_clear()
        injection_head.find_injection.cache_clear()
        t0 = time.perf_counter()
        for text in texts:
            check_gates(text, semantic=flag)
        out[f"gates_texts_per_s_{name}"] = round(len(texts) / (time.perf_counter() - t0), 1)
    semantic._cached.cache_clear()
    t0 = time.perf_counter()
    semantic.find_semantic_batch(texts)
    out["semantic_batched_texts_per_s"] = round(len(texts) / (time.perf_counter() - t0), 1)
    return out


def semantic_figures(rows: list[dict]) -> dict:
    """The gate figures and pass rates with the model layers on (the grade stage's rubric)."""
    gated = lambda r: any(g.split(":")[0] in _DIRECTIVE_GATES for g in r["gates_semantic"])  # noqa: E731
    harmful = [r for r in rows if r["label"] == "harmful"]
    safe = [r for r in rows if r["label"] == "safe_counterpart" and r.get("kind") != "numbers"]
    passed = lambda r: r["v2m"].passed  # noqa: E731
    strong = [r for r in rows if r["label"] == "good" and r.get("kind") == "plain"]
    good = [r for r in rows if r["label"] == "good"]
    return {
        "gate_recall_harmful": _rate(sum(map(gated, harmful)), len(harmful)),
        "gate_recall_by_kind": {k: _rate(sum(gated(r) for r in harmful if r.get("kind") == k),
                                         sum(r.get("kind") == k for r in harmful))
                                for k in sorted({r.get("kind", "") for r in harmful})},
        "safe_false_positive_rate": _rate(sum(bool(r["gates_semantic"]) for r in safe), len(safe)),
        "good_flagged_rate": _rate(sum(bool(r["gates_semantic"]) for r in good), len(good)),
        "strong_plain_pass_rate": _rate(sum(map(passed, strong)), len(strong)),
        "good_pass_rate": _rate(sum(map(passed, good)), len(good)),
        "semantic_reasons": sum(": semantic:" in g for r in rows for g in r["gates_semantic"]),
        "bad_passed": {lab: sum(passed(r) for r in rows if r["label"] == lab) for lab in ("salad", "loop", "injection")},
        "bad_passed_ids": [r["id"] for r in rows if r["label"] in ("salad", "loop", "injection") and passed(r)],
        "good_failed": [(r["id"], r["v2m"].final_score) for r in good if not passed(r)],
        "salad_head_flagged": {lab: sum(salad.is_salad(r["text"])[0] for r in rows if r["label"] == lab)
                               for lab in ("salad", "good", "generic")},
        **_gaps(rows, "v2m"),
    }


def _gaps(rows: list[dict], version: str) -> dict:
    """How far good and strong texts score above salad and generic ones under ``version``
    (the issue's check: strong texts at least 0.2 above salad and generic ones)."""
    score = lambda r: r[version].final_score  # noqa: E731
    good = [score(r) for r in rows if r["label"] == "good"]
    strong = [score(r) for r in rows if r["label"] == "good" and r.get("kind") == "plain"]
    low = [score(r) for r in rows if r["label"] in ("salad", "generic")]
    if not (good and strong and low):
        return {}
    return {"gap_mean_good_minus_max_salad_generic": round(statistics.fmean(good) - max(low), 3),
            "gap_min_strong_minus_mean_salad_generic": round(min(strong) - statistics.fmean(low), 3),
            "gap_mean_strong_minus_mean_salad_generic": round(statistics.fmean(strong) - statistics.fmean(low), 3)}


def figures(rows: list[dict]) -> dict:
    """The corpus figures (see the module docstring)."""
    def where(label: str, kind: str | None = None) -> list[dict]:
        return [r for r in rows if r["label"] == label and (kind is None or r.get("kind") == kind)]

    harmful = where("harmful")
    safe = [r for r in where("safe_counterpart") if r.get("kind") != "numbers"]
    decoys = where("safe_counterpart", "numbers")
    pii = where("personal_data")
    gated = lambda r: any(g.split(":")[0] in _DIRECTIVE_GATES for g in r["gates"])  # noqa: E731
    pii_hit = lambda r: any(g.startswith("personal_data") for g in r["gates"])  # noqa: E731
    strong = where("good", "plain")
    good = where("good")
    bad_labels = ("salad", "loop", "injection")
    out: dict = {
        "rows": len(rows), "labels": dict(Counter(r["label"] for r in rows)),
        "gate_recall_harmful": _rate(sum(map(gated, harmful)), len(harmful)),
        "gate_recall_by_kind": {k: _rate(sum(gated(r) for r in harmful if r.get("kind") == k),
                                         sum(r.get("kind") == k for r in harmful))
                                for k in sorted({r.get("kind", "") for r in harmful})},
        "missed_harmful": [r["id"] for r in harmful if not gated(r)],
        "safe_false_positive_rate": _rate(sum(bool(r["gates"]) for r in safe), len(safe)),
        "safe_flagged": [(r["id"], r["gates"]) for r in safe if r["gates"]],
        "pii_recall": _rate(sum(map(pii_hit, pii)), len(pii)),
        "missed_pii": [r["id"] for r in pii if not pii_hit(r)],
        "number_decoys_flagged": _rate(sum(map(pii_hit, decoys)), len(decoys)),
        "bad_passed": {lab: sum(r["v2"].passed for r in where(lab)) for lab in bad_labels},
        "bad_passed_ids": [r["id"] for r in rows if r["label"] in bad_labels and r["v2"].passed],
        "strong_plain_pass_rate": _rate(sum(r["v2"].passed for r in strong), len(strong)),
        "good_pass_rate": _rate(sum(r["v2"].passed for r in good), len(good)),
        "good_failed": [(r["id"], r["v2"].final_score) for r in good if not r["v2"].passed],
        "pass_rate_by_label": {lab: _rate(sum(r["v2"].passed for r in where(lab)), len(where(lab)))
                               for lab in sorted({r["label"] for r in rows})},
        "mean_score_by_label": {lab: round(statistics.fmean(r["v2"].final_score for r in where(lab)), 3)
                                for lab in sorted({r["label"] for r in rows})},
    }
    human = [_ORDER[r["human"]] for r in rows]
    # The rubric and gates as a rater (pass: APPROVE, gated: REJECT, else REVISE).
    decided = [grade_decision({"passed": r["v2"].passed, "gate_failures": r["v2"].gate_failures}) for r in rows]
    out["rubric_kappa_vs_human"] = round(cohen_kappa(decided, [r["human"] for r in rows], DECISIONS), 4)
    for version in ("v2", "v1"):
        out[f"spearman_{version}_vs_human"] = round(spearman([r[version].final_score for r in rows], human), 4)
    out.update(_gaps(rows, "v2"))
    return out


def spread(rows: list[dict], limit: int | None) -> list[dict]:
    """Every row, or ``limit`` rows taken evenly from the rows ordered by label (so every
    label keeps its share)."""
    if limit is None or limit >= len(rows):
        return rows
    ordered = sorted(rows, key=lambda r: (r["label"], r["id"]))
    return [ordered[i * len(ordered) // limit] for i in range(limit)]


def judge_all(rows: list[dict]) -> dict:
    """Every row through ``kasper judge --json``; kappa of its recommendation vs the human one."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "corpus.jsonl"
        source.write_text("".join(json.dumps({"insight_id": r["id"], "prompt_id": r["id"], "text": r["text"],
                                              "domain": r.get("domain"), "context": r.get("context") or {}})
                                  + "\n" for r in rows), "utf-8")
        kasper = Path(sys.executable).with_name("kasper")
        done = subprocess.run([str(kasper), "judge", str(source), "--json"], capture_output=True,
                              text=True, check=False)
    verdicts = {}
    for line in done.stdout.splitlines():
        if line.strip().startswith("{"):
            verdict = json.loads(line)
            verdicts[verdict["insight_id"]] = verdict["recommendation"]
    pairs = [(verdicts[r["id"]], r["human"]) for r in rows if r["id"] in verdicts]
    judged, human = [p[0] for p in pairs], [p[1] for p in pairs]
    return {
        "judge_exit": done.returncode, "judged": len(pairs), "not_judged": len(rows) - len(pairs),
        "judge_kappa_vs_human": round(cohen_kappa(judged, human, DECISIONS), 4) if pairs else math.nan,
        "judge_weighted_kappa_vs_human": round(weighted_kappa(judged, human, DECISIONS), 4) if pairs else math.nan,
        "judge_decisions": dict(Counter(judged)),
        "judge_approved_harmful": [r["id"] for r in rows if verdicts.get(r["id"]) == "APPROVE"
                                   and r["human"] == "REJECT"],
        "judge_stderr_tail": done.stderr.strip().splitlines()[-3:],
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("holdout", "dev", "all"), default="holdout")
    parser.add_argument("--judge", action="store_true", help="also run kasper judge over the part")
    parser.add_argument("--judge-limit", type=int, default=None, metavar="N",
                        help="judge an even spread of N rows across labels (the embedded judge is slow)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)
    rows = load(args.part)
    grade_all(rows)
    out = {"part": args.part, **figures(rows)}
    out["semantic_layer"] = {**semantic_figures(rows), **gate_speed(rows)}
    if args.judge:
        out.update(judge_all(spread(rows, args.judge_limit)))
    print(json.dumps(out, indent=None if args.json else 1, default=str))
    return out


if __name__ == "__main__":
    main()
