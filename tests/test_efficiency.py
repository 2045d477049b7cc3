"""The main job's efficiency figure (streams/cli/efficiency.py): its arithmetic, the
generation span read from ``kasper up``'s samples, and when it is not measured. The
measurement itself (the shipped model generating the run's prompts) runs in the
``kasper up`` test (tests/test_up.py)."""

from __future__ import annotations

import pytest

from kasper.streams.cli.efficiency import efficiency, generating_seconds, measure_run
from kasper.streams.cli.report import efficiency_line
from kasper.streams.settings import Settings


def _samples(*points: tuple[float, int]) -> list[tuple[float, dict[str, int], int]]:
    return [(t, {}, tokens) for t, tokens in points]


def test_the_generation_span_ends_at_the_first_sample_that_saw_the_last_token():
    samples = _samples((2.0, 0), (4.0, 300), (6.0, 900), (8.0, 900), (60.0, 900))
    assert generating_seconds(samples) == 6.0
    assert generating_seconds(_samples((2.0, 0), (4.0, 0))) is None
    assert generating_seconds([]) is None


def test_the_ratios_divide_the_runs_rates_by_the_generator_alone():
    figure = efficiency((24, 3000, 60.0), run_tokens=6000, run_seconds=600.0, generating_s=300.0)
    assert figure.alone_tokens_per_s == pytest.approx(50.0)
    assert figure.run_tokens_per_s == pytest.approx(10.0)
    assert figure.generating_tokens_per_s == pytest.approx(20.0)
    assert (figure.ratio, figure.ratio_generating) == (pytest.approx(0.2), pytest.approx(0.4))
    shown = figure.as_dict()
    assert shown["ratio"] == 0.2 and shown["prompts"] == 24
    line = efficiency_line(shown)
    assert line.startswith("0.20 over the run, 0.40 while generating") and "50.0" in line
    # Without a span (no samples), the span rate is the run's.
    assert efficiency((24, 3000, 60.0), 6000, 600.0, None).ratio_generating == pytest.approx(0.2)


@pytest.mark.parametrize("roles, backend, tokens, why", [
    ("grade,judge,route", "mlx", 500, "no generate role"),
    ("generate,grade", "openai", 500, "generate backend openai"),
    ("generate,grade", "mlx", 0, "nothing generated"),
])
def test_no_figure_is_made_up_when_the_generator_alone_would_not_compare(roles, backend, tokens, why):
    settings = Settings().model_copy(update={"generate": Settings().generate.model_copy(update={"backend": backend})})
    said: list[str] = []
    figure = measure_run(settings, roles, 24, 7, tokens, 100.0, _samples((2.0, tokens)), said.append)
    assert figure == {"skipped": why} and not said
    assert efficiency_line(figure) == f"not measured ({why})"
