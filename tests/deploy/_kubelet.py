"""The in-namespace half of the pod emulation: a tiny kubelet.

Started by tests/deploy/podemu.py as
``unshare --mount --net --propagation private python _kubelet.py SPEC.json``, it runs as
root inside fresh mount and network namespaces and does what the kubelet and the container
runtime do for one container: remount the root filesystem read-only, mount each volume at
its mountPath (PVC = persistent host directory bound in, emptyDir = fresh tmpfs, configMap
= files on a read-only tmpfs), apply fsGroup, start the process as the pod's user with
no_new_privs, and run the manifest's gRPC probes with their own ports, service names,
periods and thresholds. It reports JSON lines on stdout and takes commands (``exec``,
``stop``) as JSON lines on stdin.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

# The kubelet forks containers and execs while gRPC (the probes) runs threads in this
# process: keep gRPC's fork handlers out of the children.
os.environ["GRPC_ENABLE_FORK_SUPPORT"] = "false"

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC = 1, 2, 4, 32, 4096, 16384
_libc = ctypes.CDLL(None, use_errno=True)


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, "t": round(time.monotonic(), 3), **fields}), flush=True)


def mount(source: str, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    rc = _libc.mount(
        source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
        data.encode() if data else None,
    )  # fmt: skip
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} -> {target} ({fstype}): {os.strerror(err)}")


def expose(paths: list[str]) -> None:
    """Make host paths (the interpreter) reachable for the pod user through 0700 parents.

    The emulated "image" is this machine's filesystem, whose Python may live under a 0700
    home directory; a 0755 tmpfs over that parent with the needed child bound back in
    gives the pod user exactly what an image would.
    """
    for p in paths:
        parts = p.strip("/").split("/")
        for i in range(1, len(parts)):
            parent = "/" + "/".join(parts[:i])
            if os.stat(parent).st_mode & 0o001:
                continue
            child = "/" + "/".join(parts[: i + 1])
            fd = os.open(child, os.O_PATH)  # keep the child reachable once the parent is hidden
            mount("tmpfs", parent, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k")
            os.mkdir(child)
            mount(f"/proc/self/fd/{fd}", child, None, MS_BIND | MS_REC)
            os.close(fd)
            break


def apply_fs_group(path: str, gid: int) -> None:
    """What the kubelet does for fsGroup: group-own everything, setgid directories."""
    for root, dirs, files in os.walk(path):
        for name in [root, *[os.path.join(root, d) for d in dirs]]:
            os.chown(name, -1, gid)
            os.chmod(name, (os.stat(name).st_mode & 0o7777) | 0o2070)
        for f in files:
            fp = os.path.join(root, f)
            os.chown(fp, -1, gid)
            os.chmod(fp, (os.stat(fp).st_mode & 0o7777) | 0o060)


def setup(spec: dict[str, Any]) -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "addr", "add", f"{spec['pod_ip']}/32", "dev", "lo"], check=True)
    # Sources first, while nothing covers them (a /tmp emptyDir would hide pytest's tmp).
    sources = {
        m["path"]: os.open(m["source"], os.O_PATH) for m in spec["mounts"] if m["kind"] == "pvc"
    }
    # The emulated image (this checkout and its virtualenv) may sit under a path the pod
    # mounts a volume on (a clone under /tmp): keep a handle to bind it back afterwards.
    image = {p: os.open(p, os.O_PATH) for p in spec.get("image_paths", [])}
    expose(spec["expose"])
    gid = spec.get("fs_group")
    if gid is not None:  # before the root goes read-only: the sources live on it here
        for fd in sources.values():
            apply_fs_group(f"/proc/self/fd/{fd}", gid)
    for m in sorted(spec["mounts"], key=lambda m: m["path"].count("/")):
        target = m["path"]
        if m["kind"] == "pvc":
            mount(f"/proc/self/fd/{sources[target]}", target, None, MS_BIND | MS_REC)
        elif m["kind"] == "emptyDir":
            size = f",size={m['size']}" if m.get("size") else ""
            mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777{size}")
        elif m["kind"] == "configMap":
            mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
            for name, text in (m.get("files") or {}).items():
                with open(os.path.join(target, name), "w", encoding="utf-8") as f:
                    f.write(text)
            m["read_only"] = True
        if m.get("read_only"):
            mount(target, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    for fd in sources.values():
        os.close(fd)
    if spec["read_only_root"]:
        # Last: a bind mount copies the flags of its source, so volumes bound from the root
        # filesystem must be mounted while it is still writable. This changes only this
        # namespace's copy of the root mount; the volumes are separate mounts and stay rw.
        mount("/", "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    emit("mounted", mounts=[m["path"] for m in spec["mounts"]],
         empty_dirs={m["path"]: sorted(os.listdir(m["path"])) for m in spec["mounts"]
                     if m["kind"] == "emptyDir"})  # fmt: skip
    bound: list[str] = []
    for path in sorted(image, key=len):  # a parent first: it brings its children along
        fd = image[path]
        inside = any(path.startswith(b.rstrip("/") + "/") for b in bound)
        if not inside and not os.path.isdir(path):  # hidden by a volume; an image's never is
            os.makedirs(path)
            mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
            mount(path, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
            bound.append(path)
        os.close(fd)


def _user(spec: dict[str, Any]) -> dict[str, Any]:
    """subprocess arguments that start a process as the pod's user (done in the child, in C)."""
    groups = [spec["fs_group"]] if spec.get("fs_group") is not None else []
    return {"user": spec["run_as_user"], "group": spec["run_as_group"], "extra_groups": groups}


