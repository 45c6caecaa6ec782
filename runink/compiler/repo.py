"""Compile a whole repository, incrementally.

Each feature's Plans are cached with the blob sha of the feature and the answer to
every lookup its compilation made (herd, contracts, user steps, golden sets). A
recompile re-parses only features whose file changed or whose lookups now answer
differently, so a push that changes one file costs work proportional to what
depends on it.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import Counter
from dataclasses import dataclass, field, replace
from operator import attrgetter

from runink.compiler.index import RepoIndex, build_index
from runink.compiler.plan import Plan, slug
from runink.compiler.scenario import compile_scenario
from runink.dsl import DslError, parse_feature
from runink.findings import Finding, Findings, Position
from runink.repo.snapshot import RepoSnapshot, SourceFile


@dataclass(frozen=True)
class CompileStats:
    features: int = 0
    compiled: int = 0
    reused: int = 0


@dataclass(frozen=True)
class PlanDelta:
    """How a compile's Plans differ from those of the compile of revision ``base``."""

    base: str
    added: tuple[Plan, ...]
    removed: tuple[Plan, ...]


@dataclass(frozen=True)
class CompileResult:
    plans: tuple[Plan, ...]
    findings: Findings
    stats: CompileStats = field(default_factory=CompileStats)
    delta: PlanDelta | None = None
    """Set when only changed features were compiled (see Compiler.compile)."""

    @property
    def ok(self) -> bool:
        return not self.findings.errors


@dataclass(frozen=True)
class _Entry:
    sha: str
    lookups: dict[str, str | None]
    plans: tuple[Plan, ...]
    findings: tuple[Finding, ...]


def feature_name(path: str) -> str:
    """``features/Trade_Lifecycle.dsl`` -> ``trade-lifecycle`` (the id's middle part)."""
    return slug(path.rsplit("/", 1)[-1].removesuffix(".dsl"))


# Files a compile looks things up in (herds, contracts, user steps, golden sets,
# settings): a change to none of them leaves every cached feature's lookups as they were.
_LOOKUP_SOURCES = ("herds/", "contracts/", "steps/", "golden/", "runink.yaml")


