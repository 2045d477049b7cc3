"""``kasper up``'s view of a run while it runs.

On a terminal, one status block redrawn in place (rich's ``Live``): each stage's
count and rate, the funnel, the trainer's windows and last loss, elapsed time and
an estimate of the time left. When stdout is not a terminal (CI, a log file), a
plain line every few seconds, as before. :func:`status` is a plain function of
what the run saw, so both views and their tests read the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from kasper.streams import topics
from kasper.streams.cli.progress import Tally

STAGES = (("prompts", topics.PROMPTS.name), ("insights", topics.INSIGHTS.name),
          ("grades", topics.GRADES.name), ("verdicts", topics.VERDICTS.name),
          ("approved", topics.APPROVED.name), ("dlq", topics.DLQ.name))
RATE_WINDOW_S = 30.0  # rates over the last half minute: generation lands in batches


@dataclass
class Status:
    """One look at the run."""

    elapsed: float
    done: int
    total: int
    funnel: str
    counts: dict[str, int]
    rates: dict[str, float]  # records per minute over the last RATE_WINDOW_S
    tokens_per_s: float
    judge_cost_usd: float
    windows: int = 0
    trained: int = 0
    promoted: int = 0
    pending_windows: int = 0
    last_step: dict[str, Any] | None = None
    eta_s: float | None = None  # None: nothing done yet to estimate from
    outcomes: dict[str, int] = field(default_factory=dict)


def status(tally: Tally, samples: list[tuple[float, dict[str, int], int]], steps: list[dict[str, Any]],
           done: int, total: int, elapsed: float) -> Status:
    """The run so far (``samples``: (seconds, counts, tokens) taken while it ran)."""
    recent = [s for s in samples if s[0] >= elapsed - RATE_WINDOW_S]
    rates = {}
    for _, topic in STAGES:
        if len(recent) >= 2 and recent[-1][0] > recent[0][0]:
            span = recent[-1][0] - recent[0][0]
            rates[topic] = 60 * (recent[-1][1].get(topic, 0) - recent[0][1].get(topic, 0)) / span
        else:
            rates[topic] = 0.0
    # Prompts finish at a roughly steady rate once generation runs; before the first
    # outcome there is nothing to go by.
    eta = elapsed / done * (total - done) if 0 < done else None
    outcomes: dict[str, int] = {}
    for outcome in tally.outcomes.values():
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return Status(elapsed, done, total, tally.funnel(), {t: tally.counts[t] for _, t in STAGES}, rates,
                  tally.completion_tokens / max(elapsed, 1e-9), tally.judge_cost_usd,
                  windows=len(tally.windows), trained=len(tally.versions),
                  promoted=sum(v["promoted"] for v in tally.versions.values()),
                  pending_windows=len(tally.windows_pending()), last_step=steps[-1] if steps else None,
                  eta_s=eta, outcomes=outcomes)


def plain_line(s: Status) -> str:
    """The one-line view (no terminal)."""
    line = (f"[{s.elapsed:5.0f}s] done {s.done}/{s.total} | {s.funnel} | "
            f"{s.tokens_per_s:.1f} generated tok/s | judge ${s.judge_cost_usd:.4f}")
    if s.windows or s.last_step:
        line += f" | trainer: {s.windows} windows, {s.trained} trained, {s.promoted} promoted"
        if s.last_step:
            line += f", {s.last_step['tier']} step {s.last_step['step']} loss {s.last_step['loss']:.3f}"
    return line


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


def block(s: Status) -> Group:
    """The status block drawn on a terminal."""
    eta = "estimating" if s.eta_s is None else ("finishing" if s.done >= s.total else f"~{_clock(s.eta_s)}")
    head = Text.assemble(("kasper up ", "bold"), f"{_clock(s.elapsed)} elapsed, ",
                         (f"{s.done}/{s.total}", "bold"), f" prompts done, time left {eta}")
    stages = Table(box=None, pad_edge=False, show_header=True, header_style="dim")
    stages.add_column("stage")
    stages.add_column("records", justify="right")
    stages.add_column("per min", justify="right")
    for label, topic in STAGES:
        stages.add_row(label, str(s.counts.get(topic, 0)), f"{s.rates.get(topic, 0.0):.1f}")
    outcomes = ", ".join(f"{n} {o}" for o, n in sorted(s.outcomes.items())) or "none yet"
    trainer = f"trainer: {s.windows} window(s) closed, {s.trained} trained, {s.promoted} promoted"
    if s.pending_windows:
        trainer += f", {s.pending_windows} training"
    if s.last_step:
        trainer += f"; {s.last_step['tier']} step {s.last_step['step']} loss {s.last_step['loss']:.3f}"
    return Group(head, stages, Text(f"funnel: {s.funnel}", style="dim"),
                 Text(f"outcomes: {outcomes} | {s.tokens_per_s:.1f} generated tok/s | "
                      f"judge ${s.judge_cost_usd:.4f}"), Text(trainer))


class LiveView:
    """The block in place on a terminal, or a plain line via ``say`` every ``every_s`` seconds.

    Use as a context manager around the run; :meth:`show` as often as wanted.
    """

    def __init__(self, say: Callable[[str], None], *, console: Console | None = None,
                 terminal: bool | None = None, every_s: float = 5.0) -> None:
        self.say, self.console = say, console or Console()
        self.terminal = self.console.is_terminal if terminal is None else terminal
        self.every_s, self.last_line, self.live = every_s, None, None
        self.latest: Status | None = None

    def __enter__(self) -> "LiveView":
        if self.terminal:
            self.live = Live(console=self.console, refresh_per_second=2, transient=False,
                             redirect_stdout=True, redirect_stderr=True)
            self.live.start()
        return self

    def show(self, s: Status, *, final: bool = False) -> None:
        self.latest = s
        if self.live is not None:
            self.live.update(block(s), refresh=final)
        elif final or self.last_line is None or s.elapsed - self.last_line >= self.every_s:
            self.last_line = s.elapsed
            self.say(plain_line(s))

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.stop()  # the last block stays on screen
            self.live = None
