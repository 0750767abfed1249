"""The whole daemon as an operator runs it: `observer-daemon run` as a real process on the
built-in simulator (real websocket and REST servers on loopback, real files)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from observer.daemon import fingerprints, probes
from observer.daemon.simulator.server import SimEndpoints, Simulator
from observer.v1 import observer_pb2 as pb
from observer.v1 import observer_pb2_grpc as pb_grpc
from tests.harness import (
    base_env,
    daemon_process,
    external_simulator,
    jsonl,
    kis_env,
    run_cli,
    start_daemon,
    wait_for,
)


def _scalp_lines(data_dir: Path) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for f in sorted((data_dir / "assets" / "scalp").glob("*.jsonl")):
        out += jsonl(f)
    return out


def _count_lines(data_dir: Path) -> int:
    return sum(f.read_bytes().count(b"\n") for f in (data_dir / "assets" / "scalp").glob("*.jsonl"))


def _assert_seq_continuous(lines: list[dict[str, object]]) -> None:
    by_date: dict[object, list[int]] = {}
    for line in lines:
        by_date.setdefault(line["trade_date"], []).append(int(str(line["seq"])))
    for date, seqs in by_date.items():
        assert seqs == list(range(1, len(seqs) + 1)), f"seq broken on {date}"


def _status(target: str) -> pb.Status:
    with grpc.insecure_channel(target) as ch:
        return pb_grpc.StatusServiceStub(ch).GetStatus(pb.GetStatusRequest(), timeout=5)


def test_daemon_on_the_simulator_writes_ticks_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    with daemon_process(tmp_path) as d:
        assert wait_for(lambda: _count_lines(d.data_dir) >= 300, timeout=20)
        t0 = time.monotonic()
        code = d.stop(signal.SIGTERM)
        took = time.monotonic() - t0
    assert code == 0, d.output()[-2000:]
    assert took < 10.0, f"SIGTERM to exit took {took:.1f} s (budget 10 s)"
    lines = _scalp_lines(d.data_dir)
    assert len(lines) >= 300
    _assert_seq_continuous(lines)
    assert {str(line["ts"])[-6:] for line in lines} == {"+09:00"}
    events = [e["event"] for e in jsonl(d.data_dir / "observer.jsonl")]
    assert events[0] == "start" and events[-1] == "stop"
    assert (d.data_dir / "assets" / "swing").glob("*.jsonl")


def test_kill_9_during_ingest_then_restart_continues_seq_with_no_duplicates(
    tmp_path: Path,
) -> None:
    d = start_daemon(tmp_path, OBSERVER_SIM_RATE="2000")
    try:
        assert wait_for(lambda: _count_lines(d.data_dir) >= 1000, timeout=20)
    finally:
        d.kill9()
    before = _count_lines(d.data_dir)
    with daemon_process(tmp_path, OBSERVER_SIM_RATE="2000") as d2:
        assert wait_for(lambda: _count_lines(d2.data_dir) >= before + 1000, timeout=20)
    lines = _scalp_lines(tmp_path / "data")  # every line parses (jsonl raises otherwise)
    _assert_seq_continuous(lines)


def test_malformed_frames_are_counted_while_the_session_goes_on(tmp_path: Path) -> None:
    with daemon_process(tmp_path, OBSERVER_SIM_MALFORMED="0.2") as d:
        assert wait_for(lambda: _status(d.target).collector.malformed_frames >= 5, timeout=20)
        n = _count_lines(d.data_dir)
        assert wait_for(lambda: _count_lines(d.data_dir) > n + 100, timeout=10)
        s = _status(d.target)
        assert s.collector.session.reconnects == 0


def test_a_second_daemon_on_the_same_data_directory_is_refused(tmp_path: Path) -> None:
    with daemon_process(tmp_path) as d:
        env = base_env(tmp_path)  # same directories, other ports
        out = run_cli("run", env=env, timeout=30)
    assert out.returncode == 4, out.stderr
    assert f"pid {d.proc.pid} on host" in out.stderr
    assert "Traceback" not in out.stderr


def test_data_directory_on_the_root_filesystem_is_refused_in_container_mode(
    tmp_path: Path,
) -> None:
    env = base_env(tmp_path, OBSERVER_CONTAINER="true")
    out = run_cli("run", env=env, timeout=30)
    if "OBSERVER_DATA_DIR" not in out.stderr and out.returncode == 0:
        pytest.skip("tmp_path is on a mounted volume here, not the root filesystem")
    assert out.returncode == 3, out.stderr
    assert "OBSERVER_DATA_DIR" in out.stderr
    assert "lost at restart" in out.stderr
    assert "Traceback" not in out.stderr


def _unshare_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root for a mount namespace and a size-limited tmpfs"
    if shutil.which("unshare") is None:
        return "needs unshare(1)"
    return None


@pytest.mark.root
def test_a_full_data_volume_stops_the_daemon_with_a_clear_error(tmp_path: Path) -> None:
    reason = _unshare_reason()
    if reason:
        pytest.skip(reason)
    env = base_env(tmp_path, OBSERVER_MIN_FREE_MB="4")
    data = env["OBSERVER_DATA_DIR"]
    script = (
        f"mkdir -p {data} && mount -t tmpfs -o size=3m tmpfs {data} && "
        f"exec {sys.executable} -m observer.daemon run"
    )
    out = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 3, out.stderr
    assert "OBSERVER_DATA_DIR" in out.stderr and "MiB free" in out.stderr
    assert "Traceback" not in out.stderr


def test_config_command_shows_sources_and_masks_secrets(tmp_path: Path) -> None:
    env = base_env(tmp_path, DB_PASSWORD="canary-db-password-42")
    out = run_cli("config", "--port", "6001", env=env)
    assert out.returncode == 0, out.stderr
    assert "canary-db-password-42" not in out.stdout
    db_line = next(line for line in out.stdout.splitlines() if line.startswith("DB_PASSWORD"))
    assert " set " in db_line + " " and "fingerprint" not in db_line  # no key yet: presence
    fingerprints.load_or_create(tmp_path / "data")  # as the daemon does at its first start
    out = run_cli("config", "--port", "6001", env=env)
    assert "canary-db-password-42" not in out.stdout
    assert "DB_PASSWORD" in out.stdout and "set (fingerprint " in out.stdout
    port_line = next(line for line in out.stdout.splitlines() if line.startswith("SERVICE_PORT"))
    assert "6001" in port_line and "flag" in port_line


# --- a simulator shared by several daemon processes (five restarts) -----------------------


@pytest.fixture
def simulator() -> Iterator[tuple[Simulator, SimEndpoints]]:
    with external_simulator() as running:
        yield running


def test_five_daemon_restarts_issue_exactly_one_access_token(
    tmp_path: Path, simulator: tuple[Simulator, SimEndpoints]
) -> None:
    sim, ep = simulator
    creds = kis_env(ep)
    for _ in range(5):
        with daemon_process(tmp_path, **creds) as d:
            data, n = d.data_dir, _count_lines(d.data_dir)
            assert wait_for(lambda data=data, n=n: _count_lines(data) > n, timeout=20)
    assert sim.stats.token_issuances == 1
    cache = list((tmp_path / "data" / ".kis-token").iterdir())
    assert len(cache) == 1 and (cache[0].stat().st_mode & 0o777) == 0o600


def test_sigterm_turns_health_not_serving_before_the_port_closes(tmp_path: Path) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from observer.daemon import probes

    with daemon_process(tmp_path) as d:
        seen: list[str] = []
        ch = grpc.insecure_channel(d.target)
        stream = health_pb2_grpc.HealthStub(ch).Watch(
            health_pb2.HealthCheckRequest(service=probes.READINESS), timeout=30
        )

        def watch() -> None:
            try:
                for resp in stream:
                    seen.append(health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status))
            except grpc.RpcError:
                seen.append("STREAM_CLOSED")

        t = threading.Thread(target=watch)
        t.start()
        assert wait_for(lambda: "SERVING" in seen, timeout=10)
        polled: list[str] = []
        d.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and d.proc.poll() is None:
            polled.append(d.health(probes.LIVENESS, timeout=0.5))
            time.sleep(0.02)
        d.proc.wait(10)
        t.join(10)
        ch.close()
    assert "NOT_SERVING" in seen, seen
    assert seen.index("NOT_SERVING") > seen.index("SERVING")
    # A fresh Check during shutdown sees NOT_SERVING before the port refuses connections.
    assert "NOT_SERVING" in polled, polled
    first_down = polled.index("NOT_SERVING")
    assert "SERVING" not in polled[first_down:]


def test_run_retention_through_the_api_is_a_dry_run_unless_told_otherwise(tmp_path: Path) -> None:
    with daemon_process(tmp_path) as d, grpc.insecure_channel(d.target) as ch:
        stub = pb_grpc.ControlServiceStub(ch)
        auth = (("authorization", f"Bearer {d.token}"),)
        report = stub.RunRetention(pb.RunRetentionRequest(), metadata=auth, timeout=30)
        assert report.dry_run
        with pytest.raises(grpc.RpcError) as e:
            stub.RunRetention(pb.RunRetentionRequest(), timeout=10)
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_parts_cut_by_rotate_now_reach_parquet_and_status_says_ok(tmp_path: Path) -> None:
    with daemon_process(tmp_path) as d, grpc.insecure_channel(d.target) as ch:
        stub = pb_grpc.ControlServiceStub(ch)
        auth = (("authorization", f"Bearer {d.token}"),)
        closed: list[str] = []
        for _ in range(3):  # the first closes <key>.jsonl, the next ones its parts
            assert wait_for(lambda: _status(d.target).streams[0].lines > 0, 10)
            reply = stub.RotateNow(pb.RotateNowRequest(track=pb.TRACK_SCALP), metadata=auth)
            closed += [Path(c.path).name for c in reply.closed if c.path]
        assert any("_p1" in n for n in closed) and any("_p2" in n for n in closed)
        datasets = d.data_dir / "datasets" / "track=scalp"
        assert wait_for(
            lambda: {p.stem + ".jsonl" for p in datasets.glob("date=*/*.parquet")} >= set(closed)
        ), closed
        sinks = {s.name: s for s in _status(d.target).streams[0].sinks}
        assert sinks["parquet"].state == pb.SINK_STATE_OK and not sinks["parquet"].last_error
    events = [e["event"] for e in jsonl(d.data_dir / "observer.jsonl")]
    assert "parquet_failed" not in events


def test_a_second_daemon_on_the_same_app_key_reports_it_while_the_first_keeps_streaming(
    tmp_path: Path, simulator: tuple[Simulator, SimEndpoints]
) -> None:
    sim, ep = simulator
    creds = kis_env(ep)
    with daemon_process(tmp_path / "a", **creds) as first:
        assert wait_for(lambda: _count_lines(first.data_dir) > 0, timeout=20)
        with daemon_process(tmp_path / "b", **creds) as second:
            assert wait_for(
                lambda: (
                    _status(second.target).collector.session.state == pb.SESSION_STATE_APPKEY_IN_USE
                ),
                timeout=20,
            )
            st = _status(second.target)
            assert "another session uses this app key" in st.collector.session.last_error
            assert "another session uses this app key" in st.collector.last_error
            assert list(st.collector.failed_subscriptions) == []
            assert wait_for(lambda: second.health(probes.READINESS) == "NOT_SERVING", 10)
            assert second.health(probes.LIVENESS) == "SERVING"
            st = _status(second.target)
            ready = next(h for h in st.health if h.service == probes.READINESS)
            assert "another session uses this app key" in ready.reason
            metrics = (
                urllib.request.urlopen(
                    f"http://127.0.0.1:{second.env['OBSERVER_METRICS_PORT']}/metrics", timeout=5
                )
                .read()
                .decode()
            )
            assert 'observer_kis_session_state{state="appkey_in_use"} 1.0' in metrics
            n = _count_lines(first.data_dir)
            assert wait_for(lambda: _count_lines(first.data_dir) > n + 50, timeout=20)
            assert _status(first.target).collector.session.state == pb.SESSION_STATE_CONNECTED
            assert first.health(probes.READINESS) == "SERVING"
        assert "another session uses this app key" in second.output()
    assert sim.stats.ack_codes.get("OPSP8996", 0) >= 1
