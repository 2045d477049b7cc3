"""The per-look interval level of the two-look promotion rule (trainer/sequential.py)."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest

from kasper.trainer.sequential import look_level


def _critical(level: float) -> float:
    return NormalDist().inv_cdf((1 + level) / 2)


@pytest.mark.parametrize("confidence, critical", [(0.95, 2.178), (0.99, 2.772), (0.90, 1.875)])
def test_two_equal_looks_give_pococks_table_values(confidence, critical):
    # Pocock (1977), K = 2: the same critical value at both looks.
    assert _critical(look_level(confidence, 2, 2)) == pytest.approx(critical, abs=1e-3)
    assert look_level(confidence, 1, 1) == pytest.approx(look_level(confidence, 2, 2))


def test_the_overall_false_promotion_rate_is_the_one_look_rate():
    """Simulated null: the second look's statistic pools the first's answers with new ones.
    Two looks at the per-look level cross as often as one look at 95% does, and two looks at
    95% each cross more often."""
    rng = np.random.default_rng(11)
    trials, first, extra = 400_000, 2, 4
    a, b = rng.standard_normal(trials), rng.standard_normal(trials)
    z1 = a
    z2 = (np.sqrt(first) * a + np.sqrt(extra) * b) / np.sqrt(first + extra)
    c = _critical(look_level(0.95, first, extra))
    either = np.mean((np.abs(z1) >= c) | (np.abs(z2) >= c))
    assert either == pytest.approx(0.05, abs=0.002)
    naive = np.mean((np.abs(z1) >= 1.96) | (np.abs(z2) >= 1.96))
    assert naive > 0.07


def test_no_second_look_keeps_the_level_and_bad_arguments_are_refused():
    assert look_level(0.95, 2, 0) == 0.95
    assert 0.95 < look_level(0.95, 2, 1) < look_level(0.95, 2, 2) < look_level(0.95, 2, 8) < 0.99
    for args in ((1.0, 2, 2), (0.0, 2, 2), (0.95, 0, 2), (0.95, 2, -1)):
        with pytest.raises(ValueError):
            look_level(*args)
