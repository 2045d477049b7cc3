"""Rolling a tier back: by an operator (``kasper models rollback``) or on live evidence
(``kasper models watch``, and the ``train`` role's watch: :mod:`kasper.trainer.agent`).

A rollback is a registry decision (:meth:`Registry.rollback`) announced like any
other model version: a promoted ModelVersion on ``kasper.models`` (key: tier)
for the version that serves again, with the reason naming what was rolled back
and why. Generators hot-swap to it (:mod:`kasper.agents.runtime.hot_swap` takes
every promoted version); a rollback to the base model is a ModelVersion with
version ``"base"`` and no adapter path, which the backends load as the base
model alone. The topic is compacted by tier, so a restarted generator finds the
rolled-back state.

Order: the decision is recorded (``published`` false), ``serving.json`` changes,
the ModelVersion is sent and acknowledged, the decision is marked published. A
crash in between leaves the decision pending; the next rollback or watch round
announces it first (and makes ``serving.json`` agree with it) before anything
else, so a rollback is announced at least once and never lost.

The watch (:func:`watch_round`) reads the verdicts, approved and feedback topics
from their beginning without a consumer group, folds them into a
:class:`~kasper.trainer.live.Tally`, compares the serving version with its
incumbent (:func:`~kasper.trainer.live.decide`) and rolls back, records the
keep, or waits. A version kept or rolled back is not judged again.

A canary (a version serving ``canary_share`` of its tier beside its incumbent) is
compared with the incumbent on the insights both wrote since it was recorded.
Rolled back, the incumbent is announced as the tier's full model (a promoted
ModelVersion without a canary share); kept, the canary itself is announced as the
full model (a ``promote`` decision, recorded, announced and marked published in
the same order as a rollback). An operator's ``kasper models rollback TIER``
during a canary goes back to the incumbent the same way.

Error policy: registry refusals are :class:`~kasper.trainer.errors.RegistryError`;
a broker that cannot be reached is ``BrokerUnavailable``, and the decision stays
pending for the next command.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from kasper.schemas import Codec
from kasper.streams import topics
from kasper.streams.consumer import decode_message, open_consumer
from kasper.streams.logs import get_logger
from kasper.streams.producer import Producer
from kasper.streams.serde import codec_from_settings
from kasper.streams.settings import Settings

from .adapters import Registry, is_canary, known_tier
from .config import TrainerConfig
from .live import BASE, KEEP, ROLLBACK, Policy, Tally, decide

log = get_logger(__name__)
LIVE_TOPICS = (topics.VERDICTS, topics.APPROVED, topics.FEEDBACK)


def rollback_record(registry: Registry, decision: dict[str, Any]) -> dict[str, Any]:
    """The ModelVersion (Avro field names) that announces ``decision``: the version that
    serves the whole tier now, with no canary share (a rollback, or a canary's promotion)."""
    tier, to = decision["tier"], decision["to"]
    # The base model: the one the version rolled back from was trained on.
    source = registry.entry(tier, decision["from"] if to == BASE else to)
    served = source if to != BASE else {}
    return {
        "tier": tier, "version": to, "base_model": source["base_model"],
        "adapter_path": served.get("adapter_path"), "adapter_sha256": served.get("adapter_sha256"),
        "window_id": served.get("window_id"),
        "metrics": {k: float(v) for k, v in served.get("metrics", {}).items()},
        "promoted": True,
        "reason": (f"full promotion of the canary {to} ({decision['by']}): {decision['reason']}"
                   if decision.get("kind") == "promote" else
                   f"rollback of {decision['from']} to {to} ({decision['by']}): {decision['reason']}"),
        "created_at": int(decision["at"]), "objective": served.get("objective"),
        "canary_share": None, "incumbent_version": None, "incumbent_adapter_path": None,
        "incumbent_adapter_sha256": None,
    }


async def announce(producer: Producer, registry: Registry, decision: dict[str, Any]) -> dict[str, Any]:
    """Send ``decision``'s ModelVersion, wait for the ack, mark the decision published."""
    record = rollback_record(registry, decision)
    await producer.send(topics.MODELS, record)
    await producer.flush()
    registry.mark_decision_published(decision["tier"], decision["number"])
    if decision.get("kind") == "promote":
        log.info("canary promoted to the whole tier", tier=decision["tier"], serving=decision["to"],
                 by=decision["by"], reason=decision["reason"][:300])
    else:
        log.info("model version rolled back", tier=decision["tier"], rolled_back=decision["from"],
                 serving=decision["to"], by=decision["by"], reason=decision["reason"][:300])
    return record


async def settle(producer: Producer, registry: Registry, tier: str) -> dict[str, Any] | None:
    """Announce the tier's pending decision, if a crash left one; returns its record."""
    pending = registry.pending(tier)
    if pending is None:
        return None
    registry.set_serving(tier, None if pending["to"] == BASE else pending["to"])
    if pending.get("kind") == "promote":  # a crash may have come before the version was marked
        registry.end_canary(pending)
    return await announce(producer, registry, pending)


async def roll_back(settings: Settings, tier: str, *, to: str | None = None, reason: str = "",
                    by: str = "operator") -> dict[str, Any]:
    """``kasper models rollback TIER``: returns ``{"decision", "record", "pending"}``.

    ``decision`` is None when nothing changed (``to`` serves already); ``pending``
    is the record of an earlier decision announced now (a crash left it pending),
    in which case nothing else is done.
    """
    registry = Registry(TrainerConfig.from_settings(settings).adapters_dir)
    if registry.pending(tier) is None:
        registry.plan(tier, to)  # refusals before the broker is asked for anything
    async with Producer(settings, codec_from_settings(settings.registry), linger_ms=0) as producer:
        pending = await settle(producer, registry, tier)
        if pending is not None:
            return {"decision": None, "record": None, "pending": pending}
        decision = registry.rollback(tier, to=to, reason=reason or "by hand", by=by)
        record = None if decision is None else await announce(producer, registry, decision)
    return {"decision": decision, "record": record, "pending": None}


async def watch_round(registry: Registry, tier: str, tally: Tally, producer: Producer,
                      policy: Policy) -> dict[str, Any]:
    """Judge what serves ``tier`` on ``tally``; roll back or record a keep. Returns what was seen."""
    await settle(producer, registry, tier)
    serving = registry.serving_entry(known_tier(tier))
    if serving is None:
        return {"tier": tier, "serving": BASE, "action": "none", "reason": "the base model serves"}
    if serving.get("live"):
        return {"tier": tier, "serving": serving["version"], "action": "none",
                "reason": f"already decided: {serving['live']['action']}"}
    new = serving["version"]
    incumbent = registry.before(tier, new)
    # A canary and its incumbent are compared on the same period: since the canary began.
    canary = is_canary(serving)
    since = int(serving["created_at"]) if canary else None
    counts = {"new": tally.counts(tier, new, since), "incumbent": tally.counts(tier, incumbent, since)}
    decision = decide(counts["new"], counts["incumbent"], policy)
    seen = {"tier": tier, "serving": new, "incumbent": incumbent, "action": decision.action,
            "canary_share": serving["canary_share"] if canary else None,
            "reason": decision.reason, **{f"live_{k}": v.as_dict() for k, v in counts.items()}}
    if decision.action == ROLLBACK:
        done = registry.rollback(tier, to=incumbent, reason=decision.reason, by="live watch", expect=new)
        if done is not None:
            registry.annotate(tier, new, live={"action": ROLLBACK, "against": incumbent, **seen})
            seen["record"] = await announce(producer, registry, done)
    elif decision.action == KEEP and canary:
        done = registry.promote_canary(tier, new, reason=decision.reason, by="live watch",
                                       live={"action": KEEP, "against": incumbent, **seen})
        if done is not None:
            seen["record"] = await announce(producer, registry, done)
    elif decision.action == KEEP:
        registry.annotate(tier, new, live={"action": KEEP, "against": incumbent, **seen})
    return seen


async def read_live(codec: Codec, tally: Tally, consumers: dict[str, Any]) -> None:
    """Fold every live record up to the topics' current ends into ``tally``."""
    for name, consumer in consumers.items():
        assigned = sorted(consumer.assignment(), key=lambda tp: tp.partition)
        ends = await consumer.end_offsets(assigned)
        while any([await consumer.position(tp) < ends[tp] for tp in assigned]):
            batch = await consumer.getmany(timeout_ms=500, max_records=1000)
            for tp in sorted(batch, key=lambda tp: tp.partition):
                for message in batch[tp]:
                    received = decode_message(codec, message)
                    if received.record is not None:  # not ours to dead-letter: the stages do
                        tally.add(name, received.record)


async def watch(settings: Settings, tiers: tuple[str, ...], *, once: bool, interval_s: float,
                report: Any = print, stop: asyncio.Event | None = None,
                registry: Registry | None = None) -> None:
    """``kasper models watch [TIER...]``: a round over ``tiers`` now, then every ``interval_s``
    unless ``once``. ``registry``: the adapters directory of the settings' cache by default."""
    for tier in tiers:
        known_tier(tier)
    registry = registry or Registry(TrainerConfig.from_settings(settings).adapters_dir)
    policy = Policy.from_settings(settings.trainer)
    codec, tally, stop = codec_from_settings(settings.registry), Tally(), stop or asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        consumers = {spec.name: await stack.enter_async_context(
            open_consumer(settings.kafka, spec.name, from_beginning=True)) for spec in LIVE_TOPICS}
        producer = await stack.enter_async_context(Producer(settings, codec, linger_ms=0))
        while True:
            await read_live(codec, tally, consumers)
            for tier in tiers:
                report(await watch_round(registry, tier, tally, producer, policy))
            if once:
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)
            if stop.is_set():
                return

