"""What the generator writes, per variant: first-attempt drafts graded with rubric v2.

Generates the same fixed synthetic prompts (default 64, every domain and tier) with
the shipped model in process, once per variant, and prints per variant:

- first-attempt pass rate under rubric v2 as the grade stage runs it (its threshold, and
  its model layers by ``KASPER_GRADE_SEMANTIC_GATE``);
- repetition loops (a six-word sequence written twice), template echoes (a field
  label or a long verbatim stretch of the user's words: rubric v2's echo check),
  and texts not written to the reader (assistant, diary or narrator voice: rubric
  v2's voice evidence at or below 0.5; checked against labeled texts in
  tests/test_voice.py);
- mean rubric v2 score, completion tokens, generated tok/s and seconds per insight.

Variants (``--variants``): ``baseline`` (no guards, no exemplars), ``guards``
(repetition penalty, loop, copy and label stops, first-person bias), ``exemplars``
(few-shot seed exemplars), ``combined`` (both: the default settings). Before each variant one
prompt per domain is run for a single token, so the prefix cache holds what the
pipeline's would in steady state (the system message, each domain's exemplar turns).
The variants take turns batch by batch, so load from elsewhere on shared cores
falls on all of them alike. ``--modes continuous,static`` runs each variant with
both engine schedulings in the same run: ``continuous`` (rows join the running
batch as slots free up; ``--pipeline`` micro-batches in flight at once, as the
generate agent keeps) and ``static`` (one batch at a time, each run to its last
row: the engine before continuous batching). A mode with ``+copied``
(``continuous+copied``) copies each row's cached prefix into its own KV cache
rows instead of attending to each shared prefix once per batch
(agents/runtime/prefix_attention.py): the engine before shared-prefix attention.
``+fifo`` admits waiting rows in queue order instead of by prefix
(agents/runtime/admission.py): the engine before admission by prefix. A turn holds ``--pipeline`` x 32
prompts, so with 64 prompts each leg runs once per round: ``--rounds 2`` or more
lets the legs take turns. ``--stream`` runs each leg's prompts as the generate agent
takes a backlog instead: micro-batches of 32 start in order, at most ``--pipeline``
at once, the next as soon as the oldest has finished; a turn is then the whole
prompt set, and only its end leaves slots empty for want of prompts. With ``--judge`` the configured judge (``kasper judge``,
the embedded one when no URL is set) reads each variant's first ``--judge-limit``
drafts and its mean overall is printed too. ``--llama-server BIN_DIR`` generates with
llama-server instead (the OpenAI backend with ``guards=llama.cpp``: the guards as its
own samplers; docs/model-runtime.md), the modes then meaning nothing to its slots.

    python bench/bench_drafts.py [--prompts 64] [--seed 99] [--variants baseline,combined]
                                 [--modes continuous,static,continuous+copied,continuous+fifo] [--pipeline 2] [--stream]
                                 [--rounds 1] [--judge] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kasper.agents.generation import Generator
from kasper.agents.quality.rubric import Rubric
from kasper.agents.runtime.mlx_backend import MLXBackend
from kasper.streams.settings import GenerateSettings, GradeSettings
from kasper.streams.synthetic_prompts import synthetic_prompts

_OFF = {"repetition_penalty": 1.0, "loop_ngram": 0, "copy_ngram": 0, "stop_at_labels": False,
        "first_person_bias": 0.0}
VARIANTS: dict[str, dict[str, Any]] = {
    "baseline": {**_OFF, "exemplars": 0},
    "guards": {"exemplars": 0},
    "exemplars": dict(_OFF),
    "combined": {},
    # The defaults with one exemplar per prompt instead of two: a shorter prefix.
    "combined-1": {"exemplars": 1},
}
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
# At or below: an assistant, a diary or a narrator, not an insight to "you" (relevance.py).
VOICE_OFF = 0.5


def has_loop(text: str, n: int = 6) -> bool:
    """A sequence of ``n`` words written twice."""
    words = _WORD.findall(text.lower())
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    return len(grams) != len(set(grams))


def assess(rubric: Rubric, insight: dict[str, Any]) -> dict[str, Any]:
    """One draft's grade and failure kinds."""
    context = insight["prompt"]["context"]
    grade = rubric.grade(insight["text"], insight["domain"], context)
    _, _, rel = rubric.evidence(insight["text"], insight["domain"], context)
    return {"domain": insight["domain"], "tier": insight["tier"], "text": insight["text"],
            "score": grade.final_score, "passed": grade.passed, "loop": has_loop(insight["text"]),
            "echo": bool(rel.echo), "off_voice": rel.voice <= VOICE_OFF,
            "tokens": insight["completion_tokens"], "exemplar_set": insight.get("exemplar_set")}


