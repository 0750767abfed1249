"""Pod emulation: run a rendered Deployment's container the way the kubelet would.

:class:`PodEmulator` turns the rendered objects into a spec for ``_kubelet.py`` (volumes,
user, fsGroup, environment from the image ENV + ConfigMap + test Secret values, command,
probes) and runs it under ``unshare --mount --net``. PVCs are host directories that outlive
the emulated pod, so stopping and starting again is a pod restart. Needs root and unshare.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from observer.daemon.doctor.context import Context
from observer.daemon.doctor.pod import HIDDEN, dig
from observer.daemon.doctor.render import Dockerfile

KUBELET = Path(__file__).with_name("_kubelet.py")
POD_IP = "10.42.0.9"

Event = dict[str, Any]


def unavailable_reason() -> str | None:
    """Why the emulation cannot run here, or None."""
    if os.geteuid() != 0:
        return "pod emulation needs root (mount namespaces, tmpfs, bind mounts)"
    for tool in ("unshare", "ip"):
        if shutil.which(tool) is None:
            return f"pod emulation needs {tool}"
    probe = subprocess.run(
        ["unshare", "--mount", "--net", "--propagation", "private", "true"],
        capture_output=True, check=False,
    )  # fmt: skip
    if probe.returncode != 0:
        return f"unshare --mount --net is not permitted here: {probe.stderr.decode().strip()}"
    return None


def _bytes(q: str | None) -> str | None:
    """Kubernetes quantity (256Mi) as a tmpfs size option (256m)."""
    if not q:
        return None
    units = {"Ki": "k", "Mi": "m", "Gi": "g"}
    for suffix, opt in units.items():
        if q.endswith(suffix):
            return q[: -len(suffix)] + opt
    return q


def build_spec(
    objects: list[dict[str, Any]],
    image: Dockerfile,
    *,
    host_dir: Path,
    secrets: dict[str, str],
    path_prefix: list[str],
    namespace: str = "observer-dev",
) -> dict[str, Any]:
    """The kubelet spec for the collector container of ``objects``."""
    ctx = Context.build(objects, image)
    assert len(ctx.collectors) == 1, "expected exactly one collector container"
    col = ctx.collectors[0]
    pod, c = col.pod, col.container
    pod_sc = pod.spec.get("securityContext") or {}
    sc = c.get("securityContext") or {}
    env = {k: v.value for k, v in col.env.values.items()}
    for k, v in col.env.values.items():
        if v.secret_ref is not None and (v.value == HIDDEN or k in secrets):
            env[k] = secrets.get(k, "")
    # The emulated image is this machine: its interpreter instead of /opt/venv.
    env["PATH"] = ":".join([*path_prefix, "/usr/local/bin", "/usr/bin", "/bin"])
    # What the kubelet injects into every container.
    env.update(KUBERNETES_SERVICE_HOST="10.43.0.1", KUBERNETES_SERVICE_PORT="443",
               HOSTNAME=f"{dig(pod.owner, 'metadata', 'name')}-emulated")  # fmt: skip
    mounts: list[dict[str, Any]] = []
    for m in c.get("volumeMounts") or []:
        vol = pod.volumes[m["name"]]
        entry: dict[str, Any] = {"path": m["mountPath"], "read_only": bool(m.get("readOnly"))}
        if "persistentVolumeClaim" in vol:
            claim = vol["persistentVolumeClaim"]["claimName"]
            # Named like K3s local-path volumes: pvc-<uid>_<namespace>_<claim>.
            src = host_dir / "storage" / f"pvc-0000_{namespace}_{claim}"
            src.mkdir(parents=True, exist_ok=True)
            entry.update(kind="pvc", source=str(src))
        elif "emptyDir" in vol:
            entry.update(kind="emptyDir", size=_bytes(dig(vol, "emptyDir", "sizeLimit")))
        elif "configMap" in vol:
            cm = ctx.configmaps.get(pod.namespace, vol["configMap"]["name"]) or {}
            entry.update(kind="configMap", files=dict(cm.get("data") or {}))
        else:
            raise AssertionError(f"volume type of {m['name']} is not emulated")
        mounts.append(entry)
    argv = [*(c.get("command") or image.entrypoint), *(c.get("args") or image.cmd)]
    exe = shutil.which(argv[0], path=env["PATH"])
    assert exe, f"{argv[0]} not found on {env['PATH']}"
    probes: dict[str, Any] = {}
    for name in ("startup", "liveness", "readiness"):
        p = c.get(f"{name}Probe")
        if p:
            probes[name] = {
                "port": p["grpc"]["port"], "service": p["grpc"].get("service", ""),
                "period": p.get("periodSeconds", 10), "timeout": p.get("timeoutSeconds", 1),
                "failure": p.get("failureThreshold", 3), "success": p.get("successThreshold", 1),
                "initial_delay": p.get("initialDelaySeconds", 0),
            }  # fmt: skip
    return {
        "pod_ip": POD_IP,
        "read_only_root": bool(sc.get("readOnlyRootFilesystem")),
        "run_as_user": sc.get("runAsUser", pod_sc.get("runAsUser", 0)),
        "run_as_group": sc.get("runAsGroup", pod_sc.get("runAsGroup", 0)),
        "fs_group": pod_sc.get("fsGroup"),
        "no_new_privs": sc.get("allowPrivilegeEscalation") is False,
        "mounts": mounts,
        "expose": [str(Path(sys.executable).resolve().parent.parent)],
        "image_paths": [sys.prefix, str(Path(__file__).resolve().parents[2])],
        "env": env,
        "argv": [exe, *argv[1:]],
        "cwd": c.get("workingDir") or image.workdir,
        "probes": probes,
        "grace": pod.spec.get("terminationGracePeriodSeconds", 30),
        "backoff": 1.0,
    }


class PodEmulator:
    """One emulated pod; ``start()``/``stop()`` again is a pod restart (PVCs persist)."""

    def __init__(self, spec: dict[str, Any], host_dir: Path) -> None:
        self.spec = spec
        self.host_dir = host_dir
        self.events: list[Event] = []
        self._q: queue.Queue[Event] = queue.Queue()
        self._proc: subprocess.Popen[str] | None = None
        self._runs = 0
        self._exec_id = 0
        self._reader: threading.Thread | None = None

    @property
    def log_path(self) -> Path:
        return self.host_dir / f"container-{self._runs}.log"

    def start(self) -> None:
        self._runs += 1
        self.events = []
        self._q = queue.Queue()
        # The image's own directories (the Dockerfile creates the mount points).
        for m in self.spec["mounts"]:
            Path(m["path"]).mkdir(parents=True, exist_ok=True)
        Path(self.spec["cwd"]).mkdir(parents=True, exist_ok=True)
        spec = dict(self.spec, log=str(self.log_path))
        spec_file = self.host_dir / f"spec-{self._runs}.json"
        spec_file.write_text(json.dumps(spec))
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                ["unshare", "--mount", "--net", "--propagation", "private",
                 sys.executable, str(KUBELET), str(spec_file)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, bufsize=1,
            )  # fmt: skip
        self._reader = threading.Thread(target=self._read, args=(self._proc, self._q), daemon=True)
        self._reader.start()

    @staticmethod
    def _read(proc: subprocess.Popen[str], q: queue.Queue[Event]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            q.put(json.loads(line))
        q.put({"event": "kubelet_exited"})

    def wait_for(self, pred: Callable[[Event], bool], timeout: float) -> Event | None:
        """The first event (seen before or arriving within ``timeout``) matching ``pred``."""
        for e in self.events:
            if pred(e):
                return e
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                e = self._q.get(timeout=left)
            except queue.Empty:
                return None
            self.events.append(e)
            if e["event"] == "setup_failed":
                raise AssertionError(f"pod setup failed: {e['error']}")
            if pred(e):
                return e
            if e["event"] == "kubelet_exited":
                return None
        return None

    def _send(self, cmd: dict[str, Any]) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(cmd) + "\n")
        self._proc.stdin.flush()

    def exec(self, argv: list[str], timeout: float = 20) -> tuple[int, str]:
        """Run a command in the pod as its user (like kubectl exec)."""
        self._exec_id += 1
        n = self._exec_id
        self._send({"cmd": "exec", "argv": argv, "id": n})
        e = self.wait_for(lambda e: e["event"] == "exec" and e.get("id") == n, timeout)
        assert e is not None, "exec got no answer"
        return int(e["rc"]), str(e["out"])

    def stop(self, timeout: float = 40) -> None:
        """Delete the pod: SIGTERM, grace period, then the namespaces and tmpfs are gone."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            with contextlib.suppress(BrokenPipeError, OSError):
                self._send({"cmd": "stop"})
            self.wait_for(lambda e: e["event"] == "stopped", timeout)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        else:
            self._proc.wait()
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        if self._reader is not None:
            self._reader.join(timeout=10)
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._proc = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
