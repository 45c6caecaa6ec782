"""``runi lint`` as a user runs it: a real process, exit codes, text and JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLE_REPO, commit_all

RUNI = [sys.executable, "-m", "runink.cli.main"]


def runi(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RUNI, *args], capture_output=True, text=True, timeout=60, cwd=cwd, check=False
    )


def test_example_repo_lints_clean() -> None:
    result = runi("lint", str(EXAMPLE_REPO))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok" in result.stderr


def test_findings_exit_1_with_file_line_and_hint(example_repo: Path) -> None:
    path = example_repo / "herds/finance.yaml"
    path.write_text(path.read_text().replace("isolation: strict", "isolaton: strict"))
    result = runi("lint", str(example_repo))
    assert result.returncode == 1
    assert "herds/finance.yaml:21:3" in result.stdout
    assert "did you mean 'isolation'?" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_json_output_is_a_list_of_findings(example_repo: Path) -> None:
    path = example_repo / "herds/finance.yaml"
    path.write_text(path.read_text().replace("pids: 512", "pids: many"))
    result = runi("lint", str(example_repo), "-o", "json")
    assert result.returncode == 1
    findings = json.loads(result.stdout)
    assert findings[0]["file"] == "herds/finance.yaml"
    assert {"file", "line", "column", "code", "message"} <= set(findings[0])
    assert findings[0]["line"] == 9 and findings[0]["code"] == "schema.type"


def test_clean_json_output_is_an_empty_list() -> None:
    result = runi("lint", str(EXAMPLE_REPO), "-o", "json")
    assert result.returncode == 0 and json.loads(result.stdout) == []


def test_rev_lints_the_commit_not_the_work_tree(example_repo: Path) -> None:
    sha = commit_all(example_repo)
    (example_repo / "runink.yaml").write_text("kind: [")
    assert runi("lint", str(example_repo)).returncode == 1
    assert runi("lint", str(example_repo), "--rev", sha).returncode == 0


def test_usage_errors_exit_2_without_a_traceback(tmp_path: Path) -> None:
    missing = runi("lint", str(tmp_path / "nope"))
    assert missing.returncode == 2
    not_git = runi("lint", str(tmp_path), "--rev", "HEAD")
    assert not_git.returncode == 2 and "not inside a git repository" in not_git.stdout
    bad_option = runi("lint", "--output", "xml")
    assert bad_option.returncode == 2
    for result in (missing, not_git, bad_option):
        assert "Traceback" not in result.stdout + result.stderr


def test_version_and_help_describe_every_command() -> None:
    # The installed console script, as a user runs it.
    script = Path(sys.executable).parent / "runi"
    version = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert version.returncode == 0 and "runi, version" in version.stdout
    help_text = runi("--help").stdout
    assert "lint" in help_text and "Validate a pipeline repository" in help_text
