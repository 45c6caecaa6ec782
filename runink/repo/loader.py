"""Load a pipeline repository (working dir or commit) into a validated RepoSnapshot."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from runink.contracts.load import build_contract
from runink.contracts.model import Contract
from runink.findings import Finding, Findings, Position
from runink.repo.checks import check_snapshot
from runink.repo.golden import check_jsonl, group_golden
from runink.repo.herd import Herd, build_herd
from runink.repo.schemas import CONTRACT_SCHEMA, HERD_SCHEMA, REPOSITORY_SCHEMA, validate
from runink.repo.settings import RepositorySettings, build_settings
from runink.repo.snapshot import RepoSnapshot, SourceFile
from runink.repo.sources import RawFile, Tree, open_tree
from runink.yamlpos import YamlDocument, parse_yaml

T = TypeVar("T")

SETTINGS_FILE = "runink.yaml"


class LoadCache:
    """What earlier loads read and validated, by path and blob sha.

    A long-lived reader (the source controller) passes one to every load: a file whose
    blob did not change is neither read again (from a commit) nor parsed and validated
    again, so a push that changes one file costs about one file, however large the
    repository. Entries of files gone from the latest load are dropped.
    """

    def __init__(self) -> None:
        self.texts: dict[tuple[str, str], SourceFile] = {}
        self.manifests: dict[tuple[str, str, str], tuple[Any, tuple[Finding, ...]]] = {}
        self.jsonl: dict[tuple[str, str], list[Finding]] = {}
        self._texts_used: dict[tuple[str, str], SourceFile] = {}
        self._manifests_used: dict[tuple[str, str, str], tuple[Any, tuple[Finding, ...]]] = {}
        self._jsonl_used: dict[tuple[str, str], list[Finding]] = {}

    def begin(self) -> None:
        self._texts_used, self._manifests_used, self._jsonl_used = {}, {}, {}

    def end(self) -> None:
        self.texts, self.manifests = self._texts_used, self._manifests_used
        self.jsonl = self._jsonl_used

    def check_jsonl(self, source: SourceFile) -> list[Finding]:
        """check_jsonl of a golden file, once per blob."""
        key = (source.path, source.sha)
        found = self.jsonl.get(key)
        if found is None:
            found = check_jsonl(source)
        self._jsonl_used[key] = found
        return found


def load_repo(path: Path, rev: str | None = None, cache: LoadCache | None = None) -> RepoSnapshot:
    """Read, validate and cross-check the repository at ``path`` (or its commit ``rev``).

    Raises :class:`runink.findings.RuninkError` only when there is no repository to
    read (not a directory, not git, unknown revision); every problem inside the
    repository is a finding on the snapshot.
    """
    tree = open_tree(path, rev)
    try:
        return load_tree(tree, cache)
    finally:
        tree.close()


def load_tree(tree: Tree, cache: LoadCache | None = None) -> RepoSnapshot:
    """Validate every file of ``tree`` and build the snapshot."""
    cache = cache or LoadCache()
    cache.begin()
    try:
        return _load(tree, cache)
    finally:
        cache.end()


def _load(tree: Tree, cache: LoadCache) -> RepoSnapshot:
    findings: list[Finding] = list(tree.problems)
    files: dict[str, str] = {}
    texts: dict[str, SourceFile] = {}
    for path in tree.paths():
        source = _read_text(tree, path, findings, cache)
        if source is not None:
            texts[path] = source
            files[path] = source.sha

    settings = None
    if SETTINGS_FILE in texts:
        built = _manifest(texts[SETTINGS_FILE], REPOSITORY_SCHEMA, build_settings, findings, cache)
        settings = built
    elif not any(f.file == SETTINGS_FILE for f in findings):
        findings.append(
            Finding(
                "repo.missing-settings",
                "the repository has no runink.yaml",
                Position(SETTINGS_FILE),
                hint="create one with `runi init`, or see docs/repo-format.md",
            )
        )

    herds: list[Herd] = []
    contracts: list[Contract] = []
    broken: set[str] = set()
    for path, source in texts.items():
        if path.startswith("herds/"):
            herd = _manifest(source, HERD_SCHEMA, build_herd, findings, cache)
            if herd is not None:
                herds.append(herd)
            else:
                broken.add("herd:" + _declared_name(source, ("metadata", "name")))
        elif path.startswith("contracts/"):
            contract = _manifest(source, CONTRACT_SCHEMA, _contract_builder, findings, cache)
            if contract is not None:
                contracts.append(contract)
            else:
                broken.add("contract:" + _declared_name(source, ("id",)))

    golden, golden_findings = group_golden(
        (t for p, t in texts.items() if p.startswith("golden/")), cache.check_jsonl
    )
    findings.extend(golden_findings)

    extra = _referenced_files(tree, settings, findings)
    for source in extra:
        files[source.path] = source.sha

    snapshot = RepoSnapshot(
        root=tree.root,
        revision=tree.revision,
        settings=settings,
        herds=tuple(herds),
        contracts=tuple(contracts),
        features=tuple(t for p, t in texts.items() if p.startswith("features/")),
        steps=tuple(t for p, t in texts.items() if p.startswith("steps/")),
        golden=tuple(golden),
        extra=tuple(extra),
        files=files,
        broken=frozenset(broken),
    )
    findings.extend(check_snapshot(snapshot))
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
    cache: LoadCache,
) -> T | None:
    """Parse, schema-check and build one manifest; None if any of that failed."""
    key = (schema_id, source.path, source.sha)
    known = cache.manifests.get(key)
    if known is None:
        found: list[Finding] = []
        known = (_build_manifest(source, schema_id, build, found), tuple(found))
    cache._manifests_used[key] = known
    findings.extend(known[1])
    value: T | None = known[0]
    return value


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


def _read_text(
    tree: Tree, path: str, findings: list[Finding], cache: LoadCache
) -> SourceFile | None:
    sha = tree.known_sha(path)
    if sha is not None and (path, sha) in cache.texts:
        known = cache.texts[(path, sha)]
        cache._texts_used[(path, sha)] = known
        return known
    raw = tree.read(path)
    if isinstance(raw, Finding):
        findings.append(raw)
        return None
    text = decode_utf8(raw, findings)
    if text is None:
        return None
    source = SourceFile(raw.path, raw.sha, text)
    cache._texts_used[(path, raw.sha)] = source
    return source


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
