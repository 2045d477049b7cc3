"""Adapter versions on disk, and which one serves each tier.

Layout under ``adapters_dir`` (``<cache_dir>/adapters`` by default)::

    serving.json                       {"standard": "standard-0003", ...}
    <tier>/<tier>-NNNN/                one version: adapters.safetensors,
                                       adapter_config.json, kasper-adapter.json
    <tier>/.work/<window_id>/          a training run in progress (checkpoints)
    <tier>/decisions.json              rollbacks of the tier, oldest first

``kasper-adapter.json`` holds the version's ModelVersion fields (``created_at``
in epoch ms) plus ``published``. A version directory appears by renaming a
complete temporary directory; ``serving.json`` is replaced atomically and only
after the version it names exists. A run that diverged is recorded too (no
weights, ``adapter_path`` null), so a redelivered window is not trained again.
Each version also records its ``incumbent``: what served the whole tier when it
was added (``"base"`` for the base model), the model its live numbers are compared
with (:mod:`kasper.trainer.live`).

Canary: with a ``canary_share`` above 0, a promoted version is recorded with that
share and its incumbent's adapter path and SHA-256, and serves only that share of
the tier (``serving.json`` names it; the incumbent writes the rest) until the live
watch decides: a rollback (below) or a full promotion (:meth:`Registry.promote_canary`,
a ``promote`` decision in ``decisions.json``). Either marks it ``canary_done``. A
version promoted while another's canary runs is compared with the model serving
the whole tier, not with the undecided canary, which is marked ``superseded_by``
it and never judged.

A rollback (:meth:`Registry.rollback`) makes an earlier version (or the base
model) serve again. It adds no weights: it marks the version it replaces
``rolled_back`` (to what, why, by whom), appends a decision to the tier's
``decisions.json`` and points ``serving.json`` at the restored version, so the
version label generators report stays the label of the weights they run.

Tiers, window ids and versions name directories here, and they come from
records: each passes :func:`~kasper.trainer.windows.checked_name` first, and an
adapter path recorded in a version must resolve inside ``adapters_dir``
(``UnsafePathError`` otherwise), so a forged window or ModelVersion cannot
make the registry write or load outside its directory.

Error policy: OS errors propagate (an outage; the window is retried).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

from kasper.trainer.config import TIERS, TrainerConfig
from kasper.trainer.errors import NothingToRollBackError, UnknownVersionError
from kasper.trainer.live import BASE  # the label of "no adapter": the base model alone
from kasper.trainer.windows import UnsafePathError, checked_name, inside

ADAPTER_FILE = "adapters.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
META = "kasper-adapter.json"
SERVING = "serving.json"
DECISIONS = "decisions.json"
_VERSION = re.compile(r"^(?P<tier>[a-z]+)-(?P<n>\d{4,})$")


class Registry:
    """The adapter versions of every tier under one directory."""

    def __init__(self, adapters_dir: Path) -> None:
        self.root = Path(adapters_dir)

    def versions(self, tier: str | None = None) -> list[dict[str, Any]]:
        """Every recorded version (oldest first per tier), with ``serving`` set."""
        serving = self.serving()
        out = []
        pattern = checked_name(tier, "tier") if tier is not None else "*"
        for meta in sorted(self.root.glob(f"{pattern}/*/{META}")):
            entry = json.loads(meta.read_text())
            entry["serving"] = serving.get(entry["tier"]) == entry["version"]
            out.append(entry)
        return sorted(out, key=lambda e: (e["tier"], _number(e["version"])))

    def find_window(self, tier: str, window_id: str) -> dict[str, Any] | None:
        """The version trained on ``window_id``, if any (a redelivered window is not retrained)."""
        return next((v for v in self.versions(tier) if v.get("window_id") == window_id), None)

    def serving(self) -> dict[str, str]:
        try:
            return json.loads((self.root / SERVING).read_text())
        except (OSError, ValueError):
            return {}

    def serving_entry(self, tier: str) -> dict[str, Any] | None:
        """The version serving ``tier``, or None when the base model alone serves it."""
        version = self.serving().get(tier)
        entry = next((v for v in self.versions(tier) if v["version"] == version), None)
        if entry is not None and entry.get("adapter_path"):
            self.adapter_inside(entry["adapter_path"])
        return entry

    def adapter_inside(self, adapter_path: str | Path) -> Path:
        """``adapter_path`` resolved, if it is a version directory under this registry."""
        if not Path(adapter_path).is_absolute():
            raise UnsafePathError(f"adapter path {str(adapter_path)!r} is not an absolute path")
        resolved = inside(self.root, adapter_path, "adapter path")
        if resolved == self.root.expanduser().resolve():
            raise UnsafePathError(f"adapter path {str(adapter_path)!r} is the adapters directory itself")
        return resolved

    def work_dir(self, tier: str, window_id: str) -> Path:
        return self.root / checked_name(tier, "tier") / ".work" / checked_name(window_id, "window id")

    def add(self, tier: str, fields: dict[str, Any], adapter_src: Path | None,
            canary_share: float = 0.0) -> dict[str, Any]:
        """Record a new version of ``tier`` (moving the adapter files in); promote if it says so,
        as a canary serving ``canary_share`` of the tier when that is above 0."""
        tier_dir = self.root / checked_name(tier, "tier")
        tier_dir.mkdir(parents=True, exist_ok=True)
        tmp = tier_dir / f".tmp-{os.getpid()}-{time.monotonic_ns()}"
        tmp.mkdir()
        sha = None
        if adapter_src is not None:
            for name in (ADAPTER_FILE, ADAPTER_CONFIG):
                shutil.copy2(Path(adapter_src) / name, tmp / name)
            sha = hashlib.sha256((tmp / ADAPTER_FILE).read_bytes()).hexdigest()
        incumbent = self.full_model(tier)
        fields = {**fields, "incumbent": incumbent}
        if canary_share > 0 and fields.get("promoted") and adapter_src is not None:
            served = {} if incumbent == BASE else self.entry(tier, incumbent)
            fields.update(canary_share=float(canary_share),
                          incumbent_adapter_path=served.get("adapter_path"),
                          incumbent_adapter_sha256=served.get("adapter_sha256"))
        entry = self._place(tier, tmp, fields, sha, adapter_src is not None)
        if entry["promoted"]:
            current = self.serving().get(tier, BASE)
            if current != incumbent:  # a running canary, replaced before its decision: never judged
                self.annotate(tier, current, canary_done=True, superseded_by=entry["version"])
            self.set_serving(tier, entry["version"])
        return entry

    def _place(self, tier: str, tmp: Path, fields: dict[str, Any], sha: str | None,
               has_weights: bool) -> dict[str, Any]:
        while True:  # the next free number; rename refuses to replace a non-empty directory
            version = f"{tier}-{self._next_number(tier):04d}"
            final = self.root / tier / version
            entry = {**fields, "tier": tier, "version": version, "published": False,
                     "adapter_path": str(final) if has_weights else None, "adapter_sha256": sha}
            (tmp / META).write_text(json.dumps(entry, indent=2, sort_keys=True) + "\n")
            try:
                os.rename(tmp, final)
                return entry
            except OSError:
                if not final.exists():
                    raise

    def _next_number(self, tier: str) -> int:
        numbers = [_number(p.name) for p in (self.root / tier).iterdir() if _VERSION.match(p.name)]
        return max(numbers, default=0) + 1

    def full_model(self, tier: str) -> str:
        """The version serving all of ``tier`` but a running canary's share: the incumbent
        of a running canary, else what ``serving.json`` names (``"base"``: the base model)."""
        current = self.serving().get(tier, BASE)
        if current == BASE:
            return BASE
        entry = next((v for v in self.versions(tier) if v["version"] == current), None)
        return entry["incumbent"] if entry is not None and is_canary(entry) else current

    def set_serving(self, tier: str, version: str | None) -> None:
        """Make ``version`` serve ``tier`` (None: the base model alone)."""
        serving = self.serving()
        if version is None:
            serving.pop(checked_name(tier, "tier"), None)
        else:
            serving[checked_name(tier, "tier")] = checked_name(version, "version")
        _atomic_json(self.root / SERVING, serving)

    def mark_published(self, entry: dict[str, Any]) -> None:
        self.annotate(entry["tier"], entry["version"], published=True)

    def annotate(self, tier: str, version: str, **fields: Any) -> dict[str, Any]:
        """Add ``fields`` to a version's recorded entry; returns the entry."""
        path = self.root / checked_name(tier, "tier") / checked_name(version, "version") / META
        data = json.loads(path.read_text())
        data.update(fields)
        _atomic_json(path, data)
        return data

    # --- rollback ---------------------------------------------------------------

    def entry(self, tier: str, version: str) -> dict[str, Any]:
        """The recorded version ``version`` of ``tier``; ``UnknownVersionError`` if none."""
        found = next((v for v in self.versions(known_tier(tier)) if v["version"] == version), None)
        if found is None:
            raise UnknownVersionError(f"tier {tier} has no version {version!r} "
                                      f"(see `kasper models list`)")
        return found

    def before(self, tier: str, version: str) -> str:
        """What served ``tier`` before ``version`` was added: its recorded incumbent when that
        can serve again, else :meth:`previous`."""
        incumbent = self.entry(tier, version).get("incumbent")
        if incumbent == BASE:
            return BASE
        known = next((v for v in self.versions(tier) if v["version"] == incumbent), None)
        if known and known.get("promoted") and known.get("adapter_path"):
            return incumbent
        return self.previous(tier, version)

    def previous(self, tier: str, version: str) -> str:
        """What served before ``version``: the latest earlier promoted version with weights
        that was not rolled back itself, else ``"base"``."""
        earlier = [v for v in self.versions(tier) if _number(v["version"]) < _number(version)
                   and v.get("promoted") and v.get("adapter_path") and not v.get("rolled_back")]
        return earlier[-1]["version"] if earlier else BASE

    def rollback(self, tier: str, *, to: str | None = None, reason: str, by: str,
                 expect: str | None = None, at_ms: int | None = None) -> dict[str, Any] | None:
        """Serve ``to`` (default: what served before the serving version, :meth:`before`) and record why.

        Returns the decision (``from``, ``to``, ``reason``, ``by``, ``at``,
        ``published``, ``number``), or None when nothing changed: ``to`` serves
        already, or ``expect`` is given and is no longer what serves (someone
        rolled it back first). Raises :class:`UnknownVersionError` for an unknown
        tier or a version that never served, :class:`NothingToRollBackError` when
        the base model serves and no ``to`` is named.
        """
        current = self.serving().get(known_tier(tier), BASE)
        if expect is not None and current != expect:
            return None
        current, to = self.plan(tier, to)
        if to == current:
            return None
        at_ms = at_ms if at_ms is not None else int(time.time() * 1000)
        # A rollback ends a canary on either side: the version it serves, serves all of the tier.
        if current != BASE:
            self.annotate(tier, current, rolled_back={"to": to, "reason": reason, "by": by, "at": at_ms},
                          canary_done=True)
        if to != BASE:  # serving again: no longer rolled back (decisions.json keeps the history)
            self.annotate(tier, to, rolled_back=None, canary_done=True)
        decisions = self.decisions(tier)
        decision = {"kind": "rollback", "tier": tier, "from": current, "to": to, "reason": reason,
                    "by": by, "at": at_ms, "published": False, "number": len(decisions) + 1}
        # Recorded before serving.json changes: a crash in between leaves a decision whose
        # announcement is pending, which the next rollback command announces first.
        _atomic_json(self._decisions_path(tier), [*decisions, decision])
        self.set_serving(tier, None if to == BASE else to)
        return decision

    def promote_canary(self, tier: str, version: str, *, reason: str, by: str,
                       live: dict[str, Any] | None = None, at_ms: int | None = None) -> dict[str, Any] | None:
        """The canary ``version`` serves the whole tier from now: a ``promote`` decision.

        Returns the decision (announced like a rollback's), or None when ``version`` no
        longer serves ``tier`` as a running canary (rolled back or promoted meanwhile).
        ``live`` (the watch's numbers) is recorded on the version with the decision.
        """
        entry = self.serving_entry(known_tier(tier))
        if entry is None or entry["version"] != version or not is_canary(entry):
            return None
        decisions = self.decisions(tier)
        decision = {"kind": "promote", "tier": tier, "from": version, "to": version, "reason": reason,
                    "by": by, "at": at_ms if at_ms is not None else int(time.time() * 1000),
                    "published": False, "number": len(decisions) + 1, "live": live}
        # Recorded first, as a rollback: a crash before the announcement leaves it pending.
        _atomic_json(self._decisions_path(tier), [*decisions, decision])
        self.end_canary(decision)
        return decision

    def end_canary(self, decision: dict[str, Any]) -> None:
        """Mark a ``promote`` decision's version as serving the whole tier (idempotent)."""
        extra = {"live": decision["live"]} if decision.get("live") else {}
        self.annotate(decision["tier"], decision["to"], canary_done=True, **extra)

    def plan(self, tier: str, to: str | None = None) -> tuple[str, str]:
        """(what serves ``tier``, what a rollback to ``to`` would serve); the errors of :meth:`rollback`."""
        current = self.serving().get(known_tier(tier), BASE)
        if to is None:
            if current == BASE:
                raise NothingToRollBackError(f"tier {tier} already serves the base model; "
                                             "there is nothing to roll back to")
            return current, self.before(tier, current)
        if to != BASE:
            target = self.entry(tier, to)
            if not (target.get("promoted") and target.get("adapter_path")):
                raise UnknownVersionError(f"{to} was never promoted (or has no weights): "
                                          "a rollback goes back only to a version that served")
        return current, to

    def decisions(self, tier: str) -> list[dict[str, Any]]:
        """The tier's rollbacks, oldest first."""
        try:
            return json.loads(self._decisions_path(tier).read_text())
        except FileNotFoundError:
            return []

    def pending(self, tier: str) -> dict[str, Any] | None:
        """The tier's last decision when its ModelVersion was not acknowledged yet."""
        decisions = self.decisions(tier)
        return decisions[-1] if decisions and not decisions[-1]["published"] else None

    def mark_decision_published(self, tier: str, number: int) -> None:
        decisions = self.decisions(tier)
        for decision in decisions:
            if decision["number"] == number:
                decision["published"] = True
        _atomic_json(self._decisions_path(tier), decisions)

    def _decisions_path(self, tier: str) -> Path:
        return self.root / known_tier(tier) / DECISIONS


