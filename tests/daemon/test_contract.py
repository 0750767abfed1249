"""The startup contract: usable paths, persistent volumes in container mode, one writer."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from observer.daemon import config as c
from observer.daemon.contract import CRITICAL, ContainerMode, DataDirLock, Problem, check, enforce
from observer.daemon.errors import ContractError, LockHeldError
from observer.daemon.volumes import VolumeKind, classify, mount_for, parse_mountinfo

MOUNTINFO = textwrap.dedent(
    """\
    22 1 0:21 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/u
    30 22 253:1 /var/lib/kubelet/pods/abc/volumes/kubernetes.io~empty-dir/tmp /tmp rw - ext4 /dev/vda1 rw
    31 22 253:1 /var/lib/rancher/k3s/storage/pvc-1234_observer-prod_observer-data-pvc /opt/platform/runtime/observer/data rw - ext4 /dev/vda1 rw
    32 22 253:1 /var/lib/kubelet/pods/abc/volumes/kubernetes.io~configmap/cfg /opt/platform/runtime/observer/config ro - ext4 /dev/vda1 rw
    33 22 0:40 / /dev/shm rw - tmpfs shm rw
    34 22 253:1 /srv/with\\040space /mnt/x rw - ext4 /dev/vda1 rw
    """
)


def _cfg(tmp_path: Path, **env: str) -> c.Config:
    return c.load_config(environ={"OBSERVER_MIN_FREE_MB": "1", **env}, cwd=tmp_path).config


def test_mountinfo_classifies_pvc_emptydir_and_container_root() -> None:
    mounts = parse_mountinfo(MOUNTINFO)
    data = mount_for(Path("/opt/platform/runtime/observer/data/assets"), mounts)
    assert classify(data, container=True)[0] is VolumeKind.PERSISTENT_VOLUME
    tmp = mount_for(Path("/tmp/x"), mounts)
    kind, reason = classify(tmp, container=True)
    assert kind is VolumeKind.EPHEMERAL and "emptyDir" in reason
    root = mount_for(Path("/opt/platform/runtime/observer/logs"), mounts)
    kind, reason = classify(root, container=True)
    assert kind is VolumeKind.CONTAINER_ROOT_FS and "lost at every restart" in reason
    assert mount_for(Path("/mnt/x/y"), mounts).root == "/srv/with space"  # type: ignore[union-attr]


def test_writable_local_paths_pass_and_are_created(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    assert [p for p in check(cfg, container=False) if p.severity == CRITICAL] == []
    for _, path in c.written_paths(cfg):
        assert path.is_dir()


def test_data_dir_on_the_root_filesystem_is_flagged_in_container_mode(tmp_path: Path) -> None:
    mounts = parse_mountinfo(Path("/proc/self/mountinfo").read_text())
    holder = mount_for(tmp_path, mounts)
    if holder is None or holder.mount_point != "/":
        pytest.skip(f"{tmp_path} is not on the root filesystem here ({holder})")
    cfg = _cfg(tmp_path)
    problems = check(cfg, container=True)
    data = [p for p in problems if p.variable == "OBSERVER_DATA_DIR"]
    assert data and data[0].severity == CRITICAL
    assert "lost at restart" in data[0].message
    with pytest.raises(ContractError, match="OBSERVER_DATA_DIR"):
        enforce(problems)


def test_a_second_writer_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    first = DataDirLock(tmp_path)
    first.acquire()
    try:
        # The holder's start time in KST with its offset, whatever the machine's zone.
        since = r"since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+09:00"
        with pytest.raises(LockHeldError, match=rf"pid {os.getpid()} on host .*, {since}"):
            DataDirLock(tmp_path).acquire()
    finally:
        first.release()
    again = DataDirLock(tmp_path)
    again.acquire()
    again.release()


def _can_unshare() -> str | None:
    if os.geteuid() != 0:
        return "needs root for a mount namespace and tmpfs"
    if shutil.which("unshare") is None:
        return "needs unshare(1)"
    r = subprocess.run(["unshare", "--mount", "true"], capture_output=True)
    return None if r.returncode == 0 else f"unshare --mount failed: {r.stderr.decode()[:100]}"


_UNSHARE = ("unshare", "--mount", "--propagation", "private")
_IN_NAMESPACE = """
import sys, subprocess
from pathlib import Path
from observer.daemon import config as c
from observer.daemon.contract import check
root = Path(sys.argv[1]); mode = sys.argv[2]
data = root / "data"; data.mkdir(exist_ok=True)
opts = "size=2m" + (",ro" if mode == "ro" else "")
subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(data)], check=True)
if mode == "full":
    with open(data / "filler", "wb") as f:
        try:
            while True:
                f.write(b"x" * 65536)
        except OSError:
            pass
