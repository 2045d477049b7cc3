"""The canary split: which of a tier's two versions writes a prompt.

A newly promoted version first serves a share of its tier's prompts (a canary,
``canary_share`` in its ModelVersion); the rest stay on the incumbent the event
names. A prompt goes to the canary when a stable hash of its prompt id, read as a
number in [0, 1), falls below the share. BLAKE2b rather than Python's ``hash()``,
which is salted per process: every worker, and a worker after a restart, must
send a redelivered prompt (and every attempt of it) to the same version.

Plain functions, no MLX or Kafka: the backends and the tests share them.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from kasper.schemas.errors import KasperError

BASE = "base"  # the incumbent label of the base model alone (as the trainer records it)
_SCALE = float(1 << 64)


class CanaryError(KasperError):
    """A ModelVersion whose canary fields cannot describe a split (share out of range, no incumbent)."""


def split_point(prompt_id: str) -> float:
    """Where ``prompt_id`` falls in [0, 1): the same on every machine and run."""
    digest = hashlib.blake2b(prompt_id.encode("utf-8"), digest_size=8, person=b"kasper-canary").digest()
    return int.from_bytes(digest, "big") / _SCALE


def to_canary(prompt_id: str, share: float) -> bool:
    """True when the canary (serving ``share`` of the tier) writes ``prompt_id``."""
    return share > 0.0 and split_point(prompt_id) < share


def canary_share(record: dict[str, Any]) -> float | None:
    """The split a ModelVersion asks for: its share, or None when it serves the whole tier.

    ``CanaryError`` when the fields cannot be a split: a share outside (0, 1) or not a
    number, or no incumbent named (a record from a topic is checked before any load).
    """
    share = record.get("canary_share")
    if share is None:
        return None
    if not isinstance(share, (int, float)) or not math.isfinite(share) or not 0.0 < share < 1.0:
        raise CanaryError(f"canary share {share!r} of {record.get('version')!r} is not in (0, 1)")
    if not record.get("incumbent_version"):
        raise CanaryError(f"canary {record.get('version')!r} names no incumbent version")
    return float(share)


def incumbent_record(record: dict[str, Any]) -> dict[str, Any]:
    """The incumbent of a canary ModelVersion, as a full-tier ModelVersion of its own."""
    path = record.get("incumbent_adapter_path")
    return {**record, "version": record["incumbent_version"] if path else BASE,
            "adapter_path": path, "adapter_sha256": record.get("incumbent_adapter_sha256") if path else None,
            "canary_share": None, "incumbent_version": None, "incumbent_adapter_path": None,
            "incumbent_adapter_sha256": None}