async def probe_once(spec: dict[str, Any], p: dict[str, Any]) -> str:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    target = f"{spec['pod_ip']}:{p['port']}"
    try:
        async with grpc.aio.insecure_channel(target) as ch:
            reply = await health_pb2_grpc.HealthStub(ch).Check(
                health_pb2.HealthCheckRequest(service=p["service"]), timeout=p["timeout"]
            )
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
    except grpc.aio.AioRpcError as e:
        return f"error {e.code().name}"


class Kubelet:
    def __init__(self, spec: dict[str, Any], log: Any) -> None:
        self.spec = spec
        self.proc: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self.stopping = False
        self.log = log

    async def start_container(self) -> None:
        s = self.spec
        self.proc = await asyncio.create_subprocess_exec(
            *s["argv"], env=s["env"], cwd=s["cwd"], stdin=subprocess.DEVNULL,
            stdout=self.log, stderr=self.log, **_user(s),
        )  # fmt: skip
        emit("container_started", pid=self.proc.pid, restarts=self.restarts)
        asyncio.get_running_loop().create_task(self.watch(self.proc))

    async def watch(self, proc: asyncio.subprocess.Process) -> None:
        rc = await proc.wait()
        emit("container_exited", rc=rc, restarts=self.restarts)
        if not self.stopping and proc is self.proc:
            await asyncio.sleep(min(10.0, self.spec["backoff"] * 2**self.restarts))
            self.restarts += 1
            if not self.stopping:
                await self.start_container()

    async def kill(self, grace: float) -> int | None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return proc.returncode if proc else None
        proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            proc.kill()
            return await proc.wait()

    async def run_probe(self, name: str, p: dict[str, Any], started: asyncio.Event) -> None:
        """Kubelet semantics: startup until success; liveness/readiness only after it."""
        if name != "startup":
            await started.wait()
        await asyncio.sleep(p["initial_delay"])
        fails = oks = 0
        ready: bool | None = None
        while not self.stopping:
            result = await probe_once(self.spec, p)
            ok = result == "SERVING"
            fails, oks = (0, oks + 1) if ok else (fails + 1, 0)
            emit("probe", probe=name, result=result, ok=ok)
            if name == "startup" and oks >= p["success"]:
                started.set()
                return
            if name == "readiness":
                if ready is not True and oks >= p["success"]:
                    ready = True
                    emit("ready", ready=True)
                elif ready is not False and fails >= p["failure"]:
                    ready = False
                    emit("ready", ready=False)
            elif fails >= p["failure"]:
                emit("probe_failed", probe=name, failures=fails)
                fails = 0
                await self.kill(self.spec["grace"])  # the watcher restarts it
                if name == "startup":
                    await asyncio.sleep(p["period"])
                    continue
            await asyncio.sleep(p["period"])

    async def commands(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():
            cmd = json.loads(line)
            if cmd["cmd"] == "exec":
                s = self.spec
                proc = await asyncio.create_subprocess_exec(
                    *cmd["argv"], env=s["env"], cwd=s["cwd"], stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT, **_user(s),
                )  # fmt: skip
                out, _ = await proc.communicate()
                emit("exec", id=cmd.get("id"), rc=proc.returncode, out=out.decode(errors="replace"))
            elif cmd["cmd"] == "stop":
                break
        self.stopping = True
        rc = await self.kill(self.spec["grace"])
        emit("stopped", rc=rc)


async def main(spec: dict[str, Any], log: Any) -> None:
    kubelet = Kubelet(spec, log)
    await kubelet.start_container()
    started = asyncio.Event()
    tasks = [
        asyncio.create_task(kubelet.run_probe(n, p, started)) for n, p in spec["probes"].items()
    ]
    await kubelet.commands()
    for t in tasks:
        t.cancel()


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        the_spec = json.load(f)
    # The container log is our stderr, a file the harness opened in the host's mount
    # namespace (a writer opened here would keep the root from going read-only).
    container_log = sys.stderr
    try:
        setup(the_spec)
    except OSError as e:
        emit("setup_failed", error=str(e))
        sys.exit(1)
    if the_spec.get("no_new_privs"):
        _libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS, inherited by the container
    asyncio.run(main(the_spec, container_log))
