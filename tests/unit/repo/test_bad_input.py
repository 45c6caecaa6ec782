"""Every kind of bad input gives a positioned finding, the same from a dir and a commit."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from runink.findings import Finding
from runink.repo import load_repo
from runink.repo.sources import MAX_FILE_BYTES
from tests.conftest import commit_all

Write = Callable[[str, "str | bytes"], Path]

HERD = """apiVersion: runink.dev/v1
kind: Herd
metadata:
  name: {name}
spec:
  quota: {{cpu: "1", memory: 1Gi}}
"""


@dataclass(frozen=True)
class Case:
    id: str
    change: Callable[[Path, Write], None]
    code: str
    file: str
    line: int
    column: int | None = None
    words: str = ""


def _herd_text(repo: Path) -> str:
    return (repo / "herds/finance.yaml").read_text()


def _replace(rel: str, old: str, new: str) -> Callable[[Path, Write], None]:
    def change(repo: Path, write: Write) -> None:
        text = (repo / rel).read_text()
        assert old in text, f"{old!r} not in {rel}"
        write(rel, text.replace(old, new, 1))

    return change


def _symlink_outside(repo: Path, write: Write) -> None:
    os.symlink("/etc/passwd", repo / "herds/passwd.yaml")


def _symlinked_dir_outside(repo: Path, write: Write) -> None:
    os.symlink("/etc", repo / "features/etc")


CASES = [
    Case(
        "malformed-yaml",
        _replace("herds/finance.yaml", "  quota: {cpu:", "  quota: [cpu:"),
        "yaml.syntax",
        "herds/finance.yaml",
        9,
        words="malformed YAML",
    ),
    Case(
        "wrong-type",
        _replace("herds/finance.yaml", "pids: 512", "pids: lots"),
        "schema.type",
        "herds/finance.yaml",
        9,
        words="expected integer, got string 'lots'",
    ),
    Case(
        "unknown-key",
        _replace("herds/finance.yaml", "  isolation: strict", "  isolaton: strict"),
        "schema.unknown-key",
        "herds/finance.yaml",
        21,
        3,
        words="unknown key 'isolaton'",
    ),
    Case(
        "duplicate-key",
        _replace("herds/finance.yaml", "  suspend: false", "  suspend: false\n  network: none"),
        "yaml.duplicate-key",
        "herds/finance.yaml",
        23,
        3,
        words="first defined on line 19",
    ),
    Case(
        "missing-required",
        _replace("runink.yaml", "  defaultHerd: finance\n", ""),
        "schema.missing",
        "runink.yaml",
        7,
        words="missing required key 'defaultHerd'",
    ),
    Case(
        "empty-file",
        lambda repo, write: write("contracts/empty.yaml", "# nothing here yet\n"),
        "yaml.empty",
        "contracts/empty.yaml",
        1,
    ),
    Case(
        "non-utf8",
        lambda repo, write: write(
            "herds/latin1.yaml", _herd_text(repo).replace("finance", "caf\xe9").encode("latin-1")
        ),
        "repo.encoding",
        "herds/latin1.yaml",
        4,
        12,
        words="not UTF-8",
    ),
    Case(
        "too-large",
        lambda repo, write: write("features/huge.dsl", b"#" * (MAX_FILE_BYTES + 1)),
        "repo.file-too-large",
        "features/huge.dsl",
        1,
    ),
    Case("symlink-outside", _symlink_outside, "repo.symlink-outside", "herds/passwd.yaml", 1),
    Case(
        "symlinked-dir-outside", _symlinked_dir_outside, "repo.symlink-outside", "features/etc", 1
    ),
    Case(
        "path-escape",
        _replace("runink.yaml", ".runink/allowed_signers", "../../etc/passwd"),
        "repo.path-escape",
        "runink.yaml",
        13,
        words="outside the repository",
    ),
    Case(
        "duplicate-herd",
        lambda repo, write: write("herds/finance2.yaml", HERD.format(name="finance")),
        "repo.duplicate",
        "herds/finance2.yaml",
        1,
        words="herd 'finance' is defined twice",
    ),
    Case(
        "duplicate-contract-id",
        lambda repo, write: write(
            "contracts/trade_v2.yaml", (repo / "contracts/trade.yaml").read_text()
        ),
        "repo.duplicate",
        "contracts/trade_v2.yaml",
        4,
        words="contract id 'trade' is defined twice",
    ),
    Case(
        "unknown-default-herd",
        _replace("runink.yaml", "defaultHerd: finance", "defaultHerd: finanse"),
        "repo.unknown-herd",
        "runink.yaml",
        7,
        16,
        words="did you mean",
    ),
    Case(
        "bad-quantity",
        _replace("herds/finance.yaml", 'cpu: "2"', 'cpu: "two"'),
        "schema.format",
        "herds/finance.yaml",
        9,
    ),
    Case(
        "malformed-rule",
        _replace("herds/finance.yaml", '"read:lineage"', '"raed:lineage"'),
        "herd.rule",
        "herds/finance.yaml",
        13,
        words="unknown verb 'raed'",
    ),
    Case(
        "undefined-role",
        _replace("herds/finance.yaml", "[viewer]", "[viewr]"),
        "herd.unknown-role",
        "herds/finance.yaml",
        16,
    ),
    Case(
        "golden-bad-json",
        lambda repo, write: write("golden/trades/broken/input.jsonl", '{"a": 1}\n{"a": \n'),
        "golden.json",
        "golden/trades/broken/input.jsonl",
        2,
    ),
]


def _finding(findings: tuple[Finding, ...], case: Case) -> Finding:
    matches = [f for f in findings if f.code == case.code and f.file == case.file]
    assert matches, f"no {case.code} in {case.file}; got:\n" + "\n".join(map(str, findings))
    return matches[0]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_reported_at_its_position(
    case: Case, example_repo: Path, write: Write
) -> None:
    case.change(example_repo, write)
    snapshot = load_repo(example_repo)
    finding = _finding(snapshot.findings.items, case)
    assert finding.line == case.line, str(finding)
    if case.column is not None:
        assert finding.column == case.column, str(finding)
    assert case.words in str(finding)
    assert not snapshot.ok


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_commit_gives_the_same_findings_as_the_directory(
    case: Case, example_repo: Path, write: Write
) -> None:
    case.change(example_repo, write)
    from_dir = load_repo(example_repo).findings
    sha = commit_all(example_repo)
    from_commit = load_repo(example_repo, rev=sha).findings
    assert [f.to_dict() for f in from_commit] == [f.to_dict() for f in from_dir]


def test_symlink_inside_the_repository_is_followed(example_repo: Path) -> None:
    os.symlink("finance.yaml", example_repo / "herds/finance-alias.yaml")
    snapshot = load_repo(example_repo)
    duplicate = [f for f in snapshot.findings if f.code == "repo.duplicate"]
    assert len(duplicate) == 1
    assert "herds/finance-alias.yaml" in duplicate[0].message
    assert duplicate[0].file == "herds/finance.yaml"


def test_every_error_is_reported_at_once(example_repo: Path, write: Write) -> None:
    _replace("herds/finance.yaml", "  isolation: strict", "  isolaton: strict")(example_repo, write)
    _replace("herds/ecommerce.yaml", "pids: 256", "pids: many")(example_repo, write)
    _replace("runink.yaml", "    mode: none", "    mode: none\n    mode: signed")(
        example_repo, write
    )
    _replace("contracts/order.yaml", "version: 1.0.0", "version: [1.0.0")(example_repo, write)
    found = {(f.code, f.file) for f in load_repo(example_repo).findings}
    assert {
        ("schema.unknown-key", "herds/finance.yaml"),
        ("schema.type", "herds/ecommerce.yaml"),
        ("yaml.duplicate-key", "runink.yaml"),
        ("yaml.syntax", "contracts/order.yaml"),
    } <= found


def test_a_broken_herd_file_does_not_cascade_into_reference_errors(
    example_repo: Path, write: Write
) -> None:
    _replace("herds/finance.yaml", "pids: 512", "pids: lots")(example_repo, write)
    codes = [f.code for f in load_repo(example_repo).findings]
    assert codes == ["schema.type"]
