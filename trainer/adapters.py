"""Adapter versions on disk, and which one serves each tier.

Layout under ``adapters_dir`` (``<cache_dir>/adapters`` by default)::

    serving.json                       {"standard": "standard-0003", ...}
    <tier>/<tier>-NNNN/                one version: adapters.safetensors,
                                       adapter_config.json, kasper-adapter.json
    <tier>/.work/<window_id>/          a training run in progress (checkpoints)

``kasper-adapter.json`` holds the version's ModelVersion fields (``created_at``
in epoch ms) plus ``published``. A version directory appears by renaming a
complete temporary directory; ``serving.json`` is replaced atomically and only
after the version it names exists. A run that diverged is recorded too (no
weights, ``adapter_path`` null), so a redelivered window is not trained again.

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

from kasper.trainer.config import TrainerConfig
from kasper.trainer.windows import UnsafePathError, checked_name, inside

ADAPTER_FILE = "adapters.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
META = "kasper-adapter.json"
SERVING = "serving.json"
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

    def add(self, tier: str, fields: dict[str, Any], adapter_src: Path | None) -> dict[str, Any]:
        """Record a new version of ``tier`` (moving the adapter files in); promote if it says so."""
        tier_dir = self.root / checked_name(tier, "tier")
        tier_dir.mkdir(parents=True, exist_ok=True)
        tmp = tier_dir / f".tmp-{os.getpid()}-{time.monotonic_ns()}"
        tmp.mkdir()
        sha = None
        if adapter_src is not None:
            for name in (ADAPTER_FILE, ADAPTER_CONFIG):
                shutil.copy2(Path(adapter_src) / name, tmp / name)
            sha = hashlib.sha256((tmp / ADAPTER_FILE).read_bytes()).hexdigest()
        entry = self._place(tier, tmp, fields, sha, adapter_src is not None)
        if entry["promoted"]:
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

    def set_serving(self, tier: str, version: str | None) -> None:
        """Make ``version`` serve ``tier`` (None: the base model alone)."""
        serving = self.serving()
        if version is None:
            serving.pop(checked_name(tier, "tier"), None)
        else:
            serving[checked_name(tier, "tier")] = checked_name(version, "version")
        _atomic_json(self.root / SERVING, serving)

    def mark_published(self, entry: dict[str, Any]) -> None:
        path = self.root / checked_name(entry["tier"], "tier") / checked_name(entry["version"], "version") / META
        data = json.loads(path.read_text())
        data["published"] = True
        _atomic_json(path, data)


def list_versions(settings: Any = None) -> list[dict[str, Any]]:
    """Adapter versions for ``kasper models list`` / ``model_store.list_models``.

    One dict per version: ``name``, ``kind`` ("adapter"), ``tier``, ``version``,
    ``base``, ``path``, ``window_id``, ``promoted``, ``serving``, ``reason``,
    ``metrics``, ``created_at`` (ISO-8601 UTC).
    """
    registry = Registry(TrainerConfig.from_settings(settings).adapters_dir)
    rows = []
    for v in registry.versions():
        rows.append({
            "name": v["version"], "kind": "adapter", "tier": v["tier"], "version": v["version"],
            "base": v.get("base_model"), "path": v.get("adapter_path"), "window_id": v.get("window_id"),
            "promoted": v.get("promoted", False), "serving": v["serving"], "reason": v.get("reason"),
            "metrics": v.get("metrics", {}), "created_at": _iso(v.get("created_at")),
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
