"""How often the thumbs rule promotes a candidate, by its real gain: one look against two.

A simulation, not a measurement: each golden answer's thumbs-up difference
(candidate minus incumbent, same prompt and seed) is drawn as the real gain plus
normal noise with the spread measured on real adapters (docs/trainer.md, "A second
look": sd 0.218 per answer, no per-prompt part, incumbent rate 0.674). Each rule is
the trainer's: the relative gain must reach the bar and the interval must clear zero;
a second look, when the first leaves it open, adds answers and decides on all of
them, each look at trainer.sequential.look_level. Intervals are normal ones here
(the trainer bootstraps); the per-prompt means are what the trainer pairs.

    python bench/sim_promotion.py [--trials 20000]
"""

from __future__ import annotations

import argparse
from statistics import NormalDist

import numpy as np

from kasper.trainer.sequential import look_level


def promoted(rng: np.random.Generator, gain: float, args: argparse.Namespace, extra: int,
             trials: int) -> tuple[float, float]:
    """(share promoted, share that took a second look) over ``trials`` candidates."""
    z = NormalDist().inv_cdf((1 + look_level(0.95, args.samples, extra)) / 2)
    first = rng.normal(gain * args.base, args.sd, (trials, args.prompts, args.samples))
    more = rng.normal(gain * args.base, args.sd, (trials, args.prompts, max(extra, 1)))

    def look(answers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        per_prompt = answers.mean(axis=2)
        est = per_prompt.mean(axis=1) / args.base
        se = per_prompt.std(axis=1, ddof=1) / np.sqrt(args.prompts) / args.base
        return est, se

    est, se = look(first)
    yes = (est >= args.bar) & (est - z * se > 0)
    open_ = ~yes & (est > 0) & (est + z * se >= args.bar) if extra else np.zeros(trials, bool)
    est2, se2 = look(np.concatenate([first, more[:, :, :extra]], axis=2)) if extra else (est, se)
    yes = yes | (open_ & (est2 >= args.bar) & (est2 - z * se2 > 0))
    return float(yes.mean()), float(open_.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20000)
    parser.add_argument("--prompts", type=int, default=44)
    parser.add_argument("--samples", type=int, default=2, help="answers per prompt at the first look")
    parser.add_argument("--sd", type=float, default=0.218, help="one answer's difference, sd")
    parser.add_argument("--base", type=float, default=0.674, help="the incumbent's thumbs-up rate")
    parser.add_argument("--bar", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    gains = (0.0, 0.03, 0.05, 0.06, 0.08, 0.10)
    print("| rule | " + " | ".join(f"real gain {g:.0%}" for g in gains) + " |")
    print("|---|" + "---|" * len(gains))
    for name, extra in (("one look, 2 answers per prompt", 0), ("second look, +1 answer", 1),
                        ("second look, +2 answers (default)", 2), ("second look, +4 answers", 4)):
        cells = []
        for g in gains:
            share, second = promoted(rng, g, args, extra, args.trials)
            cells.append(f"{share:.3f}" + (f" ({second:.2f})" if extra else ""))
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("\n(promoted share; in brackets the share of candidates that took a second look)")


if __name__ == "__main__":
    main()
