"""The topic catalog: every topic of the pipeline, declared once.

Agents, the CLI, the admin commands, docker-compose and the dashboards all take
topic names from here. Partition counts are explicit because a broker that
auto-creates topics picks its own count, and Faust tables then fail with
``PartitionsMismatch`` (docs/embedded-broker.md).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

DAY_MS = 24 * 60 * 60 * 1000


@dataclass(frozen=True)
class TopicSpec:
    """One topic: what it carries, how it is keyed, how long it is kept."""

    name: str
    record: str  # Avro record short name of the values (see schemas/)
    key: str  # the record field the message key is taken from
    partitions: int
    cleanup_policy: str  # "delete" or "compact"
    retention_ms: int  # -1 keeps forever
    doc: str

    def configs(self) -> dict[str, str]:
        """Topic-level configs for CreateTopics."""
        return {"cleanup.policy": self.cleanup_policy, "retention.ms": str(self.retention_ms)}


PROMPTS = TopicSpec(
    "kasper.prompts", "PromptEvent", "prompt_id", 8, "delete", 7 * DAY_MS,
    "Prompt events from upstream services and revise requests from the router.",
)
INSIGHTS = TopicSpec(
    "kasper.insights", "Insight", "insight_id", 8, "delete", 30 * DAY_MS,
    "Generated insights with their generation metadata.",
)
GRADES = TopicSpec(
    "kasper.grades", "Grade", "insight_id", 8, "delete", 30 * DAY_MS,
    "Rubric grades, one per insight.",
)
VERDICTS = TopicSpec(
    "kasper.verdicts", "Verdict", "insight_id", 8, "delete", -1,
    "LLM-judge verdicts; REJECTs stay here for good.",
)
APPROVED = TopicSpec(
    "kasper.approved", "ApprovedInsight", "insight_id", 8, "delete", -1,
    "The downstream contract: prompt + insight + grade + verdict of approved insights.",
)
FEEDBACK = TopicSpec(
    "kasper.feedback", "Feedback", "insight_id", 8, "delete", -1,
    "User feedback on delivered insights.",
)
TRAINING_WINDOWS = TopicSpec(
    "kasper.training-windows", "TrainingWindow", "window_id", 1, "delete", -1,
    "Closed retraining windows and their dataset files.",
)
MODELS = TopicSpec(
    "kasper.models", "ModelVersion", "tier", 1, "compact", -1,
    "Model versions per tier; compacted so the latest per tier is always there.",
)
TOKENS = TopicSpec(
    "kasper.tokens", "TokenDelta", "insight_id", 8, "delete", DAY_MS,
    "Token deltas while insights are written (generate --stream-tokens), for live UIs.",
)
DLQ = TopicSpec(
    "kasper.dlq", "DeadLetter", "original_key", 4, "delete", 30 * DAY_MS,
    "Records a stage could not decode or process, with the reason and original bytes.",
)

CATALOG: tuple[TopicSpec, ...] = (
    PROMPTS, INSIGHTS, GRADES, VERDICTS, APPROVED, FEEDBACK, TRAINING_WINDOWS, MODELS, TOKENS, DLQ,
)
BY_NAME: dict[str, TopicSpec] = {spec.name: spec for spec in CATALOG}


def get(name: str) -> TopicSpec:
    """The spec of topic ``name``; ``KeyError`` lists the known topics."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown topic {name!r}; known: {', '.join(BY_NAME)}") from None


_REPLAY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$")


def replay_grades(name: str) -> TopicSpec:
    """``kasper.grades.replay.<name>``: grades re-computed by ``kasper replay regrade``.

    Same record, key, partitions and retention as the grades topic, so the two
    compare partition for partition. ``name`` is letters, digits, ``.``, ``_``, ``-``.
    """
    if not _REPLAY_NAME.match(name):
        raise ValueError(f"bad replay name {name!r}: use letters, digits, '.', '_' or '-'")
    return dataclasses.replace(GRADES, name=f"{GRADES.name}.replay.{name}",
                               doc=f"Grades re-computed by `kasper replay regrade` ({name}).")
