"""Rollback of model versions: the live rule on constructed counts, the registry's
decisions on disk, ``kasper models rollback`` and ``kasper models watch`` on a real
broker, and the generate stage's VersionSwitcher taking the announced versions on
the shipped model.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import uuid
from pathlib import Path

import pytest

from kasper.schemas.samples import sample_record
from kasper.streams.settings import ModelSettings, Settings
from kasper.trainer import commands
from kasper.trainer.adapters import Registry, list_versions
from kasper.trainer.errors import NothingToRollBackError, UnknownVersionError
from kasper.trainer.live import KEEP, ROLLBACK, WAIT, Live, Policy, Tally, decide, lead_bounds

from tests.helpers import KASPER, cache_holding, clean_env, free_port, lora_adapter

POLICY = Policy(margin=0.05, min_count=100, alpha=0.05)


# --- the live rule ---------------------------------------------------------------------


def test_newcombe_bounds_match_the_published_example():
    # Newcombe (1998), method 10, example (a): 56/70 vs 48/80, 95% two-sided: 0.0524 to 0.3339.
    low, high = lead_bounds(new=(48, 80), old=(56, 70), z=1.959964)
    assert round(low, 4) == 0.0524 and round(high, 4) == 0.3339


def test_a_version_worse_with_enough_evidence_is_rolled_back():
    decision = decide(Live(judged=200, approved=100), Live(judged=200, approved=150), POLICY)
    assert decision.action == ROLLBACK
    approval, thumbs = decision.comparisons
    assert approval.outcome == "worse" and approval.low > POLICY.margin
    assert thumbs.outcome == "too few"  # no thumbs at all: the approval rate alone decides
    assert "approval 100/200 vs 150/200" in decision.reason
    # Thumbs alone can do it too, with the approval rate equal.
    thumbs_worse = decide(Live(2000, 1400, up=60, down=90), Live(2000, 1400, up=120, down=30), POLICY)
    assert thumbs_worse.action == ROLLBACK and thumbs_worse.comparisons[1].outcome == "worse"


def test_a_version_worse_without_enough_evidence_is_watched_further():
    # The same 25-point drop on 60 insights each: below the minimum count, no judgement.
    few = decide(Live(judged=60, approved=30), Live(judged=60, approved=45), POLICY)
    assert few.action == WAIT and few.comparisons[0].outcome == "too few"
    # Enough insights, but a drop the interval cannot yet tell from the margin.
    unsure = decide(Live(judged=150, approved=95), Live(judged=150, approved=105), POLICY)
    assert unsure.action == WAIT and unsure.comparisons[0].outcome == "unsure"
    assert unsure.comparisons[0].low <= POLICY.margin < unsure.comparisons[0].high


def test_an_equal_or_better_version_is_kept():
    equal = decide(Live(2000, 1400, up=900, down=100), Live(2000, 1400, up=900, down=100), POLICY)
    assert equal.action == KEEP and {c.outcome for c in equal.comparisons} == {"not worse"}
    better = decide(Live(1000, 800, up=450, down=50), Live(1000, 600, up=400, down=100), POLICY)
    assert better.action == KEEP
    # Equal approvals but no thumbs yet: kept only once both rates have their evidence.
    no_thumbs = decide(Live(2000, 1400), Live(2000, 1400), POLICY)
    assert no_thumbs.action == WAIT


def test_a_decoy_with_few_records_and_a_high_rate_is_not_judged_on_them():
    # 19 of 20 approved looks far better than the incumbent's 300 of 500, and 2 of 20
    # far worse; neither is judged before the new version has min_count insights.
    lucky = decide(Live(judged=20, approved=19, up=10, down=0), Live(500, 300, up=300, down=100), POLICY)
    unlucky = decide(Live(judged=20, approved=2, up=0, down=10), Live(500, 300, up=300, down=100), POLICY)
    assert lucky.action == unlucky.action == WAIT
    assert all(c.outcome == "too few" and c.low is None for c in lucky.comparisons + unlucky.comparisons)
    # The same rates with the evidence behind them are judged.
    assert decide(Live(200, 40, up=0, down=100), Live(500, 300, up=300, down=100), POLICY).action == ROLLBACK


# --- attribution: verdicts, approvals and thumbs per version ---------------------------


def insight(version: str | None, tier: str = "standard") -> dict:
    return sample_record("Insight") | {"insight_id": str(uuid.uuid4()), "tier": tier,
                                       "adapter_version": version}


def verdict(ins: dict, recommendation: str = "APPROVE") -> dict:
    grade = sample_record("Grade") | {"insight_id": ins["insight_id"], "insight": ins}
    return sample_record("Verdict") | {"insight_id": ins["insight_id"], "grade": grade,
                                       "recommendation": recommendation}


def approved(ins: dict) -> dict:
    return sample_record("ApprovedInsight") | {"insight_id": ins["insight_id"], "insight": ins}


def thumb(ins: dict, rating: str, feedback_id: str | None = None) -> dict:
    return sample_record("Feedback") | {"feedback_id": feedback_id or str(uuid.uuid4()),
                                        "insight_id": ins["insight_id"], "rating": rating}


def test_the_tally_attributes_verdicts_approvals_and_thumbs_to_the_version_that_wrote_them():
    new, old, lite = insight("standard-0002"), insight(None), insight("standard-0002", tier="lite")
    rejected = insight("standard-0002")
    tally = Tally()
    early = thumb(new, "up", "f-1")  # feedback read before its insight's records: joined later
    tally.add("kasper.feedback", early)
    for topic, record in [
        ("kasper.verdicts", verdict(new)), ("kasper.verdicts", verdict(new)),  # a redelivery
        ("kasper.approved", approved(new)),
        ("kasper.verdicts", verdict(rejected, "REJECT")),
        ("kasper.verdicts", verdict(old, "REVISE")),
        ("kasper.approved", approved(lite)),
        ("kasper.verdicts", sample_record("Verdict") | {"insight_id": "no-grade", "grade": None}),
        ("kasper.feedback", early),  # the same feedback id again
        ("kasper.feedback", thumb(new, "down")),
        ("kasper.feedback", thumb(new, "none")),  # stars or a comment only: not a thumb
        ("kasper.feedback", thumb(old, "up")),
        ("kasper.feedback", thumb(insight("standard-0002"), "down")),  # insight never seen
        # Another schema's record on the topic (a fuzzed or foreign producer): skipped.
        ("kasper.approved", sample_record("Feedback")),
        ("kasper.verdicts", {"grade": {"insight": {"insight_id": "x"}}}),
    ]:
        tally.add(topic, record)
    assert tally.counts("standard", "standard-0002") == Live(judged=2, approved=1, up=1, down=1)
    assert tally.counts("standard", "base") == Live(judged=1, approved=0, up=1, down=0)
    assert tally.counts("lite", "standard-0002") == Live(judged=1, approved=1)
    assert tally.counts("pro", "base") == Live()
    assert tally.skipped == 2


# --- the registry's rollback decisions -------------------------------------------------


def fake_adapter(path: Path, seed: int) -> Path:
    """Adapter files for the registry's bookkeeping (nothing loads them in these tests)."""
    path.mkdir(parents=True)
    (path / "adapters.safetensors").write_bytes(hashlib.sha256(str(seed).encode()).digest() * 4)
    (path / "adapter_config.json").write_text("{}")
    return path


