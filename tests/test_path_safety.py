"""Names and paths from records cannot reach outside the trainer's directories.

Tried as an attacker who can write to the training-windows or models topic, or
edit a manifest: traversal, absolute paths, hidden names, and symlinks planted
inside the windows or adapters directory that point out of it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from kasper.agents.runtime.hot_swap import AdapterPathError, VersionSwitcher, check_adapter_path
from kasper.schemas.samples import sample_record
from kasper.trainer.adapters import META, Registry
from kasper.trainer.errors import CorruptDatasetError
from kasper.trainer.files import verify_window
from kasper.trainer.windows import UnsafePathError, checked_name, window_dir_inside, window_file

BAD_NAMES = ["..", "../x", "../../etc/passwd", "/etc/passwd", "a/b", "a\\b", ".hidden", "a..b",
             "x\x00y", "", "pro\n", "~root", None, 7]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_name_that_is_not_one_plain_component_is_refused(name):
    with pytest.raises(UnsafePathError):
        checked_name(name, "window id")


def test_plain_names_pass():
    for name in ("pro-20261203T081400Z-0123456789", "lite", "w_1.v2"):
        assert checked_name(name, "window id") == name


@pytest.fixture
def dirs(tmp_path):
    windows, adapters, outside = tmp_path / "windows", tmp_path / "adapters", tmp_path / "outside"
    for d in (windows / "w-1", adapters / "pro" / "pro-0001", outside):
        d.mkdir(parents=True)
    (outside / "secret.txt").write_text("not yours")
    return windows, adapters, outside


def test_an_announced_window_directory_must_be_that_window_under_the_windows_dir(dirs):
    windows, _, outside = dirs
    assert window_dir_inside(windows, str(windows / "w-1"), "w-1") == (windows / "w-1").resolve()
    (windows / "w-2").symlink_to(outside)
    for directory, ident in [(outside, "w-1"), (windows / "w-1" / ".." / ".." / "outside", "w-1"),
                             ("windows/w-1", "w-1"), (windows / "w-1", "w-3"), (windows, "w-1"),
                             (windows / "w-2", "w-2"), (windows / "w-1", "../w-1")]:
        with pytest.raises(UnsafePathError):
            window_dir_inside(windows, str(directory), ident)


def test_a_manifest_file_name_must_stay_in_its_window(dirs):
    windows, _, outside = dirs
    window = windows / "w-1"
    (window / "train.jsonl").write_text("{}\n")
    assert window_file(window, "train.jsonl") == (window / "train.jsonl").resolve()
    (window / "leak.jsonl").symlink_to(outside / "secret.txt")
    for name in ["../../outside/secret.txt", str(outside / "secret.txt"), "sub/train.jsonl", "leak.jsonl"]:
        with pytest.raises(UnsafePathError):
            window_file(window, name)


def test_the_registry_refuses_tiers_and_window_ids_that_escape(dirs):
    _, adapters, outside = dirs
    registry = Registry(adapters)
    with pytest.raises(UnsafePathError):
        registry.work_dir("../../outside", "w-1")
    with pytest.raises(UnsafePathError):
        registry.work_dir("pro", "../../../outside")
    with pytest.raises(UnsafePathError):
        registry.add("../outside", {"promoted": False}, None)
    with pytest.raises(UnsafePathError):
        registry.versions("*")
    with pytest.raises(UnsafePathError):
        registry.set_serving("pro", "../../outside")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]  # nothing was written there
    assert registry.work_dir("pro", "w-1") == adapters / "pro" / ".work" / "w-1"


def _version(adapters: Path, tier: str, version: str, adapter_path: str) -> None:
    meta = {"tier": tier, "version": version, "adapter_path": adapter_path, "promoted": True}
    (adapters / tier / version).mkdir(parents=True, exist_ok=True)
    (adapters / tier / version / META).write_text(json.dumps(meta))
    (adapters / "serving.json").write_text(json.dumps({tier: version}))


def test_a_recorded_adapter_path_outside_the_registry_is_refused(dirs):
    _, adapters, outside = dirs
    registry = Registry(adapters)
    _version(adapters, "pro", "pro-0001", str(adapters / "pro" / "pro-0001"))
    assert registry.serving_entry("pro")["version"] == "pro-0001"
    _version(adapters, "pro", "pro-0002", str(outside))  # a tampered kasper-adapter.json
    with pytest.raises(UnsafePathError):
        registry.serving_entry("pro")
    (adapters / "pro" / "pro-0003").symlink_to(outside, target_is_directory=True)
    (adapters / "serving.json").write_text(json.dumps({"pro": "pro-0001"}))
    with pytest.raises(UnsafePathError):
        registry.adapter_inside(str(adapters / "pro" / "pro-0003"))
    with pytest.raises(UnsafePathError):
        registry.adapter_inside("pro/pro-0001")


@dataclass(frozen=True)
class _Served:
    model: str = "base"
    adapter_version: str | None = None

    @property
    def version_key(self) -> str:
        return f"{self.model}+{self.adapter_version or 'base'}"


class _Backend:
    def __init__(self) -> None:
        self.applied: list[str] = []

    def serving(self, tier: str) -> _Served:
        return _Served()

    async def apply_version(self, record: dict) -> _Served:
        self.applied.append(record["adapter_path"])
        return _Served(adapter_version=record["version"])


def _offer(adapters_dir: Path | None, path: str) -> tuple[list[str], list[BaseException]]:
    backend, letters = _Backend(), []

    async def dead_letter(error, value, key, where):
        letters.append(error)

    async def run():
        switcher = VersionSwitcher(backend, dead_letter, adapters_dir=adapters_dir)
        switcher.ready.set()
        record = sample_record("ModelVersion") | {"tier": "pro", "version": "pro-0001",
                                                  "adapter_path": path, "promoted": True}
        switcher.offer(record, b"v", b"pro", None)
        await switcher.apply()
    asyncio.run(run())
    return backend.applied, letters


def test_a_model_version_pointing_outside_the_adapters_dir_is_dead_lettered_unloaded(dirs):
    _, adapters, outside = dirs
    (adapters / "pro" / "pro-0009").symlink_to(outside, target_is_directory=True)
    for path in [str(outside), str(adapters / "pro" / ".." / ".." / "outside"),
                 str(adapters / "pro" / "pro-0009"), "pro/pro-0001", str(adapters)]:
        applied, letters = _offer(adapters, path)
        assert applied == [] and len(letters) == 1 and isinstance(letters[0], AdapterPathError), path
    applied, letters = _offer(adapters, str(adapters / "pro" / "pro-0001"))
    assert applied == [str(adapters / "pro" / "pro-0001")] and letters == []


def test_without_an_adapters_dir_traversal_and_relative_paths_are_still_refused():
    for path in ["../adapters/pro", "/srv/adapters/../../etc", "pro-0001"]:
        with pytest.raises(AdapterPathError):
            check_adapter_path(path, None)
    check_adapter_path("/srv/adapters/pro/pro-0001", None)
    check_adapter_path(None, None)  # the base model: no path


def test_a_manifest_naming_a_file_outside_its_window_is_corrupt(tmp_path):
    # verify_window reads only the window's own files: a forged manifest cannot make the
    # trainer read (and hash) a file elsewhere.
    secret = tmp_path / "secret.txt"
    secret.write_text("not the trainer's")
    window = tmp_path / "windows" / "w-1"
    window.mkdir(parents=True)
    digest = hashlib.sha256(secret.read_bytes()).hexdigest()
    for name in ("../../secret.txt", str(secret), "sub/../../../secret.txt"):
        (window / "manifest.json").write_text(json.dumps({"files": [{"name": name, "sha256": digest}]}))
        with pytest.raises(CorruptDatasetError, match="not a plain name"):
            verify_window(window)
    (window / "link").symlink_to(secret)
    (window / "manifest.json").write_text(json.dumps({"files": [{"name": "link", "sha256": digest}]}))
    with pytest.raises(CorruptDatasetError, match="outside"):
        verify_window(window)
