"""Secrets and archives: canary secret values looked for in everything the daemon writes or
answers, and malicious legacy archives restored."""

from __future__ import annotations

import hashlib
import io
import tarfile
import time
import urllib.request
from pathlib import Path

import grpc

from observer.v1 import observer_pb2 as pb
from observer.v1 import observer_pb2_grpc as pb_grpc
from tests.faults.common import Result
from tests.harness import base_env, external_simulator, kis_env, run_cli, start_daemon

CANARIES = {
    "KIS_APP_KEY": "PScanaryAppKey0000000000000000000042",
    "KIS_APP_SECRET": "canary-app-secret-" + "7" * 40,
    "KIS_HTS_ID": "canary-hts-123",
    "DB_PASSWORD": "canary-db-789",
    "OBSERVER_CONTROL_TOKEN": "canary-control-token-456",
    "OBSERVER_REPO_PASSWORD": "canary-repo-password-321",
    "OBSERVER_S3_ACCESS_KEY": "canary-s3-access-654",
    "OBSERVER_S3_SECRET_KEY": "canary-s3-secret-987",
}


def _needles() -> dict[str, bytes]:
    """Each canary, and the forms that would let it be guessed offline (plain hashes)."""
    out: dict[str, bytes] = {}
    for name, value in CANARIES.items():
        out[name] = value.encode()
        out[f"{name} sha256"] = hashlib.sha256(value.encode()).hexdigest()[:8].encode()
    return out


def canaries(root: Path, short: bool) -> Result:
    seconds = 4 if short else 20
    outputs: dict[str, bytes] = {}
    with external_simulator() as (_sim, ep):
        env = {
            **kis_env(ep),
            **CANARIES,
            "KIS_APP_KEY": CANARIES["KIS_APP_KEY"],
            "DB_HOST": "127.0.0.1",
            "DB_PORT": "9",  # nothing listens: the PostgreSQL sink reports its failure
            "LOG_LEVEL": "DEBUG",
        }
        d = start_daemon(root, settings=env)
        try:
            wrong = (("authorization", "Bearer not-the-token"),)
            right = (("authorization", f"Bearer {CANARIES['OBSERVER_CONTROL_TOKEN']}"),)
            with grpc.insecure_channel(d.target) as ch:
                outputs["GetStatus"] = (
                    pb_grpc.StatusServiceStub(ch)
                    .GetStatus(pb.GetStatusRequest())
                    .SerializeToString()
                )
                control = pb_grpc.ControlServiceStub(ch)
                try:
                    control.RotateNow(pb.RotateNowRequest(), metadata=wrong, timeout=5)
                except grpc.RpcError as e:
                    outputs["refused control call"] = (e.details() or "").encode()
                outputs["RotateNow"] = control.RotateNow(
                    pb.RotateNowRequest(), metadata=right, timeout=10
                ).SerializeToString()
                try:
                    for p in control.TriggerBackup(
                        pb.TriggerBackupRequest(), metadata=right, timeout=60
                    ):
                        outputs["TriggerBackup"] = (
                            outputs.get("TriggerBackup", b"") + p.SerializeToString()
                        )
                except grpc.RpcError as e:
                    outputs["TriggerBackup error"] = (e.details() or "").encode()
            time.sleep(seconds)
            metrics_port = d.env["OBSERVER_METRICS_PORT"]
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
                outputs["metrics"] = r.read()
        finally:
            d.stop()
        full = base_env(root, **env)
        for cmd in (["config"], ["config", "--json"], ["doctor"], ["doctor", "--json"]):
            out = run_cli(*cmd, env=full, timeout=60)
            outputs[" ".join(cmd)] = (out.stdout + out.stderr).encode()
    outputs["daemon stderr"] = d.stderr_path.read_bytes()
    for base in (root / "data", root / "logs"):
        for f in base.rglob("*"):
            if f.is_file() and f.stat().st_size < 64 << 20 and "assets" not in f.parts:
                outputs[str(f.relative_to(root))] = f.read_bytes()
    found = {
        f"{name} in {where}"
        for where, text in outputs.items()
        for name, needle in _needles().items()
        if needle in text
    }
    r = Result(
        "canary secrets",
        f"canary values in all {len(CANARIES)} secret settings; logs at DEBUG, status, metrics, "
        "control errors, backup, config, doctor, event bus, status.json, every file written",
        {"outputs read": len(outputs), "occurrences": len(found)},
    )
    if found:
        r.figures["where"] = ", ".join(sorted(found)[:5])
    r.ok = not found
    return r


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data else None)


def malicious_archives(root: Path, short: bool) -> Result:
    outside = root / "outside"
    outside.mkdir(parents=True)
    archives = root / "data" / "backups" / "archives"
    archives.mkdir(parents=True)
    made: list[str] = []

    def member(
        name: str, kind: bytes = tarfile.REGTYPE, link: str = "", data: bytes = b"x\n"
    ) -> tuple[tarfile.TarInfo, bytes]:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.linkname = link
        info.size = len(data) if kind == tarfile.REGTYPE else 0
        return info, data if kind == tarfile.REGTYPE else b""

    cases = {
        "traversal": [member(f"../{outside.name}/escaped.txt")],
        "absolute": [member(str(outside / "absolute.txt"))],
        "symlink": [
            member("assets/link", tarfile.SYMTYPE, str(outside)),
            member("assets/link/through.txt"),
        ],
        "hardlink": [member("assets/hard", tarfile.LNKTYPE, str(outside / "target.txt"))],
        "device": [member("assets/dev", tarfile.CHRTYPE)],
        "fifo": [member("assets/fifo", tarfile.FIFOTYPE)],
    }
    refused = 0
    for n, (case, members) in enumerate(cases.items()):
        bid = f"20261101-0{n}0000-beef"
        path = archives / f"{bid}.tar.gz"
        _tar(path, members)
        made.append(case)
        into = root / f"restore-{case}"
        out = run_cli("restore", str(path), "--into", str(into), env=base_env(root), timeout=60)
        refused += out.returncode != 0
    escaped = [p for p in outside.rglob("*")]
    specials = [
        p for case in cases for p in (root / f"restore-{case}").rglob("*")
        if p.is_symlink() or (p.exists() and not (p.is_file() or p.is_dir()))
    ]  # fmt: skip
    r = Result(
        "malicious archives",
        f"restore of legacy archives holding {', '.join(made)} members",
        {"files written outside the target": len(escaped), "links or devices created": len(specials),
         "restores refused": f"{refused} of {len(cases)}"},
    )  # fmt: skip
    r.ok = not escaped and not specials
    return r
