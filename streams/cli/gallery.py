"""The report's gallery: the run's texts with their scores and the judge's words.

The best and the worst approved insights, rejected ones with the judge's rationale,
dead letters with their reasons, and a few revise chains (attempt 1, the notes it
got, attempt 2, ...); each text with its rubric criterion scores and the judge's
scores. With the embedded default few prompts are approved, so the rejected
texts and the revise chains carry most of what a reader learns.

Every text is escaped: insights are untrusted model output, and reasons and
rationales quote them. Free text (insights, contexts, notes, rationales, reasons)
also has its personal data redacted (``[EMAIL]``, ``[PHONE]``...), as in the
trainer's window files: a report is read, and passed around, more widely than the
topics it is drawn from. The run's record files keep the records as they were.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Any

from kasper.agents.quality.personal_data import redact_personal_data
from kasper.streams.cli.outcomes import Attempt, PromptHistory, reason

SHOWN = 3  # best and worst approved, revise chains
SHOWN_REJECTED = 5
SHOWN_LETTERS = 5

CSS = (".card{border:1px solid #ccc;border-radius:4px;padding:.5rem .8rem;margin:.6rem 0}"
       ".card blockquote{white-space:pre-wrap;margin:.4rem 0;padding:.4rem .6rem;background:#f6f6f6}"
       ".meta{color:#555;font-size:.85rem}.scores{font-size:.8rem;margin:.3rem 0}"
       ".scores td,.scores th{padding:.1rem .4rem}.notes{margin:.3rem 0 .3rem 1.5rem;color:#7a4f00}"
       ".approve{color:#2a7d6f}.revise{color:#9a7400}.reject{color:#c0392b}")


def _free(text: str) -> str:
    """Free text as HTML: personal data redacted, then escaped."""
    return escape(redact_personal_data(text))


def gallery_html(histories: dict[str, PromptHistory], letters: Iterable[dict[str, Any]] = ()) -> str:
    """The gallery section of report.html (``letters``: every dead letter, with ``original`` decoded or None)."""
    runs = list(histories.values())
    letters = list(letters)
    by_outcome = {o: [h for h in runs if h.outcome == o] for o in ("approved", "rejected", "dead-lettered",
                                                                   "pending")}
    revised = [h for h in runs if len(_written(h)) > 1]
    head = (f"<h2>Insights</h2><p>{len(runs)} prompts: "
            + ", ".join(f"{len(v)} {k}" for k, v in by_outcome.items() if v or k != "pending")
            + f"; {len(revised)} revised at least once. Texts are the model's, shown as written.</p>")
    return "".join([f"<style>{CSS}</style>", head, _approved(by_outcome["approved"]),
                    _rejected(by_outcome["rejected"]), _chains(revised), _letters(letters)])


def _approved(approved: list[PromptHistory]) -> str:
    if not approved:
        return "<h3>Approved</h3><p>No insight was approved in this run.</p>"
    ranked = sorted(approved, key=_rank, reverse=True)
    if len(ranked) <= 2 * SHOWN:
        return (f"<h3>Approved ({len(ranked)}), best first</h3>"
                + "".join(_approved_card(h) for h in ranked))
    return (f"<h3>Best approved ({SHOWN} of {len(ranked)})</h3>" + "".join(_approved_card(h) for h in ranked[:SHOWN])
            + f"<h3>Worst approved ({SHOWN} of {len(ranked)})</h3>"
            + "".join(_approved_card(h) for h in ranked[-SHOWN:]))


def _rank(history: PromptHistory) -> tuple[float, float]:
    record = history.approved or {}
    verdict, grade = record.get("verdict") or {}, record.get("grade") or {}
    return (verdict.get("overall", 0.0), grade.get("final_score", 0.0))


def _approved_card(history: PromptHistory) -> str:
    record = history.approved or {}
    attempt = Attempt(record["insight"]["attempt"], record["insight"], record["grade"], [record["verdict"]])
    return _card(history, attempt)


def _rejected(rejected: list[PromptHistory]) -> str:
    if not rejected:
        return "<h3>Rejected</h3><p>No prompt was rejected.</p>"
    # The judge's own rejections first: they carry its words; then the ones out of attempts.
    ordered = sorted(rejected, key=lambda h: (not _judged_reject(h), -h.attempts_made))
    shown = ordered[:SHOWN_REJECTED]
    return (f"<h3>Rejected ({len(shown)} of {len(rejected)}), with the judge's words</h3>"
            + "".join(_card(h, h.last, why=reason(h)) for h in shown if h.last is not None))


def _judged_reject(history: PromptHistory) -> bool:
    last = history.last
    return bool(last and last.judged and last.judged["recommendation"] == "REJECT")


def _chains(revised: list[PromptHistory]) -> str:
    if not revised:
        return "<h3>Revise chains</h3><p>No prompt was sent back for revision.</p>"
    # Chains that ended approved first (what the revisions bought), then the longest.
    order = {"approved": 0, "rejected": 1, "dead-lettered": 2}
    shown = sorted(revised, key=lambda h: (order.get(h.outcome, 3), -len(_written(h))))[:SHOWN]
    parts = [f"<h3>Revise chains ({len(shown)} of {len(revised)})</h3>"]
    for history in shown:
        parts.append(f"<h4>{escape(history.prompt_id)}: {len(_written(history))} attempts, "
                     f"{escape(history.outcome)}</h4>")
        previous: Attempt | None = None
        for attempt in _written(history):
            # The notes this attempt was written with, unless the card before shows them already.
            notes = history.notes.get(attempt.number)
            shown = previous.verdict.get("revise_notes") if previous and previous.verdict else None
            if notes and notes != shown:
                parts.append(f"<p class=\"notes\">&darr; attempt {attempt.number + 1} was asked: "
                             f"{_free(notes)}</p>")
            parts.append(_card(history, attempt))
            previous = attempt
    return "".join(parts)


def _written(history: PromptHistory) -> list[Attempt]:
    return sorted((a for a in history.attempts.values() if a.insight is not None), key=lambda a: a.number)


def _letters(letters: list[dict[str, Any]]) -> str:
    if not letters:
        return "<h3>Dead letters</h3><p>None.</p>"
    rows = []
    for letter in letters[:SHOWN_LETTERS]:
        where = (f"{letter.get('original_topic')}[{letter.get('original_partition')}]"
                 f"@{letter.get('original_offset')}")
        text = _text_of(letter.get("original"))
        rows.append(f"<div class=\"card\"><div class=\"meta\">stage {escape(letter['stage'])} &middot; "
                    f"{escape(letter['error_type'])} &middot; from {escape(where)}</div>"
                    f"<p>{_free(letter['reason'])}</p>"
                    + (f"<blockquote>{_free(text)}</blockquote>" if text else
                       "<p class=\"meta\">(the original record did not decode, or has no text)</p>")
                    + "</div>")
    return f"<h3>Dead letters ({len(rows)} of {len(letters)}), with their reasons</h3>" + "".join(rows)


def _text_of(original: dict[str, Any] | None) -> str:
    """The insight text a dead-lettered record holds, if any (Insight, Grade, Verdict)."""
    while original is not None:
        if isinstance(original.get("text"), str):
            return original["text"]
        original = original.get("insight") or original.get("grade")
    return ""


def _card(history: PromptHistory, attempt: Attempt, why: str = "") -> str:
    insight = attempt.insight or {}
    prompt = history.prompt or insight.get("prompt") or {}
    context = ", ".join(f"{k}: {v}" for k, v in (prompt.get("context") or {}).items())
    meta = " &middot; ".join(escape(str(x)) for x in (
        history.prompt_id, f"{insight.get('domain', prompt.get('domain', '?'))}/"
                           f"{insight.get('tier', prompt.get('tier', '?'))}",
        f"attempt {attempt.number + 1}", insight.get("adapter_version") or insight.get("model", "?")) if x)
    return ("<div class=\"card\">"
            f"<div class=\"meta\">{meta}" + (f"<br>context: {_free(context)}" if context else "") + "</div>"
            f"<blockquote>{_free(insight.get('text', ''))}</blockquote>"
            + _rubric(attempt.grade) + _judge(attempt)
            + (f"<p><b>why rejected:</b> {_free(why)}</p>" if why else "") + "</div>")


def _rubric(grade: dict[str, Any] | None) -> str:
    if grade is None:
        return "<p class=\"meta\">no grade seen</p>"
    scores = grade["scores"]
    head = "".join(f"<th>{escape(k.replace('_', ' '))}</th>" for k in scores)
    cells = "".join(f"<td>{v:.2f}</td>" for v in scores.values())
    gates = "; ".join(grade.get("gate_failures") or [])
    return (f"<table class=\"scores\"><tr><th>rubric {escape(grade['grader_version'])}</th>{head}"
            f"<th>final</th></tr><tr><td>{'passed' if grade['passed'] else 'failed'}</td>{cells}"
            f"<td>{grade['final_score']:.2f} ({escape(grade['letter'])})</td></tr></table>"
            + (f"<p class=\"reject\">gates: {escape(gates)}</p>" if gates else ""))


def _judge(attempt: Attempt) -> str:
    judged, last = attempt.judged, attempt.verdict
    if judged is None:
        if last is None:
            return "<p class=\"meta\">no verdict seen</p>"
        return (f"<p class=\"meta\">not judged by the LLM: {_free(last['rationale'])}</p>"
                + _notes(last))
    scores = judged["scores"]
    head = "".join(f"<th>{escape(k.replace('_', ' '))}</th>" for k in scores)
    cells = "".join(f"<td>{v:.1f}</td>" for v in scores.values())
    decision = judged["recommendation"]
    return (f"<table class=\"scores\"><tr><th>judge {escape(judged['judge_model'])}</th>{head}"
            f"<th>overall</th></tr><tr><td class=\"{escape(decision.lower())}\">{escape(decision)}</td>{cells}"
            f"<td>{judged['overall']:.1f}</td></tr></table>"
            f"<p><b>judge:</b> {_free(judged['rationale'])}</p>"
            + (f"<p class=\"reject\">safety: {escape(judged['safety'])}</p>"
               if judged.get("safety") not in (None, "none") else "")
            + _notes(judged))


def _notes(verdict: dict[str, Any]) -> str:
    notes = verdict.get("revise_notes")
    return f"<p class=\"notes\">notes: {_free(notes)}</p>" if notes and verdict["recommendation"] == "REVISE" else ""
