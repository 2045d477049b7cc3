"""``kasper grade``: the rubric over a JSONL file, without Kafka."""

from __future__ import annotations

import json
from typing import IO

import click

from kasper.agents.quality.rubric import GRADER_VERSION, GRADER_VERSIONS, Rubric, grade_records
from kasper.schemas import to_json
from kasper.schemas.errors import KasperError
from kasper.streams.settings import get_settings


@click.command("grade")
@click.argument("source", type=click.File("rb"))
@click.option("--json", "as_json", is_flag=True, help="One Grade record per line as JSON.")
@click.option("--pass-threshold", type=click.FloatRange(0, 1), default=0.6, show_default=True)
@click.option("--rubric", "version", type=click.Choice(GRADER_VERSIONS), default=GRADER_VERSION,
              show_default=True, help="Rubric version (an older one, to compare).")
@click.option("--semantic-gate/--no-semantic-gate", default=None,
              help="Run the model layers: the gates' semantic layer and rubric-2.2's salad head "
                   "(default: KASPER_GRADE_SEMANTIC_GATE, on).")
def grade_offline(source: IO[bytes], as_json: bool, pass_threshold: float, version: str,
                  semantic_gate: bool | None) -> None:
    """Grade insight records from SOURCE (JSONL with at least `text`; `domain` and `context`,
    or a carried `prompt`, make the relevance evidence count) without Kafka."""
    if semantic_gate is None:
        semantic_gate = get_settings().grade.semantic_gate
    rubric, bad = Rubric(pass_threshold=pass_threshold, version=version, semantic=semantic_gate), 0
    for number, raw in enumerate(source, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
            [grade] = grade_records([record], rubric)
        except (ValueError, AttributeError, TypeError) as exc:
            bad += 1
            click.echo(f"line {number}: {exc}", err=True)
            continue
        click.echo(json.dumps(to_json(grade), ensure_ascii=False) if as_json else
                   f"{grade['insight_id']}\t{grade['final_score']:.3f}\t{grade['letter']}\t"
                   f"{'PASS' if grade['passed'] else 'FAIL'}\t{'; '.join(grade['gate_failures'])}")
    if bad:
        raise KasperError(f"{bad} line(s) could not be graded")


COMMANDS = (grade_offline,)