class Compiler:
    """Compiles snapshots to Plans, reusing what an earlier compile already did."""

    def __init__(self) -> None:
        self._cache: dict[str, _Entry] = {}
        # Of the last whole-repository compile, kept up to date by the compiles after it
        # that only had to look at changed features (see _compile_changed).
        self._last: str | None = None
        self._index: RepoIndex | None = None
        self._plans: list[Plan] = []  # sorted by pipeline id
        self._findings: dict[str, tuple[Finding, ...]] = {}  # feature path -> non-empty
        self._ids: Counter[str] = Counter()
        self._duplicated: set[str] = set()

    def compile(
        self, snapshot: RepoSnapshot, only: str | None = None, revision: str | None = None
    ) -> CompileResult:
        """Plans of every feature (or just the feature at path ``only``).

        A Plan carries the revision it was compiled at (``revision``, else the
        snapshot's): a Plan this compiler reuses keeps the revision it last changed at,
        as the desired state in Barn does. A snapshot that says what changed since the
        one compiled last (``RepoSnapshot.changes``), where no herd, contract, user step,
        golden set or setting changed, costs only its changed features.
        """
        label = revision or snapshot.revision
        changes = snapshot.changes
        if (
            only is None
            and changes is not None
            and self._index is not None
            and changes.base == self._last
            and not any(p.startswith(_LOOKUP_SOURCES) for p in changes.paths)
        ):
            return self._compile_changed(snapshot, changes.paths, label)
        self._last = self._index = None
        index = build_index(snapshot)
        features = [f for f in snapshot.features if only is None or f.path == only]
        plans: list[Plan] = []
        findings: dict[str, tuple[Finding, ...]] = {}
        compiled = reused = 0
        for source in features:
            entry = self._cache.get(source.path)
            if entry is None or not self._still_valid(entry, source, index):
                entry = self._compile_feature(source, index, snapshot)
                entry = replace(entry, plans=tuple(p.at_revision(label) for p in entry.plans))
                self._cache[source.path] = entry
                compiled += 1
            else:
                reused += 1
            plans.extend(entry.plans)
            if entry.findings:
                findings[source.path] = entry.findings
        live = {f.path for f in snapshot.features}
        for gone in [p for p in self._cache if p not in live]:
            del self._cache[gone]
        plans.sort(key=_by_pipeline)
        stats = CompileStats(len(features), compiled, reused)
        if only is not None:
            return _result(plans, index, findings, _duplicate_ids(plans), stats)
        self._last, self._index, self._plans, self._findings = (
            snapshot.revision,
            index,
            plans,
            findings,
        )
        self._ids = Counter(p.pipeline for p in plans)
        self._duplicated = {pipeline for pipeline, n in self._ids.items() if n > 1}
        duplicates = _duplicate_ids(plans) if self._duplicated else []
        return _result(plans, index, findings, duplicates, stats)

    def _compile_changed(
        self, snapshot: RepoSnapshot, paths: frozenset[str], label: str | None
    ) -> CompileResult:
        """Recompile only the features in ``paths``: nothing they look up changed.

        The last result's Plans stay sorted by pipeline id; changed ones are taken out
        and put in by bisection, so the cost is that of the change, not of the repo.
        """
        assert self._index is not None
        index, plans = self._index, self._plans
        features = snapshot.features  # sorted by path: found by bisection
        base = self._last or ""
        compiled = 0
        added: list[Plan] = []
        removed: list[Plan] = []
        for path in sorted(p for p in paths if p.startswith("features/")):
            old = self._cache.pop(path, None)
            self._findings.pop(path, None)
            for plan in old.plans if old is not None else ():
                at = bisect_left(plans, plan.pipeline, key=_by_pipeline)
                while at < len(plans) and plans[at] is not plan:
                    at += 1
                if at < len(plans):
                    del plans[at]
                    self._count(plan.pipeline, -1)
                    removed.append(plan)
            at = bisect_left(features, path, key=_by_path)
            source = features[at] if at < len(features) and features[at].path == path else None
            if source is None:
                continue
            entry = self._compile_feature(source, index, snapshot)
            entry = replace(entry, plans=tuple(p.at_revision(label) for p in entry.plans))
            self._cache[path] = entry
            compiled += 1
            if entry.findings:
                self._findings[path] = entry.findings
            for plan in entry.plans:
                insort(plans, plan, key=_by_pipeline)
                self._count(plan.pipeline, 1)
                added.append(plan)
        self._last = snapshot.revision
        stats = CompileStats(len(features), compiled, len(self._cache) - compiled)
        duplicates = _duplicate_ids(plans) if self._duplicated else []
        result = _result(plans, index, self._findings, duplicates, stats)
        return replace(result, delta=PlanDelta(base, tuple(added), tuple(removed)))

    def _count(self, pipeline: str, delta: int) -> None:
        self._ids[pipeline] += delta
        if self._ids[pipeline] > 1:
            self._duplicated.add(pipeline)
        else:
            self._duplicated.discard(pipeline)

    @staticmethod
    def _still_valid(entry: _Entry, source: SourceFile, index: RepoIndex) -> bool:
        return entry.sha == source.sha and all(
            index.answer(key) == answer for key, answer in entry.lookups.items()
        )

    def _compile_feature(
        self, source: SourceFile, index: RepoIndex, snapshot: RepoSnapshot
    ) -> _Entry:
        try:
            feature = parse_feature(source.text, source.path)
        except DslError as exc:
            return _Entry(source.sha, {}, (), exc.findings)
        name = feature_name(source.path)
        plans: list[Plan] = []
        findings: list[Finding] = []
        lookups: set[str] = set()
        for scenario in feature.scenarios:
            plan, problems, used = compile_scenario(feature, scenario, name, index)
            findings.extend(problems)
            lookups |= used
            if plan is not None:
                plans.append(plan)
        answers = {key: index.answer(key) for key in sorted(lookups)}
        inputs = {source.path: source.sha}
        inputs.update(_files_of(answers, index, snapshot))
        plans = [replace(p, inputs=inputs) for p in plans]
        return _Entry(source.sha, answers, tuple(plans), tuple(findings))


def _files_of(
    answers: dict[str, str | None], index: RepoIndex, snapshot: RepoSnapshot
) -> dict[str, str]:
    """path -> sha of every repository file a feature's lookups were answered by."""
    files: dict[str, str] = {}
    for key, answer in answers.items():
        if answer is None:
            continue
        kind, _, name = key.partition(":")
        if kind == "herd":
            files[index.herds[name].path] = index.herds[name].sha
        elif kind == "contract":
            files[index.contracts[name].path] = index.contracts[name].sha
        elif kind == "step":
            module = index.user_steps[name].module
            files[module] = answer
        elif kind == "settings" and snapshot.settings is not None:
            files[snapshot.settings.path] = answer
    return files


_by_pipeline = attrgetter("pipeline")
_by_path = attrgetter("path")


def _result(
    plans: list[Plan],
    index: RepoIndex,
    findings: dict[str, tuple[Finding, ...]],
    duplicates: list[Finding],
    stats: CompileStats,
) -> CompileResult:
    found = list(index.step_findings)
    for feature_findings in findings.values():
        found.extend(feature_findings)
    return CompileResult(tuple(plans), Findings.of([*found, *duplicates]), stats)


def _duplicate_ids(plans: list[Plan]) -> list[Finding]:
    seen: dict[str, Plan] = {}
    findings = []
    for plan in plans:
        first = seen.setdefault(plan.pipeline, plan)
        if first is not plan:
            findings.append(
                Finding(
                    "compile.duplicate-pipeline",
                    f"two scenarios compile to pipeline id {plan.pipeline!r}",
                    Position(next(iter(plan.inputs), plan.feature)),
                    hint=f"rename scenario {plan.scenario!r} or {first.scenario!r}",
                )
            )
    return findings
