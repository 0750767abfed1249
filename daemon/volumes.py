"""What a path is really stored on: the mount behind it, its usage, and whether it survives
a pod restart.

The incident this guards against: tick files written to the container's own root filesystem
(or an emptyDir) and lost at every restart. We read ``/proc/self/mountinfo``, find the mount
that holds the path (longest mount-point prefix of its real path), and classify it from the
mount's source root, as the kubelet leaves it: ``.../kubernetes.io~empty-dir/...`` is an
emptyDir, ``pvc-...`` / ``kubernetes.io~csi`` / ``local-path`` roots are persistent volumes,
and the mount at ``/`` is the container's root filesystem.
"""

from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class VolumeKind(StrEnum):
    """What a written path sits on (the same kinds as observer.v1 VolumeKind)."""

    PERSISTENT_VOLUME = "persistent_volume"  # a PVC, or a volume mounted into the container
    CONTAINER_ROOT_FS = "container_root_fs"  # the container's own filesystem: gone at restart
    LOCAL_DISK = "local_disk"  # not in a container: a plain directory on this machine
    TMPFS = "tmpfs"  # memory-backed: gone at restart
    EPHEMERAL = "ephemeral"  # an emptyDir: gone when the pod goes
    NETWORK = "network"  # nfs, cifs, ...: survives the pod, not necessarily the network
    UNKNOWN = "unknown"  # no mount found for the path

    @property
    def survives_restart(self) -> bool:
        return self in (VolumeKind.PERSISTENT_VOLUME, VolumeKind.LOCAL_DISK, VolumeKind.NETWORK)


@dataclass(frozen=True)
class Mount:
    mount_id: int
    mount_point: str
    root: str  # the path inside the source filesystem that is mounted here
    fstype: str
    source: str
    options: tuple[str, ...]

    @property
    def read_only(self) -> bool:
        return "ro" in self.options


