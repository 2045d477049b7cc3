"""The run report of ``kasper up``: one HTML page, its figures as PNG files, and
``calibration.json``.

Everything comes from what the run saw on the topics (:class:`Tally`), the
samples of its counts taken while it ran, and the trainer's "train step" log
lines: the funnel, rubric score distributions, the judge against the rubric,
the loss curves, the adapter against the model it would replace, throughput
over time, the gallery of texts (:mod:`~kasper.streams.cli.gallery`: approved,
rejected, dead-lettered and revised insights with their scores and the judge's
words), and the calibration section (:func:`calibration`: how the rubric, the
LLM judge and people's thumbs agree, per rubric version). ``write_report`` is a
plain function of those, so a test can draw a report from records it made.

Figures are drawn with matplotlib's Agg backend (no display needed). The gallery,
the users' curve and the model-version table live in their own modules.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from kasper.agents.quality.agreement import (  # noqa: E402
    DECISIONS, cohen_kappa, confusion, spearman, weighted_kappa,
)
from kasper.streams import topics  # noqa: E402
from kasper.streams.cli import users_curve  # noqa: E402
from kasper.streams.cli.gallery import gallery_html  # noqa: E402
from kasper.streams.cli.outcomes import PromptHistory  # noqa: E402
from kasper.streams.cli.progress import Tally  # noqa: E402
from kasper.streams.cli.up_feedback import feedback_line  # noqa: E402
from kasper.streams.cli.versions_table import versions_html  # noqa: E402

_STAGES = (("insights", topics.INSIGHTS.name), ("grades", topics.GRADES.name),
           ("verdicts", topics.VERDICTS.name), ("approved", topics.APPROVED.name))
_DECISION_COLORS = {"APPROVE": "#2a9d8f", "REVISE": "#e9c46a", "REJECT": "#e76f51"}


@dataclass
class RunData:
    """What one run leaves for its report."""

    summary: dict[str, Any]  # the UpReport as a dict
    tally: Tally
    samples: list[tuple[float, dict[str, int], int]] = field(default_factory=list)  # (s, counts, tokens)
    train_steps: list[dict[str, Any]] = field(default_factory=list)  # "train step" log events
    histories: dict[str, PromptHistory] = field(default_factory=dict)  # the gallery's prompts
    letters: list[dict[str, Any]] = field(default_factory=list)  # every dead letter, original decoded


def log_events(lines: Iterable[str], name: str) -> list[dict[str, Any]]:
    """The JSON log lines whose event is ``name`` (other lines are skipped)."""
    out, quoted = [], json.dumps(name)
    for line in lines:
        if quoted not in line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a line cut by a crash, or a plain-text line
        if event.get("event") == name:
            out.append(event)
    return out


def train_steps(lines: Iterable[str]) -> list[dict[str, Any]]:
    """The trainer's "train step" events among JSON log lines."""
    return log_events(lines, "train step")


def windows_closed_on_request(lines: Iterable[str]) -> list[str] | None:
    """The window ids of the trainer's last "closed every open window on request" line
    (None: no such line among ``lines``)."""
    said = log_events(lines, "closed every open window on request")
    return [str(w) for w in said[-1].get("windows", [])] if said else None


# The router's gauge is the only live agreement figure: feedback never reaches the router.
METRICS_NOTE = ("/metrics carries kasper_quality_agreement_kappa{pair=\"rubric_judge\"}, the route role's "
                "rubric-judge kappa over its last verdicts; agreement with people's thumbs is measured here "
                "only, since feedback never reaches the router.")


