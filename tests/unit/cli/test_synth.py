"""``runi synth`` as a user runs it: JSON lines, the same bytes per seed, exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from runink.cli.synth import synth_command
from runink.contracts.checker import RecordChecker, compile_checker
from runink.repo.loader import load_repo
from tests.conftest import EXAMPLE_REPO

SYNTH = [sys.executable, "-m", "runink.cli.main", "synth"]

# Negated classes and \W: rstr draws those from Python sets, whose order is per process.
HASH_SENSITIVE_CONTRACT = """\
apiVersion: v3.1.0
kind: DataContract
id: codes
version: 1.0.0
status: active
schema:
  - name: codes
    properties:
      - name: code
        logicalType: string
        required: true
        unique: true
        logicalTypeOptions: {pattern: '^[^a-z]{4}\\W[^0-9]{2}$'}
      - name: email
        logicalType: string
        logicalTypeOptions: {format: email}
"""


def synth(*args: str, hash_seed: str = "0") -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    return subprocess.run([*SYNTH, *args], capture_output=True, timeout=120, check=False, env=env)


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(synth_command, list(args))
    return result.exit_code, result.stdout, result.stderr


def invoke_one(repo: Path, contract_id: str, *extra: str) -> tuple[int, str, str]:
    """One record (seed 1) of ``contract_id``: for the error paths."""
    return invoke(str(repo), "--contract", contract_id, "--count", "1", "--seed", "1", *extra)


def checker_of(contract_id: str) -> RecordChecker:
    contract = load_repo(EXAMPLE_REPO).contract(contract_id)
    assert contract is not None
    return compile_checker(contract)


def lines(data: bytes | str) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in data.splitlines()]


@pytest.mark.parametrize("contract_id", ["customer", "order", "trade", "trade_raw"])
def test_writes_n_records_that_satisfy_the_contract(contract_id: str) -> None:
    code, out, err = invoke(
        str(EXAMPLE_REPO), "--contract", contract_id, "--count", "500", "--seed", "3"
    )
    assert code == 0, err
    records = lines(out)
    assert len(records) == 500
    checker = checker_of(contract_id)
    assert [v for v in map(checker.check, records) if v] == []
    assert "500 valid" in err


def test_the_same_seed_gives_byte_identical_output_in_separate_processes(
    example_repo: Path,
) -> None:
    (example_repo / "contracts/codes.yaml").write_text(HASH_SENSITIVE_CONTRACT)
    outputs = []
    for contract_id, hash_seed in [("trade", "1"), ("trade", "2"), ("codes", "1"), ("codes", "2")]:
        result = synth(
            str(example_repo),
            "--contract", contract_id, "--count", "300", "--seed", "77",
            "--invalid-ratio", "0.2",
            hash_seed=hash_seed,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr.decode()
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1] and len(lines(outputs[0])) == 300
    assert outputs[2] == outputs[3] and len(lines(outputs[2])) == 300


def test_a_different_seed_gives_different_output() -> None:
    args = [str(EXAMPLE_REPO), "--contract", "order", "--count", "20"]
    _, first, _ = invoke(*args, "--seed", "1")
    _, second, _ = invoke(*args, "--seed", "2")
    assert first != second


def test_invalid_ratio_writes_round_n_r_records_that_break_one_rule_each() -> None:
    code, out, err = invoke(
        str(EXAMPLE_REPO),
        "--contract", "customer", "--count", "500", "--seed", "8", "--invalid-ratio", "0.2",
    )  # fmt: skip
    assert code == 0, err
    checker = checker_of("customer")
    found = [checker.check(r) for r in lines(out)]
    assert sum(1 for v in found if v) == 100
    assert all(len(v) <= 1 for v in found)
    # The summary says how many of each and which rules they break.
    assert "400 valid, 100 invalid (" in err
    assert "required" in err


def test_out_writes_the_file_and_nothing_to_stdout(tmp_path: Path) -> None:
    target = tmp_path / "trades.jsonl"
    code, out, err = invoke(
        str(EXAMPLE_REPO), "--contract", "trade", "--count", "10", "--seed", "1",
        "--out", str(target),
    )  # fmt: skip
    assert code == 0, err
    assert out == ""
    assert len(lines(target.read_bytes())) == 10
    assert str(target) in err
    assert [p.name for p in tmp_path.iterdir()] == ["trades.jsonl"]


def test_an_unknown_contract_exits_2_with_did_you_mean() -> None:
    code, out, err = invoke_one(EXAMPLE_REPO, "trades")
    assert code == 2
    assert "no contract 'trades'" in err and "did you mean 'trade'?" in err
    assert out == ""


def test_a_contract_without_properties_exits_2_with_a_clear_message(example_repo: Path) -> None:
    (example_repo / "contracts/empty.yaml").write_text(
        "apiVersion: v3.1.0\nkind: DataContract\nid: empty\nversion: 1.0.0\nstatus: active\n"
        "schema:\n  - name: nothing\n"
    )
    code, out, err = invoke_one(example_repo, "empty")
    assert code == 2
    assert "schema object 'nothing' has no properties" in err
    assert "Traceback" not in err and out == ""


def test_a_pattern_that_cannot_be_generated_exits_2_naming_it(example_repo: Path) -> None:
    path = example_repo / "contracts/trade.yaml"
    path.write_text(path.read_text().replace('"^[A-Z]{1,5}$"', '"^(?>[A-Z]{1,5})$"'))
    code, _, err = invoke_one(example_repo, "trade")
    assert code == 2
    assert "'symbol'" in err and "(?>[A-Z]{1,5})" in err and "hint:" in err


@pytest.mark.parametrize("ratio", ["1.5", "-0.1", "lots"])
def test_a_bad_invalid_ratio_is_a_usage_error(ratio: str) -> None:
    code, _, err = invoke_one(EXAMPLE_REPO, "trade", "--invalid-ratio", ratio)
    assert code == 2
    assert "--invalid-ratio" in err


def test_a_path_that_is_no_repository_exits_2(tmp_path: Path) -> None:
    code, _, err = invoke_one(tmp_path / "missing", "trade")
    assert code == 2
    assert "Traceback" not in err
