"""What an audit must read: the changed files and everything that may depend on them.

The scope is a superset of the features whose Plans can differ between base and
head: features that changed, and features that name (literally, as the DSL does) a
changed contract, herd, user step or golden set. Each side is then read limited to
those features plus what compiling them needs (settings, herds, user step modules,
the contracts they name, their golden sets), so the audit's cost follows the size
of the change: git finds the changed paths by comparing tree hashes, and greps the
features that name something, without Runink reading every file. A change to
``runink.yaml`` or to the default herd can touch every feature: the scope is then
the whole repository.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from runink.audit.git import GitRepo
from runink.dsl import DslError, parse_feature
from runink.steps.discover import discover_steps
from runink.yamlpos import parse_yaml

SETTINGS = "runink.yaml"
#: Read in full on both sides: few files, and every compile looks into them.
ALWAYS = (SETTINGS, "herds/", "steps/")


@dataclass(frozen=True)
class Scope:
    """The changed paths, and per side the paths to read (None: all of them).

    A spec ending in ``/`` is a directory.
    """

    changed: frozenset[str]
    base_specs: frozenset[str] | None
    head_specs: frozenset[str] | None
    reason: str = ""

    @property
    def full(self) -> bool:
        return self.head_specs is None


class Reader:
    """Reads files of one side: a commit (through git, no checkout) or the work tree."""

    def __init__(self, repo: GitRepo, commit: str | None, root: Path) -> None:
        self.repo = repo
        self.commit = commit
        self.root = root

    def text(self, path: str) -> str | None:
        if self.commit is not None:
            data = self.repo.show(self.commit, path)
        else:
            file = self.root / path
            data = file.read_bytes() if file.is_file() else None
        return None if data is None else data.decode("utf-8", "replace")


def matches(path: str, specs: Iterable[str]) -> bool:
    """Whether ``path`` is one of ``specs`` or inside one of its directories."""
    return any(path == s or (s.endswith("/") and path.startswith(s)) for s in specs)


def plan_scope(repo: GitRepo, base: Reader, head: Reader) -> Scope:
    """The scope of an audit from ``base`` (a commit) to ``head``."""
    assert base.commit is not None
    if head.commit is not None:
        raw = repo.changes(base.commit, head.commit)
    else:
        raw = repo.worktree_changes(base.commit)
    changed = frozenset(p for p in raw if _runink_file(p))
    if SETTINGS in changed:
        return Scope(changed, None, None, "runink.yaml changed")
    sides = (base, head)
    herd_names = _names(sides, _prefixed(changed, "herds/"), _herd_name)
    defaults = {_default_herd(side) for side in sides} - {None}
    if herd_names & defaults:
        return Scope(changed, None, None, "the default herd changed")
    step_names: set[str] = set()
    for path in _prefixed(changed, "steps/"):
        for side in sides:
            text = side.text(path)
            if text is not None:
                step_names.update(s.name for s in discover_steps(text, path).steps)
    changed_contracts = _prefixed(changed, "contracts/")
    contract_ids = _names(sides, changed_contracts, _contract_id)
    golden_dirs = {"/".join(p.split("/")[:3]) for p in _prefixed(changed, "golden/")}
    words = contract_ids | herd_names | step_names | golden_dirs
    # An unchanged feature reads the same on both sides: one grep of the head finds it.
    named = {p for p in repo.grep(head.commit, words, "features/") if p not in changed}
    changed_features = _prefixed(changed, "features/")
    texts = [_feature_texts(side, named, changed_features) for side in sides]
    contract_names = set(contract_ids)
    feature_golden: list[set[str]] = []
    for side_texts in texts:
        dirs: set[str] = set()
        for path, text in side_texts.items():
            dirs.add("golden/" + path.removeprefix("features/").removesuffix(".dsl"))
            _references(path, text, contract_names, dirs)
        feature_golden.append(dirs)
    contract_files = {
        p for p in repo.grep(head.commit, contract_names, "contracts/") if p not in changed
    }
    specs = []
    for side_texts, dirs in zip(texts, feature_golden, strict=True):
        spec = {*ALWAYS, *side_texts, *contract_files, *changed_contracts}
        spec |= {f"{d}/" for d in dirs | golden_dirs}
        specs.append(frozenset(spec))
    return Scope(changed, specs[0], specs[1])


def _feature_texts(side: Reader, named: set[str], changed: set[str]) -> dict[str, str]:
    texts = {}
    for path in sorted(named | changed):
        text = side.text(path)
        if text is not None:
            texts[path] = text
    return texts


def _references(path: str, text: str, contracts: set[str], golden: set[str]) -> None:
    """Add the contracts and golden sets a feature names."""
    try:
        feature = parse_feature(text, path)
    except DslError:
        return
    for tag in [*feature.tags, *(t for s in feature.scenarios for t in s.tags)]:
        if "contract" in tag.kwargs:
            contracts.add(str(tag.kwargs["contract"]))
        if tag.name == "golden" and tag.args:
            golden.add(str(tag.args[0]).strip("/"))


def _runink_file(path: str) -> bool:
    top = path.split("/", 1)[0]
    return path == SETTINGS or top in ("herds", "contracts", "features", "steps", "golden")


def _prefixed(paths: Iterable[str], prefix: str) -> set[str]:
    return {p for p in paths if p.startswith(prefix)}


class _Name:
    """Reads one declared name from a manifest's text (None when it has none)."""

    def __init__(self, *keys: str) -> None:
        self.keys = keys

    def __call__(self, text: str) -> str | None:
        doc, _ = parse_yaml(text, "")
        value = doc.data if doc is not None else None
        for key in self.keys:
            value = value.get(key) if isinstance(value, dict) else None
        return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None


_contract_id = _Name("id")
_herd_name = _Name("metadata", "name")


def _names(sides: Iterable[Reader], paths: Iterable[str], read: _Name) -> set[str]:
    names: set[str] = set()
    for path in paths:
        for side in sides:
            text = side.text(path)
            name = read(text) if text is not None else None
            if name:
                names.add(name)
    return names


def _default_herd(side: Reader) -> str | None:
    text = side.text(SETTINGS)
    return None if text is None else _Name("spec", "defaultHerd")(text)