def add(registry: Registry, tmp: Path, n: int, promoted: bool, tier: str = "standard") -> dict:
    fields = {"base_model": "/models/SmolLM2", "window_id": f"{tier}-w{n}", "metrics": {"test_loss": 2.0 - n / 10},
              "promoted": promoted, "reason": "test", "created_at": 1_700_000_000_000 + n}
    return registry.add(tier, fields, fake_adapter(tmp / f"src-{tier}-{n}", n))


def test_the_registry_rolls_back_records_why_and_refuses_what_it_cannot(tmp_path):
    registry = Registry(tmp_path / "adapters")
    first, rejected, third = (add(registry, tmp_path, 1, True), add(registry, tmp_path, 2, False),
                              add(registry, tmp_path, 3, True))
    assert (first["incumbent"], rejected["incumbent"], third["incumbent"]) == (
        "base", "standard-0001", "standard-0001")
    assert registry.serving() == {"standard": "standard-0003"}

    decision = registry.rollback("standard", reason="too many rejects", by="operator", at_ms=5)
    assert decision == {"kind": "rollback", "tier": "standard", "from": "standard-0003",
                        "to": "standard-0001", "reason": "too many rejects", "by": "operator",
                        "at": 5, "published": False, "number": 1}
    assert registry.serving() == {"standard": "standard-0001"}  # the rejected one is skipped
    assert registry.entry("standard", "standard-0003")["rolled_back"] == {
        "to": "standard-0001", "reason": "too many rejects", "by": "operator", "at": 5}
    assert registry.pending("standard") == decision
    registry.mark_decision_published("standard", 1)
    assert registry.pending("standard") is None

    # The same target again changes nothing; nor does a watch that expected another version.
    assert registry.rollback("standard", to="standard-0001", reason="again", by="operator") is None
    assert registry.rollback("standard", reason="x", by="live watch", expect="standard-0003") is None
    assert len(registry.decisions("standard")) == 1

    with pytest.raises(UnknownVersionError, match="never promoted"):
        registry.rollback("standard", to="standard-0002", reason="x", by="operator")
    with pytest.raises(UnknownVersionError, match="no version 'standard-0099'"):
        registry.rollback("standard", to="standard-0099", reason="x", by="operator")
    with pytest.raises(UnknownVersionError, match="unknown tier 'gold'"):
        registry.rollback("gold", reason="x", by="operator")

    # Back to the base model (nothing earlier served), then nothing further to go back to.
    assert registry.rollback("standard", reason="x", by="operator")["to"] == "base"
    assert registry.serving() == {} and registry.serving_entry("standard") is None
    with pytest.raises(NothingToRollBackError, match="already serves the base model"):
        registry.rollback("standard", reason="x", by="operator")
    # An operator may bring back a version that was rolled back before.
    assert registry.rollback("standard", to="standard-0003", reason="x", by="operator")["from"] == "base"
    assert registry.serving() == {"standard": "standard-0003"}
    assert [d["to"] for d in registry.decisions("standard")] == ["standard-0001", "base", "standard-0003"]
    # No new version directory was made; `kasper models list` shows what happened.
    assert [v["version"] for v in registry.versions("standard")] == [
        "standard-0001", "standard-0002", "standard-0003"]
    settings = Settings(model=ModelSettings(cache_dir=tmp_path, model=None))
    rows = list_versions(settings)
    assert [r["rolled_back"]["to"] if r["rolled_back"] else None for r in rows] == ["base", None, None]
    lines = commands.format_models(rows, commands.serving(settings))
    assert [line.split("\t")[2] for line in lines[:3]] == ["rolled-back", "rejected", "SERVING"]
    # A version promoted over the reinstated one goes back to it: what served before it.
    assert add(registry, tmp_path, 4, True)["incumbent"] == "standard-0003"
    assert registry.rollback("standard", reason="x", by="operator")["to"] == "standard-0003"
    # Versions recorded without an incumbent: the latest earlier promoted one not rolled back.
    registry.annotate("standard", "standard-0004", incumbent=None)
    assert registry.before("standard", "standard-0004") == "standard-0003"
    assert registry.previous("standard", "standard-0003") == "base"  # 0001 rolled back, 0002 rejected


