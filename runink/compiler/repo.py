"""Compile a whole repository, incrementally.

Each feature's Plans are cached with the blob sha of the feature and the answer to
every lookup its compilation made (herd, contracts, user steps, golden sets). A
recompile re-parses only features whose file changed or whose lookups now answer
differently, so a push that changes one file costs work proportional to what
depends on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

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
class CompileResult:
    plans: tuple[Plan, ...]
    findings: Findings
    stats: CompileStats = field(default_factory=CompileStats)

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


class Compiler:
    """Compiles snapshots to Plans, reusing what an earlier compile already did."""

    def __init__(self) -> None:
        self._cache: dict[str, _Entry] = {}

    def compile(
        self, snapshot: RepoSnapshot, only: str | None = None, revision: str | None = None
    ) -> CompileResult:
        """Plans of every feature (or just the feature at path ``only``).

        A Plan carries the revision it was compiled at (``revision``, else the
        snapshot's): a Plan this compiler reuses keeps the revision it last changed at,
        as the desired state in Barn does.
        """
        label = revision or snapshot.revision
        index = build_index(snapshot)
        features = [f for f in snapshot.features if only is None or f.path == only]
        plans: list[Plan] = []
        findings: list[Finding] = list(index.step_findings)
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
            findings.extend(entry.findings)
        live = {f.path for f in snapshot.features}
        for gone in [p for p in self._cache if p not in live]:
            del self._cache[gone]
        plans.sort(key=lambda p: p.pipeline)
        findings.extend(_duplicate_ids(plans))
        stats = CompileStats(len(features), compiled, reused)
        return CompileResult(tuple(plans), Findings.of(findings), stats)

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
            files[index.herds[name].path] = answer
        elif kind == "contract":
            files[index.contracts[name].path] = answer
        elif kind == "step":
            module = index.user_steps[name].module
            files[module] = answer
        elif kind == "settings" and snapshot.settings is not None:
            files[snapshot.settings.path] = answer
    return files


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
