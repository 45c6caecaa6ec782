"""The generated gRPC code checked into runink/api/protos is what grpcio-tools makes now."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

PROTOS = ROOT / "runink" / "api" / "protos"


def test_checked_in_generated_code_matches_a_fresh_protoc_run(tmp_path: Path) -> None:
    protos = sorted(PROTOS.glob("*.proto"))
    assert protos, "no .proto files"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{ROOT}",
            f"--python_out={tmp_path}",
            f"--pyi_out={tmp_path}",
            f"--grpc_python_out={tmp_path}",
            *(str(p.relative_to(ROOT)) for p in protos),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    generated = sorted((tmp_path / "runink" / "api" / "protos").iterdir())
    assert generated, "protoc wrote nothing"
    stale = []
    for fresh in generated:
        checked_in = PROTOS / fresh.name
        if not checked_in.exists() or checked_in.read_bytes() != fresh.read_bytes():
            stale.append(fresh.name)
    checked_in_generated = {p.name for p in PROTOS.glob("*_pb2*")}
    missing = checked_in_generated - {p.name for p in generated}
    assert not stale and not missing, (
        f"generated code is stale: {stale or sorted(missing)}; regenerate with "
        "`python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. --grpc_python_out=. "
        "runink/api/protos/*.proto` from the repository root"
    )
