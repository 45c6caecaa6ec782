"""A slice loads only what its node needs: startup is a visible share of a short run."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HEAVY = ("lark", "jsonschema", "duckdb", "pyarrow", "faker")

PROBE = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from runink.runtime import slice as _slice
    from runink.runtime.steps import build_step
    from runink.runtime.spec import SliceSpec
    spec = SliceSpec.load(Path(sys.argv[1]))
    build_step(spec)
    _slice.Outputs(spec, {})
    print(" ".join(sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[2:]))))
    """
)

USER_STEP = """from runink import step

@step("Scale")
def scale(record):
    return record
"""


def loaded_by(spec: dict[str, object], tmp_path: Path, heavy: tuple[str, ...]) -> set[str]:
    from runink.runtime.spec import SliceSpec

    path = tmp_path / "spec.json"
    SliceSpec(**spec).dump(path)  # type: ignore[arg-type]
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(path), *heavy],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return set(out.stdout.split())


def base_spec(tmp_path: Path, node: dict[str, object]) -> dict[str, object]:
    return {
        "run_id": "r",
        "herd": "h",
        "pipeline": "p",
        "node": node,
        "inputs": (),
        "outputs": (),
        "control_fd": 1,
        "data_dir": str(tmp_path),
        "run_dir": str(tmp_path),
        "repo_dir": str(tmp_path),
        "dlq_path": str(tmp_path / "dlq.jsonl"),
        "started_at": "2026-01-01T00:00:00+00:00",
    }


@pytest.mark.timeout(60)
def test_a_user_step_slice_loads_no_parser_schema_or_data_library(tmp_path: Path) -> None:
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps/bench.py").write_text(USER_STEP)
    node = {"id": "scale", "kind": "step", "name": "Scale", "module": "steps/bench.py"}
    assert loaded_by(base_spec(tmp_path, node), tmp_path, HEAVY) == set()


@pytest.mark.timeout(60)
def test_a_validating_slice_loads_no_expression_parser_or_json_schema(tmp_path: Path) -> None:
    contract = {
        "apiVersion": "v3.1.0",
        "kind": "DataContract",
        "id": "reading",
        "version": "1.0.0",
        "status": "active",
        "schema": [{"name": "r", "properties": [{"name": "id", "logicalType": "string"}]}],
    }
    node = {
        "id": "validate",
        "kind": "step",
        "name": "ValidateContract",
        "params": {"contract": "reading"},
    }
    spec = {**base_spec(tmp_path, node), "contracts": {"reading": contract}}
    assert loaded_by(spec, tmp_path, HEAVY) == set()
