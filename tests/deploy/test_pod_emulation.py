"""The dev overlay's collector run as the kubelet would run it (tests/deploy/podemu.py):
read-only root, PVCs bound in, emptyDir tmpfs, uid/gid/fsGroup 999, the manifest's own
gRPC probes. Then a pod restart keeps the PVC data and seq continues; a copy without the
data PVC mount is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from observer.daemon.doctor.render import parse_dockerfile
from tests.deploy.conftest import MANIFESTS, OVERLAYS, needs_kubectl, one, render
from tests.deploy.podemu import PodEmulator, build_spec, unavailable_reason

_REASON = unavailable_reason()
pytestmark = [
    pytest.mark.root,
    needs_kubectl,
    pytest.mark.skipif(_REASON is not None, reason=_REASON or ""),
    pytest.mark.timeout(240),
]

DATA = "/opt/platform/runtime/observer/data"
VENV_BIN = str(Path(__file__).resolve().parents[2] / ".venv" / "bin")
SECRETS = {"OBSERVER_CONTROL_TOKEN": "emulated-token", "DB_PASSWORD": "unused"}


def _objects(drop_data_mount: bool = False) -> list[dict[str, Any]]:
    objs = render(OVERLAYS["dev"])
    # No PostgreSQL in the emulated pod's network: files only (the sink is derived anyway).
    cm = one(objs, "ConfigMap", "observer-config")
    cm["data"].update(OBSERVER_STANDALONE="true", OBSERVER_METRICS_PORT="0",
                      OBSERVER_SIM_RATE="100", OBSERVER_SIM_SEED="7")  # fmt: skip
    if drop_data_mount:
        c = one(objs, "Deployment", "observer")["spec"]["template"]["spec"]["containers"][0]
        c["volumeMounts"] = [m for m in c["volumeMounts"] if m["name"] != "data"]
    return objs


def _pod(tmp_path: Path, **kw: Any) -> PodEmulator:
    spec = build_spec(
        _objects(**kw), parse_dockerfile(MANIFESTS / "Dockerfile"),
        host_dir=tmp_path, secrets=SECRETS, path_prefix=[VENV_BIN],
    )  # fmt: skip
    return PodEmulator(spec, tmp_path)


def _seqs(pvc: Path) -> list[int]:
    out: list[int] = []
    for f in sorted((pvc / "assets" / "scalp").glob("*.jsonl")):
        for line in f.read_text().splitlines():
            if line.strip():
                out.append(int(json.loads(line)["seq"]))
    return out


def _is(kind: str, **fields: Any) -> Any:
    return lambda e: e["event"] == kind and all(e.get(k) == v for k, v in fields.items())


def test_pod_serves_its_probes_keeps_pvc_data_across_a_restart_and_seq_continues(
    tmp_path: Path,
) -> None:
    pod = _pod(tmp_path)
    pvc = tmp_path / "storage" / "pvc-0000_observer-dev_observer-data-pvc"
    try:
        pod.start()
        assert pod.wait_for(_is("mounted"), 20)
        started = pod.wait_for(_is("probe", probe="startup", ok=True), 60)
        assert started, f"startup probe never passed; log:\n{pod.log()[-3000:]}"
        assert pod.wait_for(_is("ready", ready=True), 30), "readiness never passed"
        assert pod.wait_for(_is("probe", probe="liveness", ok=True), 30)
        # Inside the pod: uid/gid 999, root filesystem read-only, volumes writable.
        rc, out = pod.exec(["sh", "-c", "id -u; id -g; touch /opt/x 2>&1; echo kept > "
                            f"{DATA}/marker && echo gone > /tmp/marker && echo ok"])  # fmt: skip
        assert rc == 0 and out.splitlines()[:2] == ["999", "999"], out
        assert "Read-only file system" in out and out.strip().endswith("ok"), out
        deadline_lines = 0
        for _ in range(40):  # bounded: wait for ticks to reach the PVC
            if len(_seqs(pvc)) >= 20:
                break
            pod.wait_for(lambda e: False, 0.5)
        deadline_lines = len(_seqs(pvc))
        assert deadline_lines >= 20, "no ticks reached the data PVC"
        pod.stop()
        before = _seqs(pvc)

        pod.start()  # the pod restarts: new namespaces, fresh emptyDir, same PVC directories
        mounted = pod.wait_for(_is("mounted"), 20)
        assert mounted and mounted["empty_dirs"]["/tmp"] == []
        assert pod.wait_for(_is("probe", probe="startup", ok=True), 60), pod.log()[-3000:]
        rc, out = pod.exec(["sh", "-c", f"cat {DATA}/marker; ls /tmp/marker 2>&1 || true"])
        assert out.startswith("kept") and "No such file" in out, (rc, out, pod.events[-5:])
        for _ in range(40):
            if len(_seqs(pvc)) >= len(before) + 20:
                break
            pod.wait_for(lambda e: False, 0.5)
        pod.stop()
    finally:
        pod.stop()
    after = _seqs(pvc)
    assert after[: len(before)] == before, "data written before the restart changed"
    resumed = after[len(before) :]
    assert resumed, "collection did not resume after the restart"
    assert resumed[0] > before[-1], "seq restarted instead of continuing"
    assert after == sorted(set(after)), "seq must be strictly increasing across the restart"


def test_pod_without_the_data_pvc_mount_is_refused_and_never_starts(tmp_path: Path) -> None:
    pod = _pod(tmp_path, drop_data_mount=True)
    try:
        pod.start()
        exited = pod.wait_for(_is("container_exited"), 60)
        assert exited and exited["rc"] != 0
        log = pod.log()
        assert "OBSERVER_DATA_DIR" in log, log[-3000:]
        # The kubelet keeps probing (and restarting): startup never reports SERVING.
        pod.wait_for(lambda e: False, 6)
        startup = [e for e in pod.events if e["event"] == "probe" and e["probe"] == "startup"]
        assert startup and not any(e["ok"] for e in startup)
        assert not any(e["event"] == "ready" for e in pod.events)
    finally:
        pod.stop()
