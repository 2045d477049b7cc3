"""Window directories on disk: atomic writes, sha256 verification, the TrainingWindow event.

A window directory is written as a whole: every file goes into a temporary
sibling directory (``.tmp-<id>-<pid>``), is fsynced, and the directory is
renamed into place, then the parent is fsynced. A reader therefore sees either
no directory or a complete one; a crash leaves at most a ``.tmp-*`` directory,
which :func:`remove_leftovers` deletes (and unpublished windows it moves aside).

Error policy: OS errors while writing propagate (disk full is an outage: the
offsets are not committed and the window is rebuilt after a restart), after the
partial temporary directory is removed so that it does not hold the space;
:func:`verify_window` raises :class:`CorruptDatasetError` naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from .dataset import MANIFEST, WindowContent
from .errors import CorruptDatasetError
from .windows import UnsafePathError, window_file


def write_window(content: WindowContent, windows_dir: Path) -> Path:
    """Write all files of ``content`` to ``windows_dir/<window_id>/`` atomically."""
    windows_dir.mkdir(parents=True, exist_ok=True)
    final = windows_dir / content.window_id
    work = windows_dir / f".tmp-{content.window_id}-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        for name, data in content.files.items():
            _write_synced(work / name, data)
        _fsync_dir(work)
    except OSError:
        # Disk full (or any write error): a half-written temporary directory would
        # keep the space taken until the next restart; nothing refers to it yet.
        shutil.rmtree(work, ignore_errors=True)
        raise
    if final.exists():
        # Same id means same offsets, so the same content: a rebuild after a crash
        # that came before the state store learned about the first write.
        old = windows_dir / f".old-{content.window_id}-{os.getpid()}"
        os.rename(final, old)
        os.rename(work, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(work, final)
    _fsync_dir(windows_dir)
    return final


def remove_leftovers(windows_dir: Path, known: set[str]) -> list[str]:
    """Delete temporary directories; move window directories the state store does not know
    to ``.orphans/``.

    A window directory without a state row was never published (the row is
    written before the event), so its records were never committed either: they
    come again and are windowed again. It is moved aside, not deleted, so that a
    lost state file never costs data.
    """
    moved: list[str] = []
    if not windows_dir.is_dir():
        return moved
    for path in sorted(windows_dir.iterdir()):
        if not path.is_dir():
            continue
        if path.name.startswith((".tmp-", ".old-")):
            shutil.rmtree(path, ignore_errors=True)
        elif not path.name.startswith(".") and path.name not in known and (path / MANIFEST).exists():
            orphans = windows_dir / ".orphans"
            orphans.mkdir(exist_ok=True)
            shutil.rmtree(orphans / path.name, ignore_errors=True)
            os.rename(path, orphans / path.name)
            moved.append(path.name)
    return moved


def read_manifest(window_dir: Path) -> dict[str, Any]:
    """The parsed ``manifest.json`` of a window directory."""
    path = Path(window_dir) / MANIFEST
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        raise CorruptDatasetError(f"{path} does not exist: not a window directory") from None
    except (OSError, ValueError) as exc:
        raise CorruptDatasetError(f"{path}: unreadable manifest: {exc}") from exc


def verify_window(window_dir: Path, expected_manifest_sha256: str | None = None) -> dict[str, Any]:
    """Check every file against the manifest (and the manifest against the event); return it."""
    window_dir = Path(window_dir)
    if expected_manifest_sha256 is not None:
        _check_file(window_dir, {"name": MANIFEST, "sha256": expected_manifest_sha256})
    manifest = read_manifest(window_dir)
    for entry in manifest.get("files", []):
        _check_file(window_dir, entry)
    return manifest


def _check_file(window_dir: Path, entry: dict[str, Any]) -> None:
    # A manifest names files of its own window only: a plain name, resolving inside it.
    try:
        path = window_file(window_dir, entry.get("name"))
    except UnsafePathError as exc:
        raise CorruptDatasetError(f"{window_dir / MANIFEST}: {exc}") from exc
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorruptDatasetError(f"{path}: cannot read: {exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry["sha256"] or ("bytes" in entry and len(data) != entry["bytes"]):
        raise CorruptDatasetError(
            f"{path}: sha256 {digest[:16]}... ({len(data)} bytes) does not match the "
            f"manifest's {entry['sha256'][:16]}... ({entry.get('bytes', '?')} bytes)")


def window_event(content: WindowContent, directory: Path, *, opened_at: datetime,
                 closed_at: datetime, close_reason: str, created_at: datetime,
                 over_user_cap: int = 0, comments_redacted: int = 0) -> dict[str, Any]:
    """The TrainingWindow record announcing a written window (the manifest is listed too).

    ``over_user_cap`` and ``comments_redacted``: the window loop's own counts (feedback
    left out over the per-user cap, comments holding personal data), not the manifest's.
    """
    manifest = content.manifest
    files = [dict(f) for f in manifest["files"]]
    data = content.files[MANIFEST]
    files.append({"name": MANIFEST, "sha256": hashlib.sha256(data).hexdigest(),
                  "bytes": len(data), "records": 1})
    return {
        "window_id": content.window_id, "tier": content.tier, "opened_at": opened_at,
        "closed_at": closed_at, "close_reason": close_reason,
        "source_offsets": [dict(r) for r in content.ranges], "counts": {**content.counts, "feedback_over_user_cap": over_user_cap,
                   "feedback_comments_redacted": comments_redacted},
        # Absolute: the train loop accepts only <windows_dir>/<window_id> spelled out in full.
        "files": files, "directory": str(Path(directory).resolve()), "created_at": created_at,
    }


def manifest_sha256(event: dict[str, Any]) -> str | None:
    """The manifest's sha256 as announced in a TrainingWindow event."""
    return next((f["sha256"] for f in event.get("files", []) if f["name"] == MANIFEST), None)


def read_lines(path: Path) -> list[Any]:
    """The JSON values of ``path``'s lines, oldest first: a missing file is empty, a line
    that is not JSON is skipped (stores rewrite without it)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def write_lines(path: Path, rows: list[dict[str, Any]]) -> None:
    """Replace ``path`` with ``rows`` as JSON lines, atomically (a reader sees old or new)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    _write_synced(tmp, "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in rows).encode())
    os.replace(tmp, path)


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