def variant_settings(name: str, first_person_bias: float | None) -> GenerateSettings:
    changes = dict(VARIANTS[name])
    if first_person_bias is not None and name in ("guards", "combined"):
        changes["first_person_bias"] = first_person_bias
    return GenerateSettings().updated(**changes)


MODES = ("continuous", "static")
OPTIONS = ("copied", "fifo")


def parse_mode(mode: str) -> tuple[str, set[str]]:
    """``continuous+fifo`` -> (``continuous``, {``fifo``}); an unknown mode ends the run."""
    scheduling, *options = mode.split("+")
    if scheduling not in MODES or not set(options) <= set(OPTIONS):
        raise SystemExit(f"--modes: unknown mode {mode!r}; known: {', '.join(MODES)}, "
                         f"each optionally +{' and/or +'.join(OPTIONS)}")
    return scheduling, set(options)


def llama_server_backend(bin_dir: Path):
    """A llama-server on the shipped GGUF with the generate stage's batch of slots, and the
    OpenAI backend that calls it with the guards as its samplers (``guards=llama.cpp``)."""
    import llama_anchor  # bench/llama_anchor.py, beside this script
    from kasper.agents.runtime import model_store
    from kasper.agents.runtime.cores import available_cores
    from kasper.agents.runtime.openai_backend import OpenAIBackend
    from kasper.streams.settings import OpenAIGenerateSettings

    binary = llama_anchor.find_bin("llama-server", bin_dir)
    if binary is None:
        raise SystemExit(2)
    size = GenerateSettings().batch_size
    server = llama_anchor.ServerLeg(binary, model_store.shipped_gguf(), size, available_cores(), 2048)
    settings = OpenAIGenerateSettings(base_url=f"{server.url}/v1", model="shipped-gguf", concurrency=size,
                                      timeout_s=600, guards="llama.cpp")
    return server, OpenAIBackend(settings)


def _scheduling(backend: MLXBackend, mode: str) -> None:
    """``static``: one batch at a time, no row admitted until the batch is done (the engine
    before continuous batching); ``continuous``: rows join the running batch. ``+copied``:
    prefixes copied into every row (no shared-prefix attention); ``+fifo``: rows admitted in
    queue order (no admission by prefix)."""
    scheduling, options = parse_mode(mode)
    if not isinstance(backend, MLXBackend):
        return  # llama-server schedules its own slots
    for tier in ("lite", "standard", "pro"):
        engine = backend._tiers[tier].engine
        engine.scheduler.continuous = scheduling == "continuous"
        engine.shared_prefixes = "copied" not in options and engine.shared_prefixes_available
        engine.scheduler.affinity = "fifo" not in options


