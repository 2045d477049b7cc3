"""The run report's table of model versions: one row per version the run's trainer
recorded, with what decided it (the held-out loss and its interval, the probe mean, the
users' predicted thumbs-up, a real judge's score), and one per window dead-lettered.

Cells read the ModelVersion's ``metrics``; a number the version does not carry is ``-``.
"""

from __future__ import annotations

import html
import math
from typing import Any

from kasper.streams.cli.progress import Tally


def versions_html(tally: Tally) -> str:
    """The table's HTML, with its heading; empty when no window was trained or dead-lettered."""
    versions = "".join(
        f"<tr><td>{html.escape(v['version'])}</td><td>{html.escape(w)}</td>"
        f"<td>{_num(v, 'train_examples', '.0f')}</td>"
        f"<td>{_num(v, 'train_loss_first')} &rarr; {_num(v, 'train_loss_last')}</td>"
        f"<td>{_num(v, 'current_test_loss')} &rarr; {_num(v, 'test_loss')}</td><td>{_interval(v)}</td>"
        f"<td>{_num(v, 'current_probe_mean')} &rarr; {_num(v, 'probe_mean')}</td><td>{_users_rate(v)}</td>"
        f"<td>{_judge_score(v)}</td><td>{_promoted(v)}</td><td>{html.escape(v['reason'])}</td></tr>"
        for w, v in tally.versions.items())
    versions += "".join(f"<tr><td>-</td><td>{html.escape(w)}</td><td colspan=\"7\"></td><td>no</td>"
                        f"<td>dead-lettered: {html.escape(r)}</td></tr>" for w, r in tally.failed_windows.items())
    return ("<h2>Model versions</h2><table><tr><th>version</th><th>window</th><th>train examples</th>"
            "<th>train loss</th><th>held-out loss (serving &rarr; new)</th>"
            "<th>improvement [95% CI], n</th>"
            "<th>probe mean (serving &rarr; new)</th>"
            "<th>users' thumbs-up (serving &rarr; new), improvement [95% CI], n</th>"
            "<th>judge overall (serving &rarr; new), improvement [95% CI]</th><th>promoted</th><th>reason</th></tr>"
            f"{versions}</table>") if versions else ""


def _num(version: dict[str, Any], key: str, fmt: str = ".3f") -> str:
    value = version["metrics"].get(key, math.nan)
    return "-" if math.isnan(value) else format(value, fmt)


def _interval(version: dict[str, Any]) -> str:
    # The promotion's paired bootstrap on the persistent evaluation set (docs/trainer.md).
    m = version["metrics"]
    if "loss_improvement" not in m:
        return "-"
    return f"{m['loss_improvement']:+.1%} {_ci(m, 'loss')}, n={m.get('eval_n', 0):.0f}"


def _ci(metrics: dict[str, float], name: str) -> str:
    # A relative improvement's paired interval, ``<name>_ci_low`` to ``<name>_ci_high``.
    low, high = metrics.get(f"{name}_ci_low", math.nan), metrics.get(f"{name}_ci_high", math.nan)
    return "[-]" if math.isnan(low) or math.isnan(high) else f"[{low:+.1%}, {high:+.1%}]"


def _users_rate(version: dict[str, Any]) -> str:
    # The simulated users' predicted thumbs-up on the golden answers, serving -> new (docs/trainer.md).
    m = version["metrics"]
    if "thumbs_up_rate" not in m:
        return "-"
    # How many answers the prompts had, and whether the first look's left it open.
    answers = f", {m['thumbs_answers']:.0f} answers" if m.get("thumbs_answers") else ""
    looked = ", second look" if m.get("eval_looks") == 2 else ""
    return (f"{m.get('current_thumbs_up_rate', math.nan):.3f} &rarr; {m['thumbs_up_rate']:.3f}, "
            f"{m.get('thumbs_improvement', math.nan):+.1%} {_ci(m, 'thumbs')}, n={m.get('thumbs_n', 0):.0f}{answers}{looked}")


def _judge_score(version: dict[str, Any]) -> str:
    # A real judge's mean overall on the golden answers: a metric, not the rule (docs/trainer.md).
    m = version["metrics"]
    if "judge_overall" not in m:
        return "-"
    return (f"{m.get('current_judge_overall', math.nan):.2f} &rarr; {m['judge_overall']:.2f}, "
            f"{m.get('judge_improvement', math.nan):+.1%} {_ci(m, 'judge')}")


def _promoted(version: dict[str, Any]) -> str:
    # A canary serves only its share of the tier until the live watch decides (docs/trainer.md).
    if not version["promoted"]:
        return "no"
    share = version.get("canary_share")
    return "yes" if share is None else f"yes (canary {share:.0%})"