def calibration(tally: Tally) -> dict[str, Any]:
    """How the rubric, the LLM judge and people's thumbs agree, per version pair.

    One section per (grade ``grader_version``, verdict ``rubric_version``) with its
    rubric-judge pairs (insights the LLM judged): the decision counts and confusion
    table, Cohen's kappa, linear weighted kappa on REJECT < REVISE < APPROVE, and the
    Spearman correlation of rubric final score and judge overall; then, when the run
    saw Feedback, rubric-thumbs and judge-thumbs kappas (thumbs up = APPROVE, down =
    REJECT; each feedback is one pair).  Insights the LLM did not judge form a section
    with ``judge_rubric_version`` None, only when someone rated them.  JSON-ready:
    whatever could not be measured is None.
    """
    thumbs: dict[str, list[str]] = {}
    for insight_id, decision in tally.thumbs.values():
        if decision is not None:
            thumbs.setdefault(insight_id, []).append(decision)
    groups: dict[tuple[str, str], list[str]] = {}
    for insight_id, (grader, _) in tally.rubric.items():
        judged = tally.llm_verdicts.get(insight_id)
        groups.setdefault((grader, judged[0] if judged else ""), []).append(insight_id)
    # Per rubric version, its judged sections first and then the one of insights not judged.
    order = sorted(groups, key=lambda key: (key[0], not key[1], key[1]))
    sections = [_section(tally, grader, judge, groups[grader, judge], thumbs) for grader, judge in order
                if any(i in tally.llm_verdicts or i in thumbs for i in groups[grader, judge])]
    rated = sum(len(v) for v in thumbs.values())
    return {"feedback": len(tally.thumbs), "feedback_with_thumbs": rated,
            "thumbs_on_insights_not_seen": sum(len(v) for i, v in thumbs.items() if i not in tally.rubric),
            "sections": sections, "metrics": METRICS_NOTE}


def _section(tally: Tally, grader: str, judge_version: str, ids: list[str],
             thumbs: dict[str, list[str]]) -> dict[str, Any]:
    judged = [i for i in ids if i in tally.llm_verdicts]
    rubric = [tally.rubric[i][1] for i in judged]
    judge = [tally.llm_verdicts[i][1] for i in judged]
    section: dict[str, Any] = {
        "rubric_version": grader, "judge_rubric_version": judge_version or None, "pairs": len(judged),
        "rubric_decisions": _counts(rubric), "judge_decisions": _counts(judge),
        "confusion_rubric_by_judge": confusion(rubric, judge),
        "kappa": _finite(cohen_kappa(rubric, judge, DECISIONS)),
        "weighted_kappa_linear": _finite(weighted_kappa(rubric, judge)),
        "spearman": _finite(spearman([tally.llm_verdicts[i][2] for i in judged],
                                     [tally.llm_verdicts[i][3] for i in judged])),
        "notes": [],
    }
    if not judged:
        section["notes"].append("the LLM judged none of these insights")
    elif len(set(rubric)) == 1:
        # Only grades that passed reach the LLM, so this is the usual case, and kappa
        # cannot credit agreement with a rater that never changes its answer.
        section["notes"].append(
            f"the rubric says {rubric[0]} on all {len(judged)} pairs (only grades that pass reach the LLM "
            "judge), so kappa is 0 whenever the judge differs at all and 1 when it never does: "
            "read the judge's decision counts and the Spearman correlation instead")
    rubric_thumbs = [(tally.rubric[i][1], t) for i in ids for t in thumbs.get(i, [])]
    judge_thumbs = [(tally.llm_verdicts[i][1], t) for i in judged for t in thumbs.get(i, [])]
    section["rubric_thumbs"], section["judge_thumbs"] = _paired(rubric_thumbs), _paired(judge_thumbs)
    if not tally.thumbs:
        section["notes"].append("no feedback yet")
    elif not rubric_thumbs:
        section["notes"].append("no thumbs up or down on these insights")
    return section


def _paired(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    a, b = [x for x, _ in pairs], [y for _, y in pairs]
    return {"pairs": len(pairs), "agree": sum(x == y for x, y in pairs),
            "kappa": _finite(cohen_kappa(a, b, DECISIONS)), "weighted_kappa_linear": _finite(weighted_kappa(a, b))}


def _counts(decisions: list[str]) -> dict[str, int]:
    return {d: decisions.count(d) for d in DECISIONS}


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 4)


