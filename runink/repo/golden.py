"""Golden sets: ``golden/<feature>/<scenario>/{input,expected,expected_dlq}.jsonl``."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import orjson

from runink.findings import Finding, Position
from runink.repo.snapshot import GoldenSet, SourceFile

GOLDEN_FILES = ("input.jsonl", "expected.jsonl", "expected_dlq.jsonl")


def check_jsonl(source: SourceFile) -> list[Finding]:
    """Every line that is not one JSON object, at its line and column."""
    findings: list[Finding] = []
    for number, line in enumerate(source.text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            findings.append(
                Finding(
                    "golden.json",
                    f"not valid JSON: {exc.msg}",
                    Position(source.path, number, exc.colno),
                    hint="each line of a .jsonl file is one JSON object",
                )
            )
            continue
        if not isinstance(value, dict):
            findings.append(
                Finding(
                    "golden.json",
                    f"expected a JSON object, got {type(value).__name__}",
                    Position(source.path, number, 1),
                    hint="each line of a .jsonl file is one JSON object",
                )
            )
    return findings


def group_golden(
    sources: Iterable[SourceFile],
    check: Callable[[SourceFile], list[Finding]] = check_jsonl,
) -> tuple[list[GoldenSet], list[Finding]]:
    """Golden sets from their files; unexpected layouts and bad lines (``check``) are
    findings."""
    by_dir: dict[tuple[str, str], dict[str, SourceFile]] = {}
    findings: list[Finding] = []
    for source in sources:
        parts = source.path.split("/")
        if len(parts) != 4 or parts[3] not in GOLDEN_FILES:
            findings.append(
                Finding(
                    "golden.layout",
                    f"{source.path} is not part of a golden set",
                    Position(source.path),
                    hint="golden files are golden/<feature>/<scenario>/"
                    "input.jsonl, expected.jsonl and (optionally) expected_dlq.jsonl",
                )
            )
            continue
        by_dir.setdefault((parts[1], parts[2]), {})[parts[3]] = source
        findings.extend(check(source))
    sets = []
    for (feature, scenario), files in sorted(by_dir.items()):
        path = f"golden/{feature}/{scenario}"
        for required in ("input.jsonl", "expected.jsonl"):
            if required not in files:
                findings.append(
                    Finding(
                        "golden.missing",
                        f"golden set {path} has no {required}",
                        Position(next(iter(files.values())).path),
                        hint=f"add {path}/{required}",
                    )
                )
        sets.append(
            GoldenSet(
                feature,
                scenario,
                path,
                files.get("input.jsonl"),
                files.get("expected.jsonl"),
                files.get("expected_dlq.jsonl"),
            )
        )
    return sets, findings