# --- on the broker: the CLI, the announcement, the generator's switch ------------------


def run_kasper(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([KASPER, *args], env=env, capture_output=True, text=True, timeout=180)


async def models_events(tier: str, root: Path) -> list:
    """This test's ModelVersion messages for ``tier`` (a rollback to base names no path)."""
    from kasper.schemas import Codec
    from kasper.streams import topics
    from kasper.streams.consumer import read
    from kasper.streams.settings import get_settings

    found = [r async for r in read(get_settings().kafka, Codec(), topics.MODELS.name,
                                   from_beginning=True, idle_timeout_s=1.0)]
    return [r for r in found if r.record and r.record["tier"] == tier
            and str(root) in r.record["reason"] + (r.record["adapter_path"] or "")]


def announced(tier: str, root: Path) -> list:
    return asyncio.run(models_events(tier, root))


@pytest.mark.broker
@pytest.mark.model
def test_rollback_is_announced_and_the_generators_switch_swaps_to_it(broker, shipped_model, tmp_path):
    from kasper.agents.runtime.hot_swap import VersionSwitcher
    from kasper.agents.runtime.mlx_backend import MLXBackend
    from kasper.streams.settings import ModelSettings

    cache = tmp_path / "cache"
    registry = Registry(cache / "adapters")
    for n in (1, 2):
        fields = {"base_model": str(shipped_model), "window_id": f"standard-w{n}", "metrics": {"test_loss": 1.5},
                  "promoted": True, "reason": f"promoted in {tmp_path}", "created_at": 1_700_000_000_000 + n}
        registry.add("standard", fields, lora_adapter(shipped_model, tmp_path / f"src{n}", seed=n))
    env = clean_env(KASPER_BOOTSTRAP_SERVERS=broker, KASPER_CACHE_DIR=str(cache))

    done = run_kasper("models", "rollback", "standard", "--reason", f"test {tmp_path}", env=env)
    assert done.returncode == 0, done.stderr
    assert "rolled back standard-0002 -> standard-0001, announced" in done.stdout
    [message] = announced("standard", tmp_path)
    event = message.record
    restored = registry.entry("standard", "standard-0001")
    assert (event["version"], event["promoted"], event["adapter_path"], event["adapter_sha256"]) == (
        "standard-0001", True, restored["adapter_path"], restored["adapter_sha256"])
    assert event["reason"].startswith("rollback of standard-0002 to standard-0001 (operator): test ")
    assert message.key == b"standard" and registry.pending("standard") is None

    # The generate stage's switcher, on the shipped model, serving standard-0002 first.
    letters: list = []

    async def dead_letter(*args):
        letters.append(args)

    backend = MLXBackend(ModelSettings(model=shipped_model))
    switcher = VersionSwitcher(backend, dead_letter, adapters_dir=registry.root)

    async def swap(record: dict, value: bytes = b"") -> str | None:
        switcher.offer(record, value, record["tier"].encode(), None)
        await switcher.apply()
        return backend.serving("standard").adapter_version

    async def scenario() -> list:
        await backend.start()
        switcher.ready.set()
        try:
            second = registry.entry("standard", "standard-0002")
            promoted = {**event, "version": "standard-0002", "adapter_path": second["adapter_path"],
                        "adapter_sha256": second["adapter_sha256"], "reason": "promoted"}
            seen = [await swap(promoted), await swap(event, message.value)]
            base = run_kasper("models", "rollback", "standard", "--to", "base", "--reason", str(tmp_path), env=env)
            assert base.returncode == 0, base.stderr
            to_base = (await models_events("standard", tmp_path))[-1].record
            assert (to_base["version"], to_base["adapter_path"], to_base["promoted"]) == ("base", None, True)
            assert to_base["base_model"] == str(shipped_model)
            seen.append(await swap(to_base))
            return seen
        finally:
            await backend.close()

    assert asyncio.run(scenario()) == ["standard-0002", "standard-0001", None]
    assert letters == []  # nothing was refused
    assert registry.serving() == {}

    # Idempotent: the same target again announces nothing; errors exit 1 with one line.
    again = run_kasper("models", "rollback", "standard", "--to", "base", env=env)
    assert again.returncode == 0 and "serves already; nothing changed" in again.stdout
    assert len(announced("standard", tmp_path)) == 2
    for args, error in [(("standard",), "already serves the base model"),
                        (("standard", "--to", "standard-0042"), "no version 'standard-0042'"),
                        (("gold",), "unknown tier 'gold'")]:
        failed = run_kasper("models", "rollback", *args, env=env)
        assert failed.returncode == 1 and failed.stderr.startswith("error: ") and error in failed.stderr


def live_evidence(tmp_path: Path) -> Registry:
    """standard-0002 promoted over standard-0001, and live records where it does far worse:
    60 of 150 approved against 120 of 150 (every approved insight got a thumbs up)."""
    from kasper.streams import topics
    from kasper.streams.producer import Producer

    registry = Registry(tmp_path / "cache" / "adapters")
    add(registry, tmp_path, 1, True)
    add(registry, tmp_path, 2, True)
    records = []
    for version, judged, approved_n in (("standard-0001", 150, 120), ("standard-0002", 150, 60)):
        for i in range(judged):
            ins = insight(version)
            records.append((topics.VERDICTS, verdict(ins, "APPROVE" if i < approved_n else "REJECT")))
            if i < approved_n:
                records.append((topics.APPROVED, approved(ins)))
                records.append((topics.FEEDBACK, thumb(ins, "up")))

    async def produce():
        async with Producer() as producer:
            for spec, record in records:
                await producer.send(spec, record)
    asyncio.run(produce())
    return registry


@pytest.mark.broker
def test_watch_rolls_back_a_version_that_does_worse_live_and_only_once(own_broker, tmp_path):
    cache = tmp_path / "cache"
    registry = live_evidence(tmp_path)
    env = clean_env(KASPER_BOOTSTRAP_SERVERS=own_broker.address, KASPER_CACHE_DIR=str(cache),
                    KASPER_TRAINER_ROLLBACK_MIN_COUNT="100")

    first = run_kasper("models", "watch", "standard", "--once", env=env)
    assert first.returncode == 0, first.stderr
    seen = json.loads(first.stdout.strip().splitlines()[-1])
    assert (seen["serving"], seen["incumbent"], seen["action"]) == ("standard-0002", "standard-0001", "rollback")
    assert seen["live_new"] == {"judged": 150, "approved": 60, "up": 60, "down": 0}
    assert seen["live_incumbent"] == {"judged": 150, "approved": 120, "up": 120, "down": 0}
    assert "approval 60/150 vs 120/150" in seen["reason"] and "thumbs_up 60/60 vs 120/120: too few" in seen["reason"]
    assert registry.serving() == {"standard": "standard-0001"}
    assert registry.entry("standard", "standard-0002")["rolled_back"]["by"] == "live watch"
    [event] = [r for r in announced("standard", cache) if r.record["version"] == "standard-0001"]
    assert event.record["promoted"] and "rollback of standard-0002 to standard-0001 (live watch)" in event.record["reason"]

    # A second round: standard-0001 serves, its incumbent (the base model) wrote nothing.
    second = run_kasper("models", "watch", "standard", "--once", env=env)
    again = json.loads(second.stdout.strip().splitlines()[-1])
    assert (again["serving"], again["incumbent"], again["action"]) == ("standard-0001", "base", "wait")
    assert len(registry.decisions("standard")) == 1 and len(announced("standard", cache)) == 1


@pytest.mark.broker
@pytest.mark.model
def test_the_train_role_rolls_back_on_live_evidence_by_itself(own_broker, shipped_model, tmp_path):
    import signal
    import time

    cache = cache_holding(tmp_path / "cache", shipped_model)  # the training loop finds its model
    registry = live_evidence(tmp_path)
    env = clean_env(KASPER_BOOTSTRAP_SERVERS=own_broker.address, KASPER_CACHE_DIR=str(cache),
                    KASPER_WEB_PORT=str(free_port()), KASPER_METRICS_PORT=str(free_port()),
                    KASPER_REBALANCE_TIMEOUT_S="3", KASPER_SESSION_TIMEOUT_S="6",
                    KASPER_TRAINER_ROLLBACK_MIN_COUNT="100")
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen([KASPER, "worker", "--agents", "train"], env=env, stdout=log,
                              stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline, events = time.monotonic() + 180, []
        while not events and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(2)
            events = announced("standard", cache)
        assert events, (tmp_path / "worker.log").read_text()[-4000:]
        [event] = events
        assert event.record["version"] == "standard-0001" and event.record["promoted"]
        assert "rollback of standard-0002 to standard-0001 (live watch)" in event.record["reason"]
        assert registry.serving() == {"standard": "standard-0001"}
        assert registry.entry("standard", "standard-0002")["live"]["action"] == "rollback"
        assert worker.poll() is None, "the worker died"
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=90)
    assert code == 0, (tmp_path / "worker.log").read_text()[-4000:]
    assert "live watch decided" in (tmp_path / "worker.log").read_text()
