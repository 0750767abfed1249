"""Tail against a real daemon, as the README's grpcurl line asks it: the last records from
the files in seq order, then live, with nothing twice and nothing missing at the seam."""

from __future__ import annotations

import time
from pathlib import Path

import grpc

from observer.v1 import observer_pb2 as pb
from observer.v1 import observer_pb2_grpc as pb_grpc
from tests.harness import daemon_process, jsonl

SYMBOL = "005930"


def _file_seqs(data_dir: Path, track: str) -> list[int]:
    seqs: list[int] = []
    for f in sorted((data_dir / "assets" / track).glob("*.jsonl")):
        seqs += [int(str(x["seq"])) for x in jsonl(f) if x["symbol"] == SYMBOL]
    return seqs


def test_replay_last_then_live_is_in_seq_order_without_duplicate_or_gap(tmp_path: Path) -> None:
    with daemon_process(tmp_path, OBSERVER_SIM_RATE="400", OBSERVER_SWING_INTERVAL="1") as d:
        deadline = time.monotonic() + 20
        while len(_file_seqs(d.data_dir, "scalp")) < 20 and time.monotonic() < deadline:
            time.sleep(0.2)
        got: dict[int, list[int]] = {int(pb.TRACK_SCALP): [], int(pb.TRACK_SWING): []}
        replayed: list[int] = []
        with grpc.insecure_channel(d.target) as ch:
            call = pb_grpc.TailServiceStub(ch).Tail(
                pb.TailRequest(symbols=[SYMBOL], replay_last=5), timeout=4
            )
            try:
                for batch in call:
                    for t in batch.ticks:
                        assert t.symbol == SYMBOL
                        got[t.track].append(t.seq)
                        if batch.replay:
                            replayed.append(t.seq)
            except grpc.RpcError as e:
                assert e.code() is grpc.StatusCode.DEADLINE_EXCEEDED, e
        time.sleep(0.5)  # the writer's next commit: every record sent is in the files
        files: dict[int, list[int]] = {pb.TRACK_SCALP: _file_seqs(d.data_dir, "scalp"),
                 pb.TRACK_SWING: _file_seqs(d.data_dir, "swing")}  # fmt: skip
    assert len(replayed) == 5
    scalp = got[pb.TRACK_SCALP]
    assert len(scalp) > 10, "live scalp ticks followed the replay"
    for track, seqs in got.items():
        if not seqs:
            continue
        assert seqs == sorted(set(seqs)), f"track {track}: out of order or twice: {seqs}"
        expected = [s for s in files[track] if seqs[0] <= s <= seqs[-1]]
        assert seqs == expected, f"track {track}: gap between replay and live"
    # The replay is the newest five on disk when the call started, oldest first.
    scalp_replay = [s for s in replayed if s in scalp]
    assert scalp_replay == sorted(scalp_replay)