async def measure(backend: MLXBackend, legs: list[tuple[str, str]], prompts: list[dict],
                  first_person_bias: float | None, pipeline: int = 2,
                  rounds: int = 1, stream: bool = False) -> dict[tuple[str, str], tuple[list, float]]:
    """Each (variant, mode) leg's outcomes and generation seconds, turn by turn.

    A turn is ``pipeline`` micro-batches of ``batch_size`` prompts: in the continuous
    mode they are generated at once (as the pipelined generate agent keeps two batches
    in flight), so the slots a batch's early finishers free go to the next batch's
    prompts; in the static mode one after the other. The legs take turns (in a rotating
    order), so a load that comes and goes on shared cores falls on all of them alike
    and the ratios stay fair.
    """
    generators = {}
    for name in {v for v, _ in legs}:
        settings = variant_settings(name, first_person_bias)
        generators[name] = Generator(backend, settings)
        warm = {p["domain"]: p for p in prompts}.values()
        await Generator(backend, settings.updated(max_tokens=1)).run(list(warm))
    size = GenerateSettings().batch_size
    turn_size = len(prompts) if stream else size * pipeline
    done: dict[tuple[str, str], tuple[list, float]] = {leg: ([], 0.0) for leg in legs}
    turns = [prompts[i:i + turn_size] for i in range(0, len(prompts), turn_size)] * rounds
    for turn, chunk in enumerate(turns):
        order = legs[turn % len(legs):] + legs[:turn % len(legs)]
        for leg in order:
            name, mode = leg
            _scheduling(backend, mode)
            batches = [chunk[i:i + size] for i in range(0, len(chunk), size)]
            started = time.perf_counter()
            if mode.startswith("continuous") and stream:
                runs = await _streamed(generators[name], batches, pipeline)
            elif mode.startswith("continuous"):
                runs = await asyncio.gather(*(generators[name].run(b) for b in batches))
            else:
                runs = [await generators[name].run(b) for b in batches]
            seconds = time.perf_counter() - started
            outcomes = [o for run in runs for o in run]
            done[leg] = (done[leg][0] + outcomes, done[leg][1] + seconds)
    _scheduling(backend, "continuous")
    return done


async def _streamed(generator: Generator, batches: list[list[dict]], depth: int) -> list:
    """The batches' outcomes, generated as the agent's pipeline takes a backlog (agents/generate.py):
    at most ``depth`` batches at once, started in order, the next once the oldest is done."""
    running: list[asyncio.Task] = []
    runs = []
    for batch in batches:
        if len(running) >= depth:
            runs.append(await running.pop(0))
        running.append(asyncio.create_task(generator.run(batch)))
    for task in running:
        runs.append(await task)
    return runs


def summarize(name: str, outcomes: list, seconds: float, rubric: Rubric) -> dict[str, Any]:
    drafts = [assess(rubric, o.insight) | {"insight_id": o.insight["insight_id"], "prompt": o.insight["prompt"]}
              for o in outcomes if o.insight is not None]
    n = len(outcomes)
    tokens = sum(d["tokens"] for d in drafts)
    return {
        "variant": name, "prompts": n, "drafts": len(drafts), "failed": n - len(drafts),
        "pass_rate": round(sum(d["passed"] for d in drafts) / n, 4),
        "loops": sum(d["loop"] for d in drafts), "echoes": sum(d["echo"] for d in drafts),
        "off_voice": sum(d["off_voice"] for d in drafts),
        "mean_score": round(statistics.fmean(d["score"] for d in drafts), 4) if drafts else 0.0,
        "mean_tokens": round(tokens / max(1, len(drafts)), 1),
        "tokens_per_s": round(tokens / seconds, 2), "seconds_per_insight": round(seconds / n, 2),
        "seconds": round(seconds, 1), "texts": drafts,
    }


