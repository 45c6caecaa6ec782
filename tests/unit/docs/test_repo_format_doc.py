"""docs/repo-format.md: its examples are valid files, its sample output is real."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runink.repo import load_repo
from tests.conftest import ROOT
from tests.unit.cli.test_lint import runi

DOC = ROOT / "docs" / "repo-format.md"
BLOCK = re.compile(r"```yaml\n# file: (?P<file>\S+)\n(?P<body>.*?)```", re.S)
EXAMPLES = [(m["file"], m["body"]) for m in BLOCK.finditer(DOC.read_text())]


def test_doc_has_an_example_of_every_manifest_kind() -> None:
    files = {f.split("/")[0] for f, _ in EXAMPLES}
    assert {"runink.yaml", "herds", "contracts"} <= files


@pytest.mark.parametrize(("file", "body"), EXAMPLES, ids=[f for f, _ in EXAMPLES])
def test_doc_example_is_a_valid_file(example_repo: Path, file: str, body: str) -> None:
    (example_repo / file).write_text(body)
    snapshot = load_repo(example_repo)
    assert [str(f) for f in snapshot.findings if f.file == file] == []


def test_doc_sample_finding_is_what_lint_prints(example_repo: Path) -> None:
    herd = example_repo / "herds/finance.yaml"
    herd.write_text(herd.read_text().replace("isolation: strict", "isolaton: strict"))
    printed = runi("lint", str(example_repo)).stdout
    sample = re.search(r"```\n(herds/finance\.yaml:21:3.*?)```", DOC.read_text(), re.S)
    assert sample is not None
    assert printed.strip() == sample.group(1).strip()
