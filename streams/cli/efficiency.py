"""The main job's generation efficiency: its generated tok/s over the generator's alone.

Why: in the main job the generator shares the machine with grading, the judge, the
broker, the simulated users and the trainer, and waits for revisions to come back
through the topics. The generator alone, in process, on the same prompts and the same
machine, is the ceiling of what the job can generate; the ratio says how much of it
the job gets (``kasper up`` prints it and writes it to report.json).

How: once the run's worker has stopped (the cores are free again), the run's own
synthetic prompts (at most :data:`MAX_PROMPTS`, first attempts) are generated in
this process with the run's generate settings and the shipped model, every
micro-batch submitted at once as the generate agent keeps them in flight. Two
ratios, because a run also waits for windows to train after its last generation:

- ``ratio``: generated tok/s over the whole run (the run's own figure) / alone;
- ``ratio_generating``: over the span from the prompts' sending to the last
  generated token the run saw / alone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from kasper.agents.generation import Generator
from kasper.agents.runtime.mlx_backend import MLXBackend
from kasper.streams.settings import Settings
from kasper.streams.synthetic_prompts import synthetic_prompts

# Enough to fill the engine's slots twice; more only lengthens the run.
MAX_PROMPTS = 64


@dataclass(frozen=True)
class Efficiency:
    prompts: int  # generated alone
    tokens: int
    seconds: float
    alone_tokens_per_s: float
    run_tokens_per_s: float
    generating_tokens_per_s: float
    ratio: float
    ratio_generating: float

    def as_dict(self) -> dict[str, Any]:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


def generating_seconds(samples: list[tuple[float, dict[str, int], int]]) -> float | None:
    """Seconds from the prompts' sending to the first sample that saw the run's last
    generated token (samples: ``(seconds since sending, counts, generated tokens)``)."""
    if not samples or samples[-1][2] <= 0:
        return None
    final = samples[-1][2]
    return next(t for t, _, tokens in samples if tokens == final)


def efficiency(alone: tuple[int, int, float], run_tokens: int, run_seconds: float,
               generating_s: float | None) -> Efficiency:
    """The ratios from the run's generated tokens and times and ``alone`` =
    ``(prompts, tokens, seconds)`` of the generator by itself."""
    prompts, tokens, seconds = alone
    rate = tokens / max(seconds, 1e-9)
    run_rate = run_tokens / max(run_seconds, 1e-9)
    span_rate = run_tokens / max(generating_s, 1e-9) if generating_s else run_rate
    return Efficiency(prompts, tokens, seconds, rate, run_rate, span_rate,
                      run_rate / rate if rate else 0.0, span_rate / rate if rate else 0.0)


def generate_alone(settings: Settings, count: int, seed: int) -> tuple[int, int, float]:
    """``(prompts, generated tokens, seconds)`` of the run's first ``count`` prompts (at
    most :data:`MAX_PROMPTS`) generated in process, model loading excluded."""
    return asyncio.run(_generate(settings, min(count, MAX_PROMPTS), seed))


async def _generate(settings: Settings, count: int, seed: int) -> tuple[int, int, float]:
    backend = MLXBackend(settings.model, settings.generate)
    await backend.start()
    try:
        generator = Generator(backend, settings.generate)
        prompts = list(synthetic_prompts(count, seed=seed))
        size = settings.generate.batch_size
        batches = [prompts[i:i + size] for i in range(0, len(prompts), size)]
        started = time.perf_counter()
        runs = await asyncio.gather(*(generator.run(batch) for batch in batches))
        seconds = time.perf_counter() - started
    finally:
        await backend.close()
    tokens = sum(o.insight["completion_tokens"] for run in runs for o in run if o.insight is not None)
    return len(prompts), tokens, seconds


def measure_run(settings: Settings, roles: str, count: int, seed: int, run_tokens: int, run_seconds: float,
                samples: list[tuple[float, dict[str, int], int]], say: Callable[[str], None]) -> dict[str, Any]:
    """``kasper up``'s efficiency figure for report.json (``{"skipped": why}`` when there is
    none); a failure to measure it is said and returned, so the run's report still gets written."""
    why = ("no generate role" if "generate" not in roles.split(",") else
           f"generate backend {settings.generate.backend}" if settings.generate.backend != "mlx" else
           "nothing generated" if not run_tokens else "")
    if why:
        return {"skipped": why}
    say(f"measuring the generator alone on {min(count, MAX_PROMPTS)} of the run's prompts "
        "(for the efficiency figure)")
    try:
        alone = generate_alone(settings, count, seed)
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001  (the run's own report comes first)
        skipped = f"{type(exc).__name__}: {exc}"[:300]
        say(f"efficiency not measured: {skipped}")
        return {"skipped": skipped}
    figure = efficiency(alone, run_tokens, run_seconds, generating_seconds(samples))
    say(f"generation efficiency {figure.ratio:.2f} over the run ({figure.run_tokens_per_s:.1f} generated "
        f"tok/s against {figure.alone_tokens_per_s:.1f} for the generator alone), "
        f"{figure.ratio_generating:.2f} while generating")
    return figure.as_dict()