def judge_means(results: list[dict[str, Any]], limit: int) -> None:
    """The configured judge's mean overall per variant (``kasper judge``: the embedded
    judge when no URL is set), on each variant's first ``limit`` drafts."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "drafts.jsonl"
        with source.open("w", encoding="utf-8") as fh:
            for r in results:
                for d in r["texts"][:limit]:
                    fh.write(json.dumps({"insight_id": f"{r['variant']}/{d['insight_id']}",
                                         "prompt_id": d["prompt"]["prompt_id"], "text": d["text"],
                                         "domain": d["domain"], "context": d["prompt"]["context"]}) + "\n")
        kasper = Path(sys.executable).with_name("kasper")
        done = subprocess.run([str(kasper), "judge", str(source), "--json"], capture_output=True,
                              text=True, check=False)
    overall: dict[str, list[float]] = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            verdict = json.loads(line)
            overall.setdefault(verdict["insight_id"].split("/", 1)[0], []).append(verdict["overall"])
    for r in results:
        scores = overall.get(r["variant"], [])
        r["judge_mean_overall"] = round(statistics.fmean(scores), 3) if scores else None
        r["judged"] = len(scores)
    if done.returncode:
        print(f"kasper judge exited {done.returncode}: {done.stderr.strip()[-300:]}", file=sys.stderr)


async def main(args: argparse.Namespace) -> list[dict[str, Any]]:
    names = args.variants.split(",")
    for name in names:
        if name not in VARIANTS:
            raise SystemExit(f"--variants: unknown variant {name!r}; known: {', '.join(VARIANTS)}")
    modes = args.modes.split(",")
    for mode in modes:
        parse_mode(mode)
    legs = [(name, mode) for mode in modes for name in names]
    prompts = list(synthetic_prompts(args.prompts, seed=args.seed))
    server = None
    if args.llama_server:
        server, backend = llama_server_backend(args.llama_server)
    else:
        backend = MLXBackend(settings=GenerateSettings())
    await backend.start()
    try:
        done = await measure(backend, legs, prompts, args.first_person_bias, args.pipeline, args.rounds,
                             args.stream)
    finally:
        await backend.close()
        if server is not None:
            server.close()
    # As the grade stage grades: the model layers (semantic gate, salad head) by its setting.
    rubric = Rubric(semantic=GradeSettings().semantic_gate)
    results = []
    for name, mode in legs:
        result = summarize(name, *done[(name, mode)], rubric)
        results.append(result | {"mode": mode})
    if args.judge:
        judge_means(results, args.judge_limit)
    return results


def _line(r: dict[str, Any]) -> str:
    return (f"{r['variant']:<10} {r.get('mode', ''):<10} pass {r['pass_rate']:.3f}  loops {r['loops']:>2}  echoes {r['echoes']:>2}  "
            f"off-voice {r['off_voice']:>2}  failed {r['failed']}  mean {r['mean_score']:.3f}  "
            f"tokens {r['mean_tokens']:>5}  tok/s {r['tokens_per_s']:>6}  s/insight {r['seconds_per_insight']}"
            + (f"  judge {r['judge_mean_overall']} ({r['judged']})" if "judged" in r else ""))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--seed", type=int, default=99)
    parser.add_argument("--variants", default="baseline,guards,exemplars,combined")
    parser.add_argument("--modes", default="continuous",
                        help="engine scheduling per leg, comma-separated: continuous (rows join the "
                             "running batch, --pipeline micro-batches in flight) and/or static "
                             "(one batch at a time, as before continuous batching); +copied after "
                             "either: each row's prefix copied into its own cache (no shared-prefix attention); "
                             "+fifo: rows admitted in queue order (no admission by prefix)")
    parser.add_argument("--pipeline", type=int, default=2, metavar="N",
                        help="micro-batches generated at once in the continuous mode (the agent keeps 2)")
    parser.add_argument("--stream", action="store_true",
                        help="the prompts as a backlog: --pipeline batches in flight, the next started "
                             "once the oldest is done (as the generate agent does)")
    parser.add_argument("--rounds", type=int, default=1, help="times each leg runs the prompt set")
    parser.add_argument("--first-person-bias", type=float, default=None,
                        help="KASPER_GENERATE_FIRST_PERSON_BIAS for the guards and combined variants "
                             "(default: the setting's)")
    parser.add_argument("--judge", action="store_true",
                        help="also the configured judge's mean overall per variant (kasper judge)")
    parser.add_argument("--judge-limit", type=int, default=16, metavar="N",
                        help="drafts per variant the judge reads (the embedded judge is slow)")
    parser.add_argument("--llama-server", type=Path, default=None, metavar="BIN_DIR",
                        help="generate with llama-server from this llama.cpp build (bench/build_llama_cpp.sh) "
                             "through the OpenAI backend, the guards sent as its samplers, instead of MLX")
    parser.add_argument("--json", action="store_true", help="print every figure and text as JSON")
    parser.add_argument("--out", help="also write the JSON to this file")
    args = parser.parse_args()
    results = asyncio.run(main(args))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(results, fh, indent=1, default=str)
    if args.json:
        print(json.dumps(results, indent=1, default=str))
    else:
        for r in results:
            base = next((b for b in results if b["variant"] == "baseline" and b.get("mode") == r.get("mode")), None)
            ratio = ""
            if base and r is not base:
                ratio = (f"  pass x{r['pass_rate'] / base['pass_rate']:.2f}" if base["pass_rate"] else "") + \
                        f"  tok/s x{r['tokens_per_s'] / base['tokens_per_s']:.2f}"
            print(_line(r) + ratio)