def is_canary(entry: dict[str, Any]) -> bool:
    """Whether a recorded version is a canary still waiting for its decision."""
    return bool(entry.get("canary_share")) and bool(entry.get("promoted")) and not entry.get("canary_done")


def known_tier(tier: str) -> str:
    if tier not in TIERS:
        raise UnknownVersionError(f"unknown tier {tier!r}; choose from {', '.join(TIERS)}")
    return tier


def list_versions(settings: Any = None) -> list[dict[str, Any]]:
    """Adapter versions for ``kasper models list`` / ``model_store.list_models``.

    One dict per version: ``name``, ``kind`` ("adapter"), ``tier``, ``version``,
    ``base``, ``path``, ``window_id``, ``promoted``, ``serving``, ``reason``,
    ``metrics``, ``created_at`` (ISO-8601 UTC), ``rolled_back`` (to what, why,
    by whom; None), ``live`` (the live watch's verdict on it; None) and ``canary``
    (the share it serves while a running canary; None).
    """
    registry = Registry(TrainerConfig.from_settings(settings).adapters_dir)
    rows = []
    for v in registry.versions():
        rows.append({
            "name": v["version"], "kind": "adapter", "tier": v["tier"], "version": v["version"],
            "base": v.get("base_model"), "path": v.get("adapter_path"), "window_id": v.get("window_id"),
            "promoted": v.get("promoted", False), "serving": v["serving"], "reason": v.get("reason"),
            "metrics": v.get("metrics", {}), "created_at": _iso(v.get("created_at")),
            "rolled_back": v.get("rolled_back"), "live": v.get("live"),
            "canary": v["canary_share"] if is_canary(v) else None,
        })
    return rows


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def _number(version: str) -> int:
    match = _VERSION.match(version)
    return int(match.group("n")) if match else 0


def _atomic_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as fh:
        fh.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