def write_report(run_dir: Path, data: RunData) -> Path:
    """Draw every figure into ``run_dir``, write ``calibration.json`` and ``report.html``;
    returns the page's path."""
    run_dir.mkdir(parents=True, exist_ok=True)
    figures = [
        ("funnel.png", "From prompts to approved insights", _funnel),
        ("throughput.png", "Throughput over time", _throughput),
        ("scores.png", "Rubric score distributions, per criterion", _scores),
        ("agreement.png", "Judge against rubric", _agreement),
        ("loss.png", "Training loss", _loss),
        ("evaluation.png", "Adapter against the model it would replace", _evaluation),
        ("users.png", "Simulated users' thumbs up per model version", lambda fig, d: users_curve.draw(fig, d.tally)),
    ]
    sections = [gallery_html(data.histories, data.letters)]
    for name, title, draw in figures:
        fig = plt.figure(figsize=(7.5, 3.8), dpi=100)
        note = draw(fig, data)
        fig.tight_layout()
        fig.savefig(run_dir / name)
        plt.close(fig)
        sections.append(f"<h2>{html.escape(title)}</h2><img src=\"{name}\" alt=\"{html.escape(title)}\">"
                        + (f"<p>{html.escape(note)}</p>" if note else ""))
    calib = calibration(data.tally)
    (run_dir / "calibration.json").write_text(json.dumps(calib, indent=2), encoding="utf-8")
    sections.append(_calibration_html(calib))
    path = run_dir / "report.html"
    path.write_text(_page(data, sections), encoding="utf-8")
    return path


def _calibration_html(calib: dict[str, Any]) -> str:
    head = ("<tr><th>rubric</th><th>judge rubric</th><th>pairs</th><th>rubric decisions</th>"
            "<th>judge decisions</th><th>kappa</th><th>weighted kappa</th><th>Spearman</th>"
            "<th>judge vs thumbs</th><th>rubric vs thumbs</th></tr>")
    rows, notes = [], []
    for s in calib["sections"]:
        cells = [s["rubric_version"], s["judge_rubric_version"] or "not judged", s["pairs"],
                 _decisions(s["rubric_decisions"]), _decisions(s["judge_decisions"]), _stat(s["kappa"]),
                 _stat(s["weighted_kappa_linear"]), _stat(s["spearman"]),
                 _thumbs(s["judge_thumbs"]), _thumbs(s["rubric_thumbs"])]
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
        notes += [f"{s['rubric_version']} / {s['judge_rubric_version'] or 'not judged'}: {n}." for n in s["notes"]]
    body = (f"<table>{head}{''.join(rows)}</table>" if rows else
            "<p>nothing to compare: no verdict from the LLM judge and no feedback in this run.</p>")
    feedback = (f"{calib['feedback']} feedback records, {calib['feedback_with_thumbs']} with thumbs"
                f" ({calib['thumbs_on_insights_not_seen']} on insights this run did not grade)."
                if calib["feedback"] else "No feedback yet: the run saw no record on the feedback topic.")
    notes += [feedback, calib["metrics"], "Decisions on REJECT < REVISE < APPROVE (thumbs up = APPROVE, "
              "down = REJECT); weighted kappa is linear; the numbers are also in calibration.json."]
    return ("<h2>Calibration: rubric, judge and people</h2>" + body
            + "".join(f"<p>{html.escape(n)}</p>" for n in notes))


def _stat(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.2f}"


