# Long: the canary from its split and record through promotion, the watch and rollback to workers serving both versions: one stage, one file.
"""The canary stage: a newly promoted version serves a share of its tier beside the incumbent.

The split rule alone; the ModelVersion's canary fields through the codec; the
registry recording a canary and its decisions; the live watch deciding on the
concurrent traffic and announcing once, on a real broker; generate workers on
the shipped model serving both versions by the split, a restarted one rebuilding
it from the compacted topic, and refusing a canary whose incumbent lies outside
the adapters directory.

One module past 400 lines: it follows one feature from the split rule to the
workers, and its broker and model fixtures are shared by the tests below.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from kasper.agents.runtime.canary import CanaryError, canary_share, incumbent_record, split_point, to_canary
from kasper.schemas import Codec
from kasper.schemas.samples import sample_record
from kasper.trainer.adapters import Registry, is_canary, list_versions
from kasper.trainer.live import BASE, Tally
from kasper.trainer.pipeline import model_version_record

from tests.test_rollback import approved, fake_adapter, insight, thumb, verdict

CANARY_AT = datetime(2026, 11, 26, tzinfo=timezone.utc)
CANARY_MS = int(CANARY_AT.timestamp() * 1000)
BEFORE = datetime(2026, 11, 25, 12, tzinfo=timezone.utc)  # the incumbent alone served the tier
DURING = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)  # canary and incumbent side by side


# --- the split rule --------------------------------------------------------------------


def test_the_split_sends_the_share_to_the_canary_and_nothing_at_share_zero():
    ids = [str(uuid.UUID(int=i)) for i in range(20_000)]
    assert not any(to_canary(i, 0.0) for i in ids)
    assert all(0.0 <= split_point(i) < 1.0 for i in ids)
    for share in (0.05, 0.2, 0.5):
        taken = sum(to_canary(i, share) for i in ids) / len(ids)
        assert abs(taken - share) < 0.015, (share, taken)
    assert sum(to_canary(i, 0.999) for i in ids) >= len(ids) * 0.997
    # A larger share keeps every prompt the smaller one sent to the canary.
    assert all(to_canary(i, 0.5) for i in ids if to_canary(i, 0.2))


def test_the_split_is_the_same_in_another_process_whatever_its_hash_seed():
    ids = [f"prompt-{i}" for i in range(50)]
    code = ("from kasper.agents.runtime.canary import split_point; import sys; "
            "print(' '.join(repr(split_point(i)) for i in sys.argv[1:]))")
    for seed in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", code, *ids], capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONHASHSEED": seed}).stdout.split()
        assert [float(x) for x in out] == [split_point(i) for i in ids]


def test_a_canary_record_must_name_a_share_in_range_and_an_incumbent():
    record = sample_record("ModelVersion") | {"canary_share": 0.2, "incumbent_version": "standard-0003",
                                              "incumbent_adapter_path": "/a/standard-0003",
                                              "incumbent_adapter_sha256": "f" * 64}
    assert canary_share(record) == 0.2
    assert canary_share(sample_record("ModelVersion")) is None  # a full-tier version
    for bad in ({"canary_share": 1.0}, {"canary_share": 0.0}, {"canary_share": -0.1},
                {"canary_share": float("nan")}, {"canary_share": "0.2"}, {"incumbent_version": None}):
        with pytest.raises(CanaryError):
            canary_share(record | bad)
    old = incumbent_record(record)
    assert (old["version"], old["adapter_path"], old["adapter_sha256"], old["canary_share"]) == (
        "standard-0003", "/a/standard-0003", "f" * 64, None)
    base = incumbent_record(record | {"incumbent_version": BASE, "incumbent_adapter_path": None})
    assert (base["version"], base["adapter_path"], base["adapter_sha256"]) == (BASE, None, None)


# --- the record ------------------------------------------------------------------------


def test_a_canary_event_round_trips_and_an_old_record_still_decodes():
    from fastavro import parse_schema, schemaless_writer
    import io
    import json

    from kasper.schemas.parsed import SINGLE_OBJECT_MAGIC
    from kasper.schemas.schema_set import RELEASED_DIR, fingerprint_of, load_schema_set

    codec = Codec()
    canary = sample_record("ModelVersion") | {"canary_share": 0.25, "incumbent_version": "standard-0003",
                                              "incumbent_adapter_path": "/a/standard/standard-0003",
                                              "incumbent_adapter_sha256": "f" * 64}
    assert codec.decode(codec.encode("ModelVersion", canary)).record == canary

    # A record the released v1 schema wrote (no objective, no canary fields): read as a full-tier version.
    released = load_schema_set(RELEASED_DIR / "v1")
    full = next(name for name in released.records if name.endswith(".ModelVersion"))
    schema = released.standalone(full)
    old = {k: v for k, v in sample_record("ModelVersion").items()
           if k in {f["name"] for f in schema["fields"]}}
    body = io.BytesIO()
    schemaless_writer(body, parse_schema(json.loads(json.dumps(schema)), named_schemas={}), old)
    decoded = codec.decode(SINGLE_OBJECT_MAGIC + fingerprint_of(schema) + body.getvalue()).record
    assert {k: decoded[k] for k in old} == old
    assert (decoded["canary_share"], decoded["incumbent_version"], decoded["incumbent_adapter_path"]) == (
        None, None, None)
    assert canary_share(decoded) is None


# --- the registry ----------------------------------------------------------------------


def add(registry: Registry, tmp: Path, n: int, share: float = 0.0, tier: str = "standard",
        at: int | None = None) -> dict:
    fields = {"base_model": "/models/SmolLM2", "window_id": f"{tier}-w{n}", "metrics": {"test_loss": 1.0},
              "promoted": True, "reason": f"test {tmp}", "created_at": at or 1_700_000_000_000 + n}
    return registry.add(tier, fields, fake_adapter(tmp / f"src-{tier}-{n}", n), canary_share=share)


def test_a_promotion_with_a_share_is_recorded_and_announced_as_a_canary_of_the_full_model(tmp_path):
    registry = Registry(tmp_path / "adapters")
    first = add(registry, tmp_path, 1, share=0.2)  # over the base model
    assert is_canary(first) and first["incumbent"] == BASE
    record = model_version_record(first)
    assert (record["canary_share"], record["incumbent_version"], record["incumbent_adapter_path"],
            record["incumbent_adapter_sha256"]) == (0.2, BASE, None, None)
    assert canary_share(record) == 0.2 and incumbent_record(record)["adapter_path"] is None

    decision = registry.promote_canary("standard", "standard-0001", reason="kept", by="live watch", at_ms=7)
    assert decision["kind"] == "promote" and decision["to"] == "standard-0001" and not decision["published"]
    assert registry.promote_canary("standard", "standard-0001", reason="again", by="live watch") is None
    assert not is_canary(registry.entry("standard", "standard-0001"))
    assert registry.full_model("standard") == "standard-0001"

    second = add(registry, tmp_path, 2, share=0.2)
    assert (second["incumbent"], second["incumbent_adapter_path"], second["incumbent_adapter_sha256"]) == (
        "standard-0001", first["adapter_path"], first["adapter_sha256"])
    # A third promoted while the second's canary runs: compared with the full model, not the canary.
    assert registry.full_model("standard") == "standard-0001"
    third = add(registry, tmp_path, 3, share=0.2)
    assert third["incumbent"] == "standard-0001" and model_version_record(third)["incumbent_version"] == "standard-0001"
    assert registry.before("standard", "standard-0003") == "standard-0001"
    replaced = registry.entry("standard", "standard-0002")
    assert not is_canary(replaced) and replaced["superseded_by"] == "standard-0003"
    # Share 0: promoted to the whole tier at once, as before canaries.
    assert model_version_record(add(registry, tmp_path, 4, share=0.0))["canary_share"] is None
    assert registry.full_model("standard") == "standard-0004"
    # Not promoted: no canary fields whatever the share.
    rejected = registry.add("lite", {"base_model": "m", "promoted": False, "reason": "no", "created_at": 1},
                            fake_adapter(tmp_path / "src-lite-9", 9), canary_share=0.2)
    assert not is_canary(rejected) and model_version_record(rejected)["canary_share"] is None


def test_an_operator_rollback_during_a_canary_goes_back_to_the_incumbent_and_ends_the_canary(tmp_path):
    from kasper.streams.settings import ModelSettings, Settings
    from kasper.trainer import commands

    registry = Registry(tmp_path / "adapters")
    add(registry, tmp_path, 1)
    add(registry, tmp_path, 2, share=0.3)
    settings = Settings(model=ModelSettings(cache_dir=tmp_path, model=None))
    rows = list_versions(settings)
    assert [r["canary"] for r in rows] == [None, 0.3]
    assert commands.format_models(rows, commands.serving(settings))[1].split("\t")[2] == "SERVING (canary 30%)"
    decision = registry.rollback("standard", reason="by hand", by="operator")
    assert (decision["from"], decision["to"]) == ("standard-0002", "standard-0001")
    assert not is_canary(registry.entry("standard", "standard-0002"))
    assert registry.serving() == {"standard": "standard-0001"}
    # Brought back by hand later, it serves the whole tier: no longer a canary.
    registry.rollback("standard", to="standard-0002", reason="again", by="operator")
    assert registry.full_model("standard") == "standard-0002"
    assert [r["canary"] for r in list_versions(settings)] == [None, None]


def test_the_tally_counts_a_canary_period_only_when_asked():
    tally = Tally()
    for when, n in ((BEFORE, 3), (DURING, 2)):
        for _ in range(n):
            ins = insight("standard-0001") | {"created_at": when}
            tally.add("kasper.approved", approved(ins))
    assert tally.counts("standard", "standard-0001").judged == 5
    assert tally.counts("standard", "standard-0001", since=CANARY_MS).judged == 2


# --- the live watch on a broker --------------------------------------------------------


def produce(records: list) -> None:
    from kasper.streams.producer import Producer

    async def send():
        async with Producer() as producer:
            for spec, record in records:
                await producer.send(spec, record)
    asyncio.run(send())


def live(tier: str, version: str, judged: int, approved_n: int, when: datetime) -> list:
    """Verdicts for ``judged`` insights of ``version``, the first ``approved_n`` approved and thumbed up."""
    from kasper.streams import topics

    out = []
    for i in range(judged):
        ins = insight(version, tier=tier) | {"created_at": when}
        out.append((topics.VERDICTS, verdict(ins, "APPROVE" if i < approved_n else "REJECT")))
        if i < approved_n:
            out += [(topics.APPROVED, approved(ins)), (topics.FEEDBACK, thumb(ins, "up"))]
    return out


def models_events() -> list[dict]:
    from kasper.streams import topics
    from kasper.streams.consumer import read
    from kasper.streams.settings import get_settings

    async def collect():
        return [r.record async for r in read(get_settings().kafka, Codec(), topics.MODELS.name,
                                             from_beginning=True, idle_timeout_s=1.0)]
    return asyncio.run(collect())


@pytest.mark.broker
def test_the_watch_rolls_back_a_worse_canary_and_fully_promotes_one_that_is_not_worse(
        own_broker, tmp_path, monkeypatch):
    from kasper.streams.settings import get_settings
    from kasper.trainer.rollback import roll_back, watch

    monkeypatch.setenv("KASPER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("KASPER_TRAINER_ROLLBACK_MIN_COUNT", "100")
    get_settings.cache_clear()
    registry = Registry(tmp_path / "cache" / "adapters")
    for tier in ("standard", "pro", "lite"):
        add(registry, tmp_path, 1, tier=tier)
        add(registry, tmp_path, 2, share=0.2, tier=tier, at=CANARY_MS)
    records = (
        # standard: the canary approves 60 of 150 where the incumbent, at the same time, approves 120.
        live("standard", "standard-0001", 150, 120, DURING) + live("standard", "standard-0002", 150, 60, DURING)
        # pro: equal side by side; the incumbent's perfect record before the canary does not count
        # (counted, it would make the canary look worse and keep it waiting).
        + live("pro", "pro-0001", 200, 200, BEFORE)
        + live("pro", "pro-0001", 250, 240, DURING) + live("pro", "pro-0002", 250, 240, DURING))
    produce(records)

    seen: list = []
    asyncio.run(watch(get_settings(), ("standard", "pro"), once=True, interval_s=0, report=seen.append,
                      registry=registry))
    standard, pro = seen
    assert (standard["action"], standard["incumbent"], standard["canary_share"]) == ("rollback", "standard-0001", 0.2)
    assert standard["live_new"]["approved"] == 60 and standard["live_incumbent"]["approved"] == 120
    assert (pro["action"], pro["incumbent"]) == ("keep", "pro-0001")
    assert pro["live_incumbent"] == {"judged": 250, "approved": 240, "up": 240, "down": 0}

    events = {e["tier"]: e for e in models_events()}
    assert len(models_events()) == 2
    rolled, kept = events["standard"], events["pro"]
    assert (rolled["version"], rolled["promoted"], rolled["canary_share"], rolled["adapter_path"]) == (
        "standard-0001", True, None, registry.entry("standard", "standard-0001")["adapter_path"])
    assert rolled["reason"].startswith("rollback of standard-0002 to standard-0001 (live watch)")
    assert (kept["version"], kept["promoted"], kept["canary_share"], kept["incumbent_version"]) == (
        "pro-0002", True, None, None)
    assert kept["reason"].startswith("full promotion of the canary pro-0002 (live watch)")
    assert registry.serving() == {"standard": "standard-0001", "pro": "pro-0002", "lite": "lite-0002"}
    assert [(d["kind"], d["published"]) for d in registry.decisions("pro")] == [("promote", True)]
    assert registry.entry("pro", "pro-0002")["live"]["action"] == "keep"

    # Each decided once: another round announces nothing.
    again: list = []
    asyncio.run(watch(get_settings(), ("standard", "pro"), once=True, interval_s=0, report=again.append,
                      registry=registry))
    assert again[1]["action"] == "none" and len(models_events()) == 2

    # An operator's rollback during lite's canary: the incumbent serves the whole tier again.
    done = asyncio.run(roll_back(get_settings(), "lite", reason="by hand"))
    assert done["record"]["version"] == "lite-0001" and done["record"]["canary_share"] is None
    lite = [e for e in models_events() if e["tier"] == "lite"]
    assert [(e["version"], e["canary_share"]) for e in lite] == [("lite-0001", None)]
    assert registry.serving()["lite"] == "lite-0001" and registry.pending("lite") is None


@pytest.mark.broker
def test_a_full_promotion_recorded_before_a_crash_is_announced_by_the_next_round(own_broker, tmp_path):
    from kasper.streams.settings import get_settings
    from kasper.trainer.rollback import watch

    registry = Registry(tmp_path / "adapters")
    add(registry, tmp_path, 1, tier="pro")
    add(registry, tmp_path, 2, share=0.2, tier="pro", at=CANARY_MS)
    # The watch recorded the decision, then the process died before the announcement.
    registry.promote_canary("pro", "pro-0002", reason="kept", by="live watch", live={"action": "keep"})
    assert registry.pending("pro")["kind"] == "promote"
    seen: list = []
    asyncio.run(watch(get_settings(), ("pro",), once=True, interval_s=0, report=seen.append, registry=registry))
    [event] = models_events()
    assert (event["version"], event["canary_share"]) == ("pro-0002", None)
    assert registry.pending("pro") is None and seen[0]["action"] == "none"


# --- generate workers on the shipped model ---------------------------------------------


def split_prompts(share: float, each: int) -> list[dict]:
    """``each`` prompts the split sends to the canary and ``each`` it leaves to the incumbent."""
    canary, rest = [], []
    for i in range(1000):
        pid = str(uuid.UUID(int=0xC0FFEE00 + i))
        (canary if to_canary(pid, share) else rest).append(pid)
    ids = canary[:each] + rest[:each]
    return [sample_record("PromptEvent") | {"prompt_id": pid, "tier": "standard"} for pid in ids]


@pytest.mark.broker
@pytest.mark.model
def test_workers_serve_both_versions_by_the_split_and_a_restarted_one_rebuilds_it(
        own_broker, shipped_model, tmp_path):
    from kasper.agents.generate import follow_versions
    from kasper.agents.generation import Generator
    from kasper.agents.runtime.hot_swap import AdapterPathError, VersionSwitcher
    from kasper.agents.runtime.mlx_backend import MLXBackend
    from kasper.streams import topics
    from kasper.streams.settings import GenerateSettings, ModelSettings, get_settings

    from tests.test_rollback import lora_adapter

    registry = Registry(tmp_path / "adapters")
    for n, share in ((1, 0.0), (2, 0.5)):
        fields = {"base_model": str(shipped_model), "window_id": f"standard-w{n}", "metrics": {},
                  "promoted": True, "reason": "test", "created_at": CANARY_MS + n}
        registry.add("standard", fields, lora_adapter(shipped_model, tmp_path / f"src{n}", seed=n),
                     canary_share=share)
    produce([(topics.MODELS, model_version_record(registry.entry("standard", v)))
             for v in ("standard-0001", "standard-0002")])
    prompts = split_prompts(0.5, each=3)
    expected = {p["prompt_id"]: "standard-0002" if to_canary(p["prompt_id"], 0.5) else "standard-0001"
                for p in prompts}
    settings = GenerateSettings(max_tokens=12, exemplars=0)

    async def worker(attack: bool = False) -> tuple[dict, list]:
        letters: list = []

        async def dead_letter(exc, value, key, where):
            letters.append(exc)

        backend = MLXBackend(ModelSettings(model=shipped_model), settings)
        switcher = VersionSwitcher(backend, dead_letter, adapters_dir=registry.root)
        ctx = SimpleNamespace(settings=get_settings(), codec=Codec())
        follower = None
        try:
            await backend.start()
            follower = asyncio.create_task(follow_versions(ctx, switcher))
            await asyncio.wait_for(switcher.caught_up.wait(), 60)
            switcher.ready.set()
            async with switcher.batch():  # applies what the topic holds: the canary event
                outcomes = await Generator(backend, settings).run(prompts)
            assert backend.serving("standard").adapter_version == "standard-0001"
            canary, share = backend.canary("standard")
            assert (canary.adapter_version, share) == ("standard-0002", 0.5)
            if attack:
                await offer_attacks(switcher, backend)
            return {o.insight["prompt_id"]: o.insight for o in outcomes}, letters
        finally:
            if follower is not None:
                follower.cancel()
                await asyncio.gather(follower, return_exceptions=True)
            await backend.close()

    async def offer_attacks(switcher, backend) -> None:
        # The incumbent of a forged canary lies outside the adapters directory (a real
        # adapter there, with its true hash): refused before anything is loaded.
        outside = lora_adapter(shipped_model, tmp_path / "outside" / "standard-0009", seed=9)
        import hashlib

        sha = hashlib.sha256((outside / "adapters.safetensors").read_bytes()).hexdigest()
        canary = model_version_record(registry.entry("standard", "standard-0002"))
        for forged in (canary | {"version": "standard-0003", "incumbent_version": "standard-0009",
                                 "incumbent_adapter_path": str(outside), "incumbent_adapter_sha256": sha},
                       canary | {"version": "standard-0003", "canary_share": 1.5}):
            switcher.offer(forged, b"forged", b"standard", None)
            await switcher.apply()
        assert backend.serving("standard").adapter_version == "standard-0001"
        assert backend.canary("standard")[0].adapter_version == "standard-0002"
        # The watch keeps the canary: announced with no share, it serves the whole tier.
        full = model_version_record(registry.entry("standard", "standard-0002")) | {
            "canary_share": None, "incumbent_version": None, "incumbent_adapter_path": None,
            "incumbent_adapter_sha256": None}
        switcher.offer(full, b"full", b"standard", None)
        await switcher.apply()
        assert backend.serving("standard").adapter_version == "standard-0002"
        assert backend.canary("standard") is None

    first, letters = asyncio.run(worker())
    assert letters == []
    assert {pid: i["adapter_version"] for pid, i in first.items()} == expected
    assert set(expected.values()) == {"standard-0001", "standard-0002"}  # both versions wrote
    assert all(i["text"] for i in first.values())

    # A restarted worker reads the compacted topic's latest event (the canary, naming its
    # incumbent) and sends every prompt to the same version as before.
    second, letters = asyncio.run(worker(attack=True))
    assert {pid: i["adapter_version"] for pid, i in second.items()} == expected
    # Same version, same seed, same batch: the same text.
    assert {pid: i["text"] for pid, i in second.items()} == {pid: i["text"] for pid, i in first.items()}
    assert [type(e) for e in letters] == [AdapterPathError, CanaryError]
    assert "outside the adapters directory" in str(letters[0])


def test_the_openai_backend_ignores_a_canary_and_says_why():
    from structlog.testing import capture_logs

    from kasper.agents.runtime.openai_backend import OpenAIBackend

    backend = OpenAIBackend()
    record = sample_record("ModelVersion") | {"canary_share": 0.2, "incumbent_version": BASE}
    with capture_logs() as logs:
        assert asyncio.run(backend.apply_version(record)) is None  # nothing to swap: not applicable
        assert asyncio.run(backend.apply_version(sample_record("ModelVersion"))) is None
    [line] = logs
    assert line["event"].startswith("canary ignored") and line["canary_share"] == 0.2
    assert backend.serving("standard").adapter_version is None
