"""The run's users' curve: thumbs-up per model version, the figure ``bench/bench_loop.py``
draws for the loop, from what one ``kasper up`` run saw.

Two panels:

- **live**: the thumbs the run's users gave the insights each model version wrote (the
  insight's ``adapter_version``; none is the base model), as the share up with its Wilson
  95% interval (:func:`kasper.trainer.live.wilson`, the canary watch's interval);
- **predicted**: each adapter trained in the run against the model it would replace, on
  the golden prompts' answers (the promotion rule's numbers, docs/trainer.md): the
  serving model's predicted thumbs-up rate, and the candidate's with the paired 95%
  interval of its difference to the serving model. Versions decided on the loss alone
  carry no such rate and are left out.

Error policy: a pure function of the tally; an empty run draws an empty panel with why.
"""

from __future__ import annotations

import math
from typing import Any

from kasper.streams.cli.progress import Tally
from kasper.trainer.live import wilson

_Z95 = 1.96


def live_rates(tally: Tally) -> list[tuple[str, int, int]]:
    """(version, thumbs up, thumbs) per model version that wrote a thumbed insight, the base
    model first, then by version name."""
    counts: dict[str, list[int]] = {}
    for insight_id, decision in tally.thumbs.values():
        if decision is None or insight_id not in tally.written_by:
            continue
        version = tally.written_by[insight_id] or "base"
        up_n = counts.setdefault(version, [0, 0])
        up_n[0] += decision == "APPROVE"
        up_n[1] += 1
    order = sorted(counts, key=lambda v: (v != "base", v))
    return [(v, counts[v][0], counts[v][1]) for v in order]


def predicted_rates(tally: Tally) -> list[dict[str, Any]]:
    """Per trained version with a users' rate: its rate, the serving model's, and the
    candidate's interval (the serving rate scaled by the paired relative interval)."""
    out = []
    for record in tally.versions.values():
        m = record.get("metrics") or {}
        if "thumbs_up_rate" not in m or "current_thumbs_up_rate" not in m:
            continue
        current = m["current_thumbs_up_rate"]
        low, high = m.get("thumbs_ci_low", math.nan), m.get("thumbs_ci_high", math.nan)
        out.append({"version": record["version"], "promoted": bool(record["promoted"]),
                    "rate": m["thumbs_up_rate"], "current": current,
                    "low": current * (1 + low), "high": current * (1 + high)})
    return out


def draw(fig: Any, tally: Tally) -> str:
    """Both panels into ``fig``; returns the caption."""
    live_ax, predicted_ax = fig.subplots(1, 2)
    live = live_rates(tally)
    if live:
        xs = range(len(live))
        rates = [up / n for _, up, n in live]
        bounds = [wilson(up, n, _Z95) for _, up, n in live]
        errors = [[r - lo for r, (lo, _) in zip(rates, bounds)], [hi - r for r, (_, hi) in zip(rates, bounds)]]
        live_ax.errorbar(list(xs), rates, yerr=errors, fmt="o", color="#264653", capsize=4)
        live_ax.set_xticks(list(xs), [f"{v}\n{up}/{n}" for v, up, n in live], fontsize=7)
    else:
        live_ax.text(0.5, 0.5, "no thumbs on the run's insights", ha="center", va="center",
                     transform=live_ax.transAxes, color="#666")
    live_ax.set_ylim(0, 1)
    live_ax.set_xlim(-0.5, max(len(live), 1) - 0.5)
    live_ax.set_title("thumbs up on the run's insights, per version that wrote them", fontsize=8)
    predicted = predicted_rates(tally)
    if predicted:
        xs = range(len(predicted))
        predicted_ax.bar([x - 0.2 for x in xs], [p["current"] for p in predicted], width=0.4,
                         color="#adb5bd", label="serving model")
        rates = [p["rate"] for p in predicted]
        # max(0, nan) is 0: a version without an interval gets no error bar.
        errors = [[max(0.0, r - p["low"]) for r, p in zip(rates, predicted)],
                  [max(0.0, p["high"] - r) for r, p in zip(rates, predicted)]]
        predicted_ax.bar([x + 0.2 for x in xs], rates, width=0.4, yerr=errors, capsize=3,
                         color=["#2a9d8f" if p["promoted"] else "#e9c46a" for p in predicted],
                         label="new adapter (teal: promoted, yellow: not)")
        predicted_ax.set_xticks(list(xs), [p["version"] for p in predicted], fontsize=7, rotation=20)
        predicted_ax.legend(fontsize=7)
    else:
        predicted_ax.text(0.5, 0.5, "no adapter decided on the users' rate", ha="center", va="center",
                          transform=predicted_ax.transAxes, color="#666")
    predicted_ax.set_ylim(0, 1)
    predicted_ax.set_title("predicted thumbs up on the golden answers", fontsize=8)
    thumbs = sum(n for _, _, n in live)
    return (f"{thumbs} thumbs on insights of {len(live)} model version(s) (Wilson 95% intervals); "
            f"{len(predicted)} adapter(s) against the model they would replace (paired 95% intervals).")
