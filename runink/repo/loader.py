"""Load a pipeline repository (working dir or commit) into a validated RepoSnapshot."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import git

from runink.contracts.load import build_contract
from runink.contracts.model import Contract
from runink.findings import Finding, Findings, Position
from runink.repo.checks import check_snapshot
from runink.repo.golden import check_jsonl, group_golden
from runink.repo.herd import Herd, build_herd
from runink.repo.schemas import CONTRACT_SCHEMA, HERD_SCHEMA, REPOSITORY_SCHEMA, validate
from runink.repo.settings import RepositorySettings, build_settings
from runink.repo.snapshot import Changes, GoldenSet, RepoSnapshot, SourceFile
from runink.repo.sources import CommitTree, RawFile, Tree, is_wanted, open_repo, open_tree
from runink.yamlpos import YamlDocument, parse_yaml

T = TypeVar("T")

SETTINGS_FILE = "runink.yaml"


@dataclass
class _Loaded:
    """What one load left behind, by category, each dict in path order."""

    revision: str | None = None
    tree: CommitTree | None = None
    settings: RepositorySettings | None = None
    herds: dict[str, Herd] = field(default_factory=dict)
    contracts: dict[str, Contract] = field(default_factory=dict)
    features: dict[str, SourceFile] = field(default_factory=dict)
    steps: dict[str, SourceFile] = field(default_factory=dict)
    golden_files: dict[str, SourceFile] = field(default_factory=dict)
    jsonl: dict[str, list[Finding]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    findings: dict[str, tuple[Finding, ...]] = field(default_factory=dict)  # non-empty only
    broken: dict[str, str] = field(default_factory=dict)
    golden: tuple[tuple[GoldenSet, ...], tuple[Finding, ...]] = ((), ())
    checks: tuple[Finding, ...] = ()


# Paths whose content alone (not their presence) cannot change the cross-file checks
# or the golden sets: a push that only edits these skips both.
_CONTENT_ONLY_TOPS = ("features/", "steps/")


class RepoLoader:
    """Loads successive commits of one repository, each at the cost of what changed.

    A long-lived reader (the source controller) keeps one per repository. After the
    first load, `git diff-tree` (C, skipping equal subtrees) names the paths that
    changed since the commit loaded last; only those are read, parsed and validated
    again, and the golden sets and cross-file checks are rebuilt only when a change can
    alter them. A push that changes one feature costs about one feature, however large
    the repository. A tree with symlinks into the repository is read in full each time.
    """

    def __init__(self) -> None:
        self._last: _Loaded | None = None
        self._repo: git.Repo | None = None
        self._path: Path | None = None

    def load(self, path: Path, rev: str) -> RepoSnapshot:
        """The snapshot of commit ``rev`` of the repository at ``path``."""
        if self._path != path.resolve():
            self.close()
            self._path = path.resolve()
        if self._repo is None:
            self._repo = open_repo(path)
        base = self._last.tree if self._last is not None else None
        try:
            tree = CommitTree(path, rev, repo=self._repo, base=base)
        except BaseException:
            self._last = None  # the base may be consumed: the next load reads in full
            raise
        return self.load_tree(tree)

    def load_tree(self, tree: Tree) -> RepoSnapshot:
        """The snapshot of ``tree``; incremental when it is a CommitTree with a base."""
        last, self._last = self._last, None  # a load that fails leaves nothing half-done
        changed = tree.changed if isinstance(tree, CommitTree) else None
        if last is None or changed is None:
            state, todo, changes = _Loaded(), tree.paths(), None
        else:  # the last state is this load's to change: snapshots hold copies
            state, todo = last, sorted(changed)
            changes = Changes(last.revision or "", changed)
        state.revision = tree.revision
        state.tree = tree if isinstance(tree, CommitTree) else None
        rebuild = _update(state, tree, todo, fresh=changes is None)
        if rebuild:
            golden, golden_findings = group_golden(
                state.golden_files.values(), lambda source: state.jsonl[source.path]
            )
            state.golden = (tuple(golden), tuple(golden_findings))
        snapshot = _assemble(state, tree, rebuild, changes)
        self._last = state if isinstance(tree, CommitTree) else None
        return snapshot

    def close(self) -> None:
        """Release the git helper processes held open between loads."""
        if self._repo is not None:
            self._repo.close()
        self._repo = None
        self._last = None


def load_repo(path: Path, rev: str | None = None) -> RepoSnapshot:
    """Read, validate and cross-check the repository at ``path`` (or its commit ``rev``).

    Raises :class:`runink.findings.RuninkError` only when there is no repository to
    read (not a directory, not git, unknown revision); every problem inside the
    repository is a finding on the snapshot.
    """
    tree = open_tree(path, rev)
    try:
        return load_tree(tree)
    finally:
        tree.close()


def load_tree(tree: Tree) -> RepoSnapshot:
    """Validate every file of ``tree`` and build the snapshot."""
    return RepoLoader().load_tree(tree)


_ORDERED = ("herds", "contracts", "features", "steps", "golden_files")  # tuples, in path order
_BY_PATH = (*_ORDERED, "jsonl", "files", "findings", "broken")


def _update(state: _Loaded, tree: Tree, paths: list[str], *, fresh: bool) -> bool:
    """Load ``paths`` into ``state`` (dropping what they held); True when the golden sets
    and cross-file checks must be rebuilt."""
    rebuild = fresh
    wanted = set(tree.paths()) if fresh else None
    unsorted: set[str] = set()
    for path in paths:
        was_present = path in state.files
        if wanted is not None:
            present = path in wanted
        else:
            present = is_wanted(path) and tree.known_sha(path) is not None
        one = _Loaded()
        if present:
            _load_path(one, tree, path)
            if path == SETTINGS_FILE:
                state.settings = one.settings
        elif path == SETTINGS_FILE:
            state.settings = None
        # An entry that stays keeps its place in its dict; a new one goes last (sorted below).
        for name in _BY_PATH:
            held, loaded = getattr(state, name), getattr(one, name)
            if path in loaded:
                if path not in held and name in _ORDERED:
                    unsorted.add(name)
                held[path] = loaded[path]
            else:
                held.pop(path, None)
        is_present = path in state.files
        if was_present != is_present or (is_present and not path.startswith(_CONTENT_ONLY_TOPS)):
            rebuild = True
    if not fresh:
        for name in unsorted:
            setattr(state, name, dict(sorted(getattr(state, name).items())))
    return rebuild


def _load_path(state: _Loaded, tree: Tree, path: str) -> None:
    """Read, parse and validate one file into ``state``."""
    findings: list[Finding] = []
    source = _read_text(tree, path, findings)
    if source is not None:
        state.files[path] = source.sha
        if path == SETTINGS_FILE:
            state.settings = _manifest(source, REPOSITORY_SCHEMA, build_settings, findings)
        elif path.startswith("herds/"):
            herd = _manifest(source, HERD_SCHEMA, build_herd, findings)
            if herd is not None:
                state.herds[path] = herd
            else:
                state.broken[path] = "herd:" + _declared_name(source, ("metadata", "name"))
        elif path.startswith("contracts/"):
            contract = _manifest(source, CONTRACT_SCHEMA, _contract_builder, findings)
            if contract is not None:
                state.contracts[path] = contract
            else:
                state.broken[path] = "contract:" + _declared_name(source, ("id",))
        elif path.startswith("features/"):
            state.features[path] = source
        elif path.startswith("steps/"):
            state.steps[path] = source
        elif path.startswith("golden/"):
            state.golden_files[path] = source
            state.jsonl[path] = check_jsonl(source)
    if findings:
        state.findings[path] = tuple(findings)


def _assemble(state: _Loaded, tree: Tree, rebuild: bool, changes: Changes | None) -> RepoSnapshot:
    """The snapshot of ``state``: cheap copies, checks run only when ``rebuild``."""
    findings: list[Finding] = list(tree.problems)
    for found in state.findings.values():
        findings.extend(found)
    if state.settings is None and SETTINGS_FILE not in state.findings:
        findings.append(
            Finding(
                "repo.missing-settings",
                "the repository has no runink.yaml",
                Position(SETTINGS_FILE),
                hint="create one with `runi init`, or see docs/repo-format.md",
            )
        )
    findings.extend(state.golden[1])
    files = dict(state.files)
    extra = _referenced_files(tree, state.settings, findings)
    for source in extra:
        files[source.path] = source.sha
    snapshot = RepoSnapshot(
        root=tree.root,
        revision=tree.revision,
        settings=state.settings,
        herds=tuple(state.herds.values()),
        contracts=tuple(state.contracts.values()),
        features=tuple(state.features.values()),
        steps=tuple(state.steps.values()),
        golden=state.golden[0],
        extra=tuple(extra),
        files=files,
        broken=frozenset(state.broken.values()),
        changes=changes,
    )
    if rebuild:
        state.checks = tuple(check_snapshot(snapshot))
    findings.extend(state.checks)
    return replace(snapshot, findings=Findings.of(findings))


def _declared_name(source: SourceFile, keypath: tuple[str, ...]) -> str:
    """The name a broken manifest meant to declare, as far as it can be read."""
    doc, _ = parse_yaml(source.text, source.path)
    value: Any = doc.data if doc is not None else None
    for key in keypath:
        value = value.get(key) if isinstance(value, dict) else None
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    return source.path.rsplit("/", 1)[-1].rsplit(".", 1)[0]


def _contract_builder(doc: YamlDocument, sha: str) -> tuple[Contract, list[Finding]]:
    return build_contract(doc, sha), []


def _manifest(
    source: SourceFile,
    schema_id: str,
    build: Callable[[YamlDocument, str], tuple[T | None, list[Finding]]],
    findings: list[Finding],
) -> T | None:
    """Parse, schema-check and build one manifest; None if any of that failed."""
    return _build_manifest(source, schema_id, build, findings)


def _build_manifest(
    source: SourceFile,
    schema_id: str,
    build: Callable[[YamlDocument, str], tuple[T | None, list[Finding]]],
    findings: list[Finding],
) -> T | None:
    doc, problems = parse_yaml(source.text, source.path)
    findings.extend(problems)
    if doc is None or problems:
        return None
    schema_findings = validate(doc, schema_id)
    findings.extend(schema_findings)
    if schema_findings:
        return None
    value, build_findings = build(doc, source.sha)
    findings.extend(build_findings)
    return None if build_findings else value


def _read_text(tree: Tree, path: str, findings: list[Finding]) -> SourceFile | None:
    raw = tree.read(path)
    if isinstance(raw, Finding):
        findings.append(raw)
        return None
    text = decode_utf8(raw, findings)
    if text is None:
        return None
    return SourceFile(raw.path, raw.sha, text)


def decode_utf8(raw: RawFile, findings: list[Finding]) -> str | None:
    """The file's text, or None with a finding at the first byte that is not UTF-8."""
    try:
        text = raw.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw.data[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before) - (before.rfind(b"\n") + 1) + 1
        findings.append(
            Finding(
                "repo.encoding",
                f"the file is not UTF-8 (byte 0x{raw.data[exc.start]:02x} at line {line})",
                Position(raw.path, line, column),
                hint="save the file as UTF-8",
            )
        )
        return None
    return text.removeprefix("\ufeff")


def _referenced_files(
    tree: Tree, settings: RepositorySettings | None, findings: list[Finding]
) -> list[SourceFile]:
    """Files runink.yaml names (the allowed-signers file), read with the same rules."""
    if settings is None or settings.allowed_signers is None:
        return []
    raw = tree.read(settings.allowed_signers)
    if isinstance(raw, Finding):
        findings.append(
            Finding(
                raw.code,
                f"allowedSigners: {raw.message}",
                settings.position_of("allowedSigners"),
                "spec.allowedSigners",
                raw.hint,
            )
        )
        return []
    text = decode_utf8(raw, findings)
    return [] if text is None else [SourceFile(raw.path, raw.sha, text)]
