"""Background tasks never die silently: restarted with backoff, reported, and a task that
keeps failing turns liveness NOT_SERVING."""

from __future__ import annotations

import asyncio

from observer.daemon import probes
from observer.daemon.api.health import HealthState
from observer.daemon.config import load_config
from observer.daemon.supervisor import LOOP_FAILURES, Supervisor


async def test_a_failing_task_is_restarted_and_reported_until_it_runs() -> None:
    runs: list[int] = []
    failed: list[str] = []

    async def flaky() -> None:
        runs.append(1)
        if len(runs) < 3:
            raise RuntimeError(f"hour must be in 0..23 (run {len(runs)})")
        await asyncio.sleep(3600)

    sup = Supervisor(on_failure=lambda name, e: failed.append(name), backoff_initial=0.01)
    sup.spawn(flaky, "metrics")
    for _ in range(200):
        if len(runs) >= 3:
            break
        await asyncio.sleep(0.01)
    assert len(runs) == 3 and failed == ["metrics", "metrics"]
    report = sup.report()
    assert "hour must be in 0..23 (run 2)" in report["metrics"]
    assert "restarted 2 time(s)" in report["metrics"]
    assert sup.crash_looping() == []
    await sup.stop()


async def test_a_task_that_keeps_failing_makes_liveness_not_serving(tmp_path) -> None:
    async def broken() -> None:
        raise ValueError("boom")

    sup = Supervisor(backoff_initial=0.001)
    sup.spawn(broken, "status-sampler")
    health = HealthState(load_config(environ={"OBSERVER_DATA_DIR": str(tmp_path)}).config)
    health.watch_tasks(sup.crash_looping)
    for _ in range(400):
        if sup.crash_looping():
            break
        await asyncio.sleep(0.01)
    serving, reason = health.evaluate()[probes.LIVENESS]
    assert not serving and f"status-sampler failed {LOOP_FAILURES} times" in reason
    await sup.stop()


async def test_a_one_shot_task_that_fails_is_reported_not_restarted() -> None:
    runs: list[int] = []

    async def once() -> None:
        runs.append(1)
        raise OSError("disk gone")

    sup = Supervisor(backoff_initial=0.01)
    sup.spawn(once, "recovery-check", restart=False)
    await asyncio.sleep(0.1)
    assert runs == [1] and "not restarted" in sup.report()["recovery-check"]
    await sup.stop()