def _unescape(s: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 3 < len(s) and s[i + 1 : i + 4].isdigit():
            out.append(chr(int(s[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[Mount]:
    """Parse /proc/self/mountinfo (see proc(5))."""
    mounts = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 10 or "-" not in parts:
            continue
        sep = parts.index("-")
        mounts.append(
            Mount(
                mount_id=int(parts[0]),
                root=_unescape(parts[3]),
                mount_point=_unescape(parts[4]),
                options=tuple(parts[5].split(",")),
                fstype=parts[sep + 1],
                source=_unescape(parts[sep + 2]),
            )
        )
    return mounts


def read_mounts(mountinfo: Path = Path("/proc/self/mountinfo")) -> list[Mount]:
    try:
        return parse_mountinfo(mountinfo.read_text())
    except OSError:
        return []


def mount_for(path: Path, mounts: list[Mount]) -> Mount | None:
    """The mount holding ``path``: the last-mounted one with the longest matching prefix."""
    real = os.path.realpath(path)
    best: Mount | None = None
    for m in mounts:  # later lines shadow earlier ones at the same mount point
        mp = m.mount_point
        if (real == mp or real.startswith(mp.rstrip("/") + "/")) and (
            best is None or len(mp) >= len(best.mount_point)
        ):
            best = m
    return best


def container_evidence() -> str:
    """Why this looks like a container (Kubernetes, Docker, Podman, containerd), in words an
    operator can check; empty when nothing does. Best-effort, from the usual markers."""
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return "KUBERNETES_SERVICE_HOST is set"
    for marker in ("/.dockerenv", "/run/.containerenv"):
        if Path(marker).exists():
            return f"{marker} exists"
    try:
        cg = Path("/proc/1/cgroup").read_text()
    except OSError:
        return ""
    found = [k for k in ("kubepods", "docker", "containerd", "libpod") if k in cg]
    return f"/proc/1/cgroup names {found[0]}" if found else ""


def in_container() -> bool:
    """Best-effort: are we inside a container (see :func:`container_evidence`)?"""
    return bool(container_evidence())


_NETWORK_FS = frozenset({"nfs", "nfs4", "cifs", "smb3", "ceph", "glusterfs", "9p"})
_PERSISTENT_MARKS = ("pvc-", "kubernetes.io~csi", "kubernetes.io~local-volume", "local-path")


def classify(mount: Mount | None, container: bool) -> tuple[VolumeKind, str]:
    """Classify a mount and say why, in words an operator can check."""
    if mount is None:
        return VolumeKind.UNKNOWN, "no mount found in /proc/self/mountinfo"
    where = f"mount {mount.mount_point} ({mount.fstype}, source root {mount.root})"
    if "kubernetes.io~empty-dir" in mount.root:
        return VolumeKind.EPHEMERAL, f"{where} is an emptyDir: deleted with the pod"
    if any(k in mount.root or k in mount.source for k in _PERSISTENT_MARKS):
        return VolumeKind.PERSISTENT_VOLUME, f"{where} is a persistent volume claim"
    if mount.fstype in ("tmpfs", "ramfs"):
        return VolumeKind.TMPFS, f"{where} is memory-backed: lost at restart"
    if mount.fstype.split(".")[0] in _NETWORK_FS:
        return VolumeKind.NETWORK, f"{where} is a network filesystem"
    if mount.mount_point == "/":
        if container:
            return (
                VolumeKind.CONTAINER_ROOT_FS,
                f"{where} is the container's root filesystem: lost at every restart",
            )
        return VolumeKind.LOCAL_DISK, f"{where}: the machine's root filesystem (not a container)"
    if container:
        return VolumeKind.PERSISTENT_VOLUME, f"{where} is a volume mounted into the container"
    return VolumeKind.LOCAL_DISK, f"{where}: a local disk (not a container)"


@dataclass(frozen=True)
class VolumeUsage:
    path: Path
    mount_point: str
    fstype: str
    kind: VolumeKind
    reason: str
    read_only: bool
    capacity: int
    used: int
    free: int
    inodes_total: int
    inodes_free: int


def usage(path: Path, *, mounts: list[Mount] | None = None, container: bool) -> VolumeUsage:
    """Usage and classification of the volume holding ``path`` (which must exist)."""
    ms = read_mounts() if mounts is None else mounts
    m = mount_for(path, ms)
    kind, reason = classify(m, container)
    st = os.statvfs(path)
    capacity = st.f_blocks * st.f_frsize
    free = st.f_bavail * st.f_frsize
    return VolumeUsage(
        path=path,
        mount_point=m.mount_point if m else "?",
        fstype=m.fstype if m else "?",
        kind=kind,
        reason=reason,
        read_only=bool(m and m.read_only) or bool(st.f_flag & os.ST_RDONLY),
        capacity=capacity,
        used=capacity - st.f_bfree * st.f_frsize,
        free=free,
        inodes_total=st.f_files,
        inodes_free=st.f_favail,
    )


def own_roots(paths: list[Path]) -> list[Path]:
    """The paths that are not inside another of ``paths`` (each file is counted once)."""
    real = sorted({Path(os.path.realpath(p)) for p in paths}, key=lambda p: len(p.parts))
    roots: list[Path] = []
    for p in real:
        if not any(p.is_relative_to(r) for r in roots):
            roots.append(p)
    return roots


def tree_bytes(roots: list[Path]) -> int:
    """Bytes allocated to the files under ``roots`` (st_blocks, as ``du`` counts them; what
    fills a volume), links not followed. Files that vanish meanwhile are skipped."""
    total = 0
    stack = [str(r) for r in own_roots(roots)]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        elif entry.is_file(follow_symlinks=False):
                            total += entry.stat(follow_symlinks=False).st_blocks * 512
                    except OSError:
                        continue
        except OSError:
            continue
    return total


@dataclass
class GrowthTracker:
    """Growth rate of a volume's used bytes from samples over a sliding window."""

    window: float = 600.0
    samples: deque[tuple[float, int]] = field(default_factory=deque)

    def add(self, used: int, now: float | None = None) -> None:
        t = time.monotonic() if now is None else now
        self.samples.append((t, used))
        while len(self.samples) > 2 and t - self.samples[0][0] > self.window:
            self.samples.popleft()

    def rate(self) -> float:
        """Bytes per second (0 until two samples at least a second apart)."""
        if len(self.samples) < 2:
            return 0.0
        (t0, u0), (t1, u1) = self.samples[0], self.samples[-1]
        return (u1 - u0) / (t1 - t0) if t1 - t0 >= 1.0 else 0.0

    def seconds_until_full(self, free: int) -> float | None:
        r = self.rate()
        return free / r if r > 0 else None