cfg = c.load_config(environ={"OBSERVER_DATA_DIR": str(data), "OBSERVER_MIN_FREE_MB": "1"},
                    cwd=root).config
for p in check(cfg, container=False):
    if p.variable == "OBSERVER_DATA_DIR":
        print(p.severity, p.message)
"""


@pytest.mark.root
@pytest.mark.parametrize(("mode", "needle"), [("ro", "read-only"), ("full", "full")])
def test_unwritable_or_full_data_dir_on_real_tmpfs_is_a_clear_error(
    tmp_path: Path, mode: str, needle: str
) -> None:
    reason = _can_unshare()
    if reason:
        pytest.skip(reason)
    out = subprocess.run(
        [*_UNSHARE, sys.executable, "-c", _IN_NAMESPACE, str(tmp_path), mode],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("CRITICAL"), out.stdout
    assert needle in out.stdout


def test_a_dry_check_judges_missing_directories_by_their_parent_and_creates_nothing(
    tmp_path: Path,
) -> None:
    cfg = _cfg(tmp_path)
    problems = check(cfg, container=False, create=False)
    assert [p for p in problems if p.severity == CRITICAL] == []
    assert not (tmp_path / "observer-runtime").exists()


def test_a_refusal_in_container_mode_says_how_the_mode_was_decided(tmp_path: Path) -> None:
    problem = Problem(CRITICAL, "OBSERVER_DATA_DIR", "/d", "not persistent.", "mount a PVC.", True)
    detected = ContainerMode(True, "/.dockerenv exists", detected=True)
    with pytest.raises(ContractError) as err:
        enforce([problem], detected)
    assert "OBSERVER_CONTAINER=auto detected a container (/.dockerenv exists)" in str(err.value)
    assert "set OBSERVER_CONTAINER=false" in str(err.value)
    with pytest.raises(ContractError) as err:
        enforce([problem], ContainerMode(True))  # chosen: no opt-out advice
    assert "Container mode is on: OBSERVER_CONTAINER=true." in str(err.value)
    assert "set OBSERVER_CONTAINER=false" not in str(err.value)


def test_a_data_directory_created_inside_a_git_clone_is_ignored_by_git(tmp_path: Path) -> None:
    git = shutil.which("git")
    if git is None:
        pytest.skip("needs git")
    clone = tmp_path / "clone"
    subprocess.run([git, "init", "-q", str(clone)], check=True)
    outside = tmp_path / "elsewhere"
    cfg = _cfg(clone, OBSERVER_DATA_DIR="mydata", OBSERVER_LOG_DIR=str(outside / "logs"))
    assert [p for p in check(cfg, container=False) if p.severity == CRITICAL] == []
    assert (clone / "mydata").is_dir()
    status = subprocess.run(
        [git, "-C", str(clone), "status", "--porcelain", "--untracked-files=all"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert status.stdout == "", status.stdout
    assert not (outside / ".gitignore").exists()  # outside a work tree nothing is added


def test_the_lock_tells_a_clean_stop_from_a_run_that_died(tmp_path: Path) -> None:
    first = DataDirLock(tmp_path)
    first.acquire()
    assert first.previous is None and not first.previous_ended_uncleanly
    first.release()
    second = DataDirLock(tmp_path)
    second.acquire()
    assert second.previous is not None and not second.previous_ended_uncleanly
    os.close(second._fd)  # type: ignore[arg-type]  # dies: no release, the kernel unlocks
    third = DataDirLock(tmp_path)
    third.acquire()
    assert third.previous_ended_uncleanly and third.previous is not None
    assert third.previous.pid == os.getpid()
    third.release()
