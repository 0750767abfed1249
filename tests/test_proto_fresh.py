"""The committed generated code matches the .proto sources (run `make proto` when this fails)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTO_DIR = ROOT / "protos" / "observer" / "v1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def _generate(into: Path) -> None:
    protos = sorted(str(p.relative_to(ROOT / "protos")) for p in PROTO_DIR.glob("*.proto"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-Iprotos",
            f"--python_out={into}",
            f"--pyi_out={into}",
            f"--grpc_python_out={into}",
            *protos,
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )


def test_generated_code_is_identical_to_a_fresh_protoc_run(tmp_path: Path) -> None:
    _generate(tmp_path)
    fresh = {
        p.name: p.read_bytes()
        for p in (tmp_path / "observer" / "v1").iterdir()
        if p.name.endswith(GENERATED_SUFFIXES)
    }
    committed = {
        p.name: p.read_bytes() for p in PROTO_DIR.iterdir() if p.name.endswith(GENERATED_SUFFIXES)
    }
    assert fresh, "protoc generated nothing: is protos/observer/v1/*.proto present?"
    assert sorted(committed) == sorted(fresh), "generated files missing or extra: run `make proto`"
    stale = [name for name in fresh if committed[name] != fresh[name]]
    assert stale == [], f"stale generated code {stale}: run `make proto` and commit the result"


def test_every_proto_declares_the_package_matching_its_path() -> None:
    for proto in PROTO_DIR.glob("*.proto"):
        assert "package observer.v1;" in proto.read_text(encoding="utf-8"), proto.name
