"""A window's dataset as a pure function of the source records it covers.

(One module, over 300 lines: the whole pure function from records to window bytes
is read in one place, which is what makes a replay's byte-identity checkable.)

:func:`build_window` takes the records at a window's offsets (approved insights
and feedback, with their topic/partition/offset) and returns every file of the
window as bytes, plus the manifest. Nothing here reads a clock, a file or
Kafka, so reading the same offsets again (a replay) gives byte-identical files,
manifest and window id:

- records are sorted by (topic, partition, offset) and deduplicated by
  ``insight_id`` / ``feedback_id``, the first one kept;
- the window id is derived from the tier, the offset ranges and the newest
  record timestamp (a value taken from the records, not the wall clock);
- JSON is written with sorted keys, the Avro archives with the ``null`` codec
  and a sync marker derived from the window id (fastavro picks a random one
  otherwise).

What goes where (the issue's rules):

- SFT (``train``/``valid``/``test.jsonl``, mlx-lm chat format): approved
  insights of the tier whose final score reaches the tier minimum and whose
  net feedback is not negative; system + user messages from
  :func:`kasper.agents.quality.prompts.build_messages` (what the generator is served
  with; a revision's notes left out), assistant = the approved text. Split by a hash of
  the insight id.
- ``preference.jsonl`` (DPO): a liked and a disliked insight of the same prompt
  (``pairing: same_prompt``), else of an equivalent one (same domain and focus:
  ``equivalent_prompt``); each insight in one pair at most.
- ``thumbs.jsonl`` (KTO): every insight with a net thumbs up or down, its ``label``.
  Both carry a ``split`` (by a hash of the (chosen) insight id, as SFT does).
- ``approved.avro`` / ``feedback.avro``: the records themselves, redacted.

Personal-data audit (before anything is written): free-text fields (context,
instructions, notes, texts, comments) are redacted with
:func:`kasper.agents.quality.personal_data.redact_personal_data`; an insight whose own text holds
personal data is left out of SFT and preference pairs (the model must not learn
to write placeholders). The manifest counts what was redacted, never the data.

Feedback joined to an insight from an earlier window brings that insight in
as a source record too (its offset is among the window's ranges), so the join is
part of the pure input: a liked insight is trained on again, a disliked one is
excluded and may form a preference pair.

Error policy: none raised for bad records; anything unusable is counted in the
manifest's ``excluded`` map (callers dead-letter invalid feedback before it
gets here).
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

import fastavro

from kasper.agents.quality.personal_data import find_personal_data, redact_personal_data
from kasper.agents.quality.prompts import PromptRejected, build_messages
from kasper.schemas import standalone_schema

from .config import WindowPolicy

FORMAT = "kasper-window/1"
MANIFEST = "manifest.json"
_FREE_TEXT = frozenset({"context", "instructions", "revise_notes", "text", "recommendations",
                        "rationale", "comment"})


@dataclass(frozen=True)
class Source:
    """One source record and where it was read; ``value`` is the raw message (not hashed)."""

    topic: str
    partition: int
    offset: int
    kind: str  # "approved" or "feedback"
    record: Mapping[str, Any]
    value: bytes = b""

    @property
    def position(self) -> tuple[str, int, int]:
        return self.topic, self.partition, self.offset

    @property
    def record_id(self) -> str:
        return self.record["insight_id" if self.kind == "approved" else "feedback_id"]


@dataclass(frozen=True)
class WindowContent:
    """Every file of a window (name -> bytes), the manifest among them."""

    window_id: str
    tier: str
    ranges: list[dict[str, Any]]
    counts: dict[str, int]
    files: dict[str, bytes]
    records: dict[str, int] = field(default_factory=dict)  # file name -> records in it

    @property
    def manifest(self) -> dict[str, Any]:
        return json.loads(self.files[MANIFEST])


def feedback_value(feedback: Mapping[str, Any]) -> int:
    """+1 liked, -1 disliked, 0 neutral: thumbs first, else stars (4-5 up, 1-2 down)."""
    rating = feedback.get("rating")
    if rating in ("up", "down"):
        return 1 if rating == "up" else -1
    stars = feedback.get("stars")
    if isinstance(stars, int) and 1 <= stars <= 5:
        return 1 if stars >= 4 else -1 if stars <= 2 else 0
    return 0


def split_of(insight_id: str, split: tuple[float, float]) -> str:
    """``train``/``valid``/``test`` from a hash of the id: stable across windows and runs."""
    digest = hashlib.sha256(insight_id.encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    return "train" if u < split[0] else "valid" if u < split[1] else "test"


def source_ranges(sources: Iterable[Source]) -> list[dict[str, Any]]:
    """Exact offset ranges: consecutive offsets of one partition merge, any gap splits."""
    ranges: list[dict[str, Any]] = []
    for topic, partition, offset in sorted({s.position for s in sources}):
        last = ranges[-1] if ranges else None
        if last and (last["topic"], last["partition"]) == (topic, partition) \
                and last["end_offset"] == offset - 1:
            last["end_offset"] = offset
        else:
            ranges.append({"topic": topic, "partition": partition,
                           "start_offset": offset, "end_offset": offset})
    return ranges


def window_id_for(tier: str, ranges: list[dict[str, Any]], last_at: datetime | None) -> str:
    """``<tier>-<newest record time>-<hash of tier and ranges>``."""
    digest = hashlib.sha256(json.dumps([tier, ranges], sort_keys=True).encode()).hexdigest()
    stamp = last_at.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ") if last_at else "empty"
    return f"{tier}-{stamp}-{digest[:10]}"


def build_window(tier: str, sources: Iterable[Source], policy: WindowPolicy) -> WindowContent:
    """All files of the window over ``sources`` for ``tier`` (see the module docstring)."""
    # The same position twice is the same message read twice, not a duplicate record.
    ordered = sorted({s.position: s for s in reversed(list(sources))}.values(), key=lambda s: s.position)
    ranges = source_ranges(ordered)
    approved, feedback, excluded = _dedupe(tier, ordered)
    net = _net_feedback(feedback)
    audit: dict[str, int] = {}
    clean = {i: _redacted(s.record, audit) for i, s in approved.items()}
    leaks = {i for i, s in approved.items() if find_personal_data(s.record["insight"]["text"])}
    lines = _sft(tier, approved, clean, net, leaks, policy, excluded)
    thumbed = _thumbed(approved, clean, net, leaks, policy)
    lines["preference"] = _pairs(thumbed, clean, net, policy)
    lines["thumbs"] = _thumbs(thumbed, clean, net, policy)
    last_at = max((_stamp(s) for s in [*approved.values(), *feedback]), default=None)
    window_id = window_id_for(tier, ranges, last_at)
    archives = {"approved.avro": ("ApprovedInsight", list(clean.values())),
                "feedback.avro": ("Feedback", [_redacted(s.record, audit) for s in feedback])}
    files, records = _files(window_id, lines, archives)
    counts = {
        "approved": len(approved), "feedback": len(feedback),
        "sft_train": len(lines["train"]), "sft_valid": len(lines["valid"]),
        "sft_test": len(lines["test"]), "preference_pairs": len(lines["preference"]),
        "thumbs_up": sum(r["label"] for r in lines["thumbs"]),
        "thumbs_down": sum(not r["label"] for r in lines["thumbs"]),
        "excluded": sum(excluded.values()),
    }
    manifest = {
        "format": FORMAT, "window_id": window_id, "tier": tier, "source_offsets": ranges,
        "counts": counts, "excluded": excluded, "personal_data_redacted": audit,
        "policy": {"min_score": policy.min_score[tier], "split": list(policy.split),
                   "template_version": policy.template_version},
        "newest_record_at": last_at.isoformat() if last_at else None,
        "files": [_describe(name, data, records[name]) for name, data in sorted(files.items())],
    }
    files[MANIFEST] = (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    return WindowContent(window_id, tier, ranges, counts, files, records)


def _files(window_id: str, lines: dict[str, list], archives: dict[str, tuple[str, list]]
           ) -> tuple[dict[str, bytes], dict[str, int]]:
    # Empty files are not written: mlx-lm fails on an empty valid.jsonl, but skips a missing one.
    files, records = {}, {}
    for name, rows in lines.items():
        if rows:
            files[f"{name}.jsonl"], records[f"{name}.jsonl"] = _jsonl(rows), len(rows)
    for name, (schema, rows) in archives.items():
        if rows:
            files[name], records[name] = _avro(rows, schema, f"{window_id}/{name}"), len(rows)
    return files, records


def _dedupe(tier: str, ordered: list[Source]) -> tuple[dict[str, Source], list[Source], dict[str, int]]:
    excluded = {"duplicate": 0, "other_tier": 0, "unjoined_feedback": 0}
    approved: dict[str, Source] = {}
    for s in (s for s in ordered if s.kind == "approved"):
        if s.record["insight_id"] in approved:
            excluded["duplicate"] += 1
        elif s.record["prompt"]["tier"] != tier:
            excluded["other_tier"] += 1
        else:
            approved[s.record["insight_id"]] = s
    feedback, seen = [], set()
    for s in (s for s in ordered if s.kind == "feedback"):
        if s.record["feedback_id"] in seen:
            excluded["duplicate"] += 1
        elif s.record["insight_id"] not in approved:
            excluded["unjoined_feedback"] += 1
        else:
            seen.add(s.record["feedback_id"])
            feedback.append(s)
    return approved, feedback, excluded


def _net_feedback(feedback: list[Source]) -> dict[str, int]:
    net: dict[str, int] = {}
    for s in feedback:
        net[s.record["insight_id"]] = net.get(s.record["insight_id"], 0) + feedback_value(s.record)
    return net


def _messages(record: Mapping[str, Any], policy: WindowPolicy) -> list[dict[str, str]] | None:
    # A revision's notes are left out: they were about a rejected draft the example does
    # not hold, and the generator does not show them to the in-process model by default
    # (KASPER_GENERATE_REVISE_NOTES).
    try:
        return build_messages(record["prompt"], policy.template_version, revise_notes=False)
    except PromptRejected:
        return None


def _sft(tier: str, approved: dict[str, Source], clean: dict[str, dict], net: dict[str, int],
         leaks: set[str], policy: WindowPolicy, excluded: dict[str, int]) -> dict[str, list]:
    splits: dict[str, list] = {"train": [], "valid": [], "test": []}
    for key in ("below_min_score", "negative_feedback", "personal_data", "prompt_rejected"):
        excluded[key] = 0
    for insight_id, source in approved.items():
        record = clean[insight_id]
        messages = _messages(record, policy)
        reason = ("below_min_score" if source.record["grade"]["final_score"] < policy.min_score[tier]
                  else "negative_feedback" if net.get(insight_id, 0) < 0
                  else "personal_data" if insight_id in leaks
                  else "prompt_rejected" if messages is None else None)
        if reason:
            excluded[reason] += 1
            continue
        answer = {"role": "assistant", "content": record["insight"]["text"]}
        splits[split_of(insight_id, policy.split)].append({"messages": [*messages, answer]})
    return splits


def _thumbed(approved: dict[str, Source], clean: dict[str, dict], net: dict[str, int],
             leaks: set[str], policy: WindowPolicy) -> list[str]:
    """Insights with a net thumbs up or down that may be trained on, in source order."""
    return [i for i in approved if net.get(i, 0) != 0 and i not in leaks
            and _messages(clean[i], policy) is not None]


def _thumbs(thumbed: list[str], clean: dict[str, dict], net: dict[str, int],
            policy: WindowPolicy) -> list[dict[str, Any]]:
    # KTO's unpaired examples: every thumbed insight, liked or not; the split (by insight
    # id, as for SFT) keeps held-out insights out of training.
    return [{"prompt": _messages(clean[i], policy),
             "completion": [{"role": "assistant", "content": clean[i]["insight"]["text"]}],
             "label": net[i] > 0, "insight_id": i, "split": split_of(i, policy.split)}
            for i in thumbed]


def _pairs(thumbed: list[str], clean: dict[str, dict], net: dict[str, int],
           policy: WindowPolicy) -> list[dict[str, Any]]:
    # Same prompt id first (the same request answered twice); what is left pairs across
    # equivalent prompts (same domain and focus). Each insight is in one pair at most.
    pairs: list[dict[str, Any]] = []
    left = list(thumbed)
    for pairing, key in (("same_prompt", lambda p: ("id", p["prompt_id"])), ("equivalent_prompt", _prompt_key)):
        liked: dict[tuple, list[str]] = {}
        disliked: dict[tuple, list[str]] = {}
        for insight_id in left:  # source order: deterministic pairing
            side = liked if net[insight_id] > 0 else disliked
            side.setdefault(key(clean[insight_id]["prompt"]), []).append(insight_id)
        used: set[str] = set()
        for group in sorted(liked.keys() & disliked.keys()):
            best = sorted(liked[group], key=lambda i: -net[i])  # stable: ties keep source order
            worst = sorted(disliked[group], key=lambda i: net[i])
            for chosen, rejected in zip(best, worst):
                used |= {chosen, rejected}
                pairs.append({
                    "prompt": _messages(clean[chosen], policy),
                    "chosen": [{"role": "assistant", "content": clean[chosen]["insight"]["text"]}],
                    "rejected": [{"role": "assistant", "content": clean[rejected]["insight"]["text"]}],
                    "chosen_insight_id": chosen, "rejected_insight_id": rejected,
                    "pairing": pairing, "split": split_of(chosen, policy.split),
                })
        left = [i for i in left if i not in used]
    return pairs


def _prompt_key(prompt: Mapping[str, Any]) -> tuple[str, str]:
    # "Equivalent" prompts: same domain and the same focus; without a focus, the same
    # context as a whole (a free-text journal entry never makes two prompts equal).
    context = {k: v for k, v in (prompt.get("context") or {}).items() if k != "journal_snippet"}
    focus = context.get("focus") or json.dumps(context, sort_keys=True)
    return prompt["domain"], " ".join(focus.lower().split())


def _redacted(record: Mapping[str, Any], audit: dict[str, int]) -> dict[str, Any]:
    out = copy.deepcopy(dict(record))
    _redact_in(out, audit)
    return out


def _redact_in(node: Any, audit: dict[str, int], free: bool = False) -> Any:
    if isinstance(node, str):
        if not free:
            return node
        kinds = find_personal_data(node)
        for kind in kinds:
            audit[kind] = audit.get(kind, 0) + 1
        return redact_personal_data(node) if kinds else node
    if isinstance(node, dict):
        for key, value in node.items():
            node[key] = _redact_in(value, audit, free or key in _FREE_TEXT)
    elif isinstance(node, list):
        node[:] = [_redact_in(item, audit, free) for item in node]
    return node


def _stamp(source: Source) -> datetime:
    value = source.record["approved_at" if source.kind == "approved" else "created_at"]
    return value if isinstance(value, datetime) else datetime.fromtimestamp(value / 1000, timezone.utc)


def _jsonl(rows: list[Any]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows).encode()


@lru_cache(maxsize=None)
def _container_schema(name: str) -> Any:
    # The self-contained form: a container file must carry every named type it uses.
    return fastavro.parse_schema(standalone_schema(name), named_schemas={})


def _avro(rows: list[dict[str, Any]], schema: str, seed: str) -> bytes:
    buf = io.BytesIO()
    sync = hashlib.sha256(seed.encode()).digest()[:16]
    fastavro.writer(buf, _container_schema(schema), rows, codec="null", sync_marker=sync)
    return buf.getvalue()


def _describe(name: str, data: bytes, records: int) -> dict[str, Any]:
    return {"name": name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
            "records": records}