def _decisions(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {d}" for d, n in counts.items() if n) or "-"


def _thumbs(paired: dict[str, Any]) -> str:
    return f"{_stat(paired['kappa'])} ({paired['agree']}/{paired['pairs']} agree)" if paired["pairs"] else "-"


def _empty(ax: Any, text: str) -> str:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666")
    ax.set_axis_off()
    return text


def _funnel(fig: Any, data: RunData) -> str:
    ax = fig.subplots()
    c, t = data.tally.counts, data.tally
    steps = [("prompts", data.summary.get("prompts", 0)),
             ("generations", c[topics.INSIGHTS.name]),
             ("passed the rubric", c["grades_passed"]),
             ("judged by the LLM", len(t.judged)),
             ("approved", c[topics.APPROVED.name])]
    labels, values = zip(*steps)
    bars = ax.barh(labels[::-1], values[::-1], color="#457b9d")
    ax.bar_label(bars, padding=3)
    ax.set_xlabel("records")
    outcomes = data.summary.get("outcomes", {})
    return ("Final outcomes: " + ", ".join(f"{v} {k}" for k, v in outcomes.items())
            + f"; {c['revisions']} revisions asked by the rubric or the judge, "
            + f"{t.revisions_per_approved()} per approved insight.")


def _throughput(fig: Any, data: RunData) -> str:
    ax = fig.subplots()
    if len(data.samples) < 2:
        return _empty(ax, "the run was too short to sample")
    # Cumulative counts: the slope is the throughput, and bursts (a generation batch
    # lands at once) read better than as spikes of a per-interval rate.
    times = [s for s, _, _ in data.samples]
    for label, topic in _STAGES:
        ax.step(times, [cs.get(topic, 0) for _, cs, _ in data.samples], where="post", label=label)
    ax.set_xlabel("seconds into the run")
    ax.set_ylabel("records so far")
    tokens = [tk for _, _, tk in data.samples]
    tok_rate = (tokens[-1] - tokens[0]) / max(times[-1] - times[0], 1e-9)
    per_min = 60 * data.tally.counts[topics.INSIGHTS.name] / max(times[-1], 1e-9)
    ax.legend(loc="upper left", fontsize=8)
    return (f"{per_min:.1f} generations per minute; {tokens[-1]} completion tokens, "
            f"{tok_rate:.1f} tok/s over the run.")


def _scores(fig: Any, data: RunData) -> str:
    ax = fig.subplots()
    scores = data.tally.criterion_scores
    if not scores:
        return _empty(ax, "no grades in this run")
    names = sorted(scores)
    ax.boxplot([scores[n] for n in names], orientation="horizontal")
    ax.set_yticks(range(1, len(names) + 1), [n.replace("_", " ") for n in names], fontsize=8)
    ax.set_xlabel("rubric score (0-1)")
    ax.set_xlim(0, 1)
    return f"{len(scores[names[0]])} grades."


def _agreement(fig: Any, data: RunData) -> str:
    ax = fig.subplots()
    judged = data.tally.judged
    if not judged:
        return _empty(ax, "no grade passed the rubric, so the LLM judged nothing")
    for decision, color in _DECISION_COLORS.items():
        points = [(r, j) for r, j, d in judged if d == decision]
        if points:
            ax.scatter(*zip(*points), color=color, label=f"{decision} ({len(points)})", alpha=0.8)
    ax.set_xlabel("rubric final score (0-1)")
    ax.set_ylabel("judge overall (1-10)")
    ax.legend(fontsize=8)
    rho = spearman([r for r, _, _ in judged], [j for _, j, _ in judged])
    rho_text = "n/a" if math.isnan(rho) else f"{rho:+.2f}"
    return (f"{len(judged)} verdicts from the LLM judge; Spearman rank correlation between the "
            f"rubric's score and the judge's overall: {rho_text}.")


def _loss(fig: Any, data: RunData) -> str:
    ax = fig.subplots()
    if not data.train_steps:
        return _empty(ax, "no training step in this run")
    runs: dict[str, list[tuple[int, float]]] = {}
    for event in data.train_steps:
        # One curve per run: a new curve starts when the step goes back (next window).
        key = f"{event['tier']}"
        curves = [k for k in runs if k.split("#")[0] == key]
        current = curves[-1] if curves else None
        if current is None or runs[current][-1][0] >= event["step"]:
            current = f"{key}#{len(curves) + 1}"
            runs[current] = []
        runs[current].append((event["step"], event["loss"]))
    for label, points in runs.items():
        ax.plot(*zip(*points), marker="o", label=label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.legend(fontsize=8)
    return f"{len(runs)} training run(s), {len(data.train_steps)} reported steps."


def _evaluation(fig: Any, data: RunData) -> str:
    versions = list(data.tally.versions.values())
    if not versions:
        return _empty(fig.subplots(), "no adapter was evaluated in this run")
    labels = [v["version"] for v in versions]
    panels = (("held-out loss (lower is better)", "current_test_loss", "test_loss"),
              ("probe rubric mean (higher is better)", "current_probe_mean", "probe_mean"))
    for ax, (title, before_key, after_key) in zip(fig.subplots(1, 2), panels):
        before = [v["metrics"].get(before_key, math.nan) for v in versions]
        after = [v["metrics"].get(after_key, math.nan) for v in versions]
        xs = range(len(versions))
        ax.bar([x - 0.2 for x in xs], before, width=0.4, label="serving model", color="#adb5bd")
        ax.bar([x + 0.2 for x in xs], after, width=0.4, label="new adapter", color="#2a9d8f")
        ax.set_xticks(list(xs), labels, fontsize=7, rotation=20)
        ax.set_title(title, fontsize=9)
        if all(math.isnan(b) and math.isnan(a) for b, a in zip(before, after)):
            ax.text(0.5, 0.5, "no held-out examples", ha="center", va="center",
                    transform=ax.transAxes, color="#666")
    fig.axes[0].legend(fontsize=7)
    promoted = sum(v["promoted"] for v in versions)
    return f"{promoted} of {len(versions)} adapters promoted; reasons in the table below."


def _page(data: RunData, sections: list[str]) -> str:
    s, t = data.summary, data.tally
    rows = [("prompts", s.get("prompts")), ("seconds", f"{s.get('seconds', 0):.0f}"),
            ("outcomes", ", ".join(f"{v} {k}" for k, v in s.get("outcomes", {}).items())),
            ("funnel", t.funnel()), ("generated tok/s", f"{s.get('tokens_per_s', 0):.1f}"),
            ("generation efficiency", efficiency_line(s.get("efficiency") or {})),
            ("judge cost (USD)", f"{t.judge_cost_usd:.4f}"),
            ("dead letters by stage", ", ".join(f"{k}: {v}" for k, v in t.dlq_by_stage.items()) or "none"),
            ("windows trained", f"{len(t.versions)} of {len(t.windows)} announced"),
            ("simulated users", feedback_line(s.get("feedback") or {})),
            ("worker exit code", s.get("worker_exit")),
            ("files", ", ".join(f"{k} ({v})" for k, v in s.get("files", {}).items()) or "none")]
    summary = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                      for k, v in rows)
    table = versions_html(t)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kasper run {html.escape(str(s.get('run_dir', '')))}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;color:#222}}
table{{border-collapse:collapse;margin:1rem 0}}th,td{{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;vertical-align:top}}
img{{max-width:100%}}</style></head><body>
<h1>kasper run {html.escape(str(s.get('run_dir', '')))}</h1>
<table>{summary}</table>
{''.join(sections)}
{table}
</body></html>
"""


def efficiency_line(e: dict[str, Any]) -> str:
    """The run's generated tok/s over the generator's alone (streams/cli/efficiency.py)."""
    if "ratio" not in e:
        return f"not measured ({e.get('skipped', 'no figure')})"
    return (f"{e['ratio']:.2f} over the run, {e['ratio_generating']:.2f} while generating "
            f"({e['run_tokens_per_s']:.1f} and {e['generating_tokens_per_s']:.1f} tok/s against "
            f"{e['alone_tokens_per_s']:.1f} for the generator alone on {e['prompts']} of the prompts)")
