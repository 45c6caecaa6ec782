"""Secret values for a run, from a file (YAML/JSON ``{herd: {name: value}}``) or the
environment (``RUNINK_SECRET_<HERD>_<NAME>``). Values stay in memory: they reach a
slice through the forkserver's socket and a tmpfs inside the slice's mount namespace.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from agent.isolation.policy import IsolationError
from runink.findings import did_you_mean

ENV_PREFIX = "RUNINK_SECRET_"


@dataclass(frozen=True)
class Secrets:
    """The values given per herd, and the declared names nobody gave a value for."""

    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict, repr=False)
    missing: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def env_name(herd: str, name: str) -> str:
    """The environment variable that carries secret ``name`` of ``herd``."""
    return ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", f"{herd}_{name}".upper())


def load_secrets(
    declared: Mapping[str, tuple[str, ...]],
    file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Secrets:
    """Values for the secrets each herd declares (``declared``: herd -> names).

    The environment wins over the file. A file naming a herd or a secret that is not
    declared is an error (a typo would otherwise go unnoticed).
    """
    values: dict[str, dict[str, str]] = {herd: {} for herd in declared}
    if file is not None:
        for herd, items in _read_file(file, declared).items():
            values[herd].update(items)
    for herd, names in declared.items():
        for name in names:
            value = (environ or {}).get(env_name(herd, name))
            if value is not None:
                values[herd][name] = value
    missing = {
        herd: tuple(n for n in names if n not in values[herd]) for herd, names in declared.items()
    }
    return Secrets({h: v for h, v in values.items() if v}, {h: m for h, m in missing.items() if m})


def _read_file(file: Path, declared: Mapping[str, tuple[str, ...]]) -> dict[str, dict[str, str]]:
    try:
        data = yaml.safe_load(file.read_text())  # JSON is YAML
    except OSError as exc:
        raise IsolationError(f"{file}: cannot read: {exc.strerror}", "") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else str(file)
        raise IsolationError(f"{where}: not YAML or JSON", "write {herd: {name: value}}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise IsolationError(f"{file}: expected a mapping of herds", "write {herd: {name: value}}")
    result: dict[str, dict[str, str]] = {}
    for herd, items in data.items():
        if herd not in declared:
            raise IsolationError(
                f"{file}: key {herd!r}: no such herd in this repository",
                did_you_mean(str(herd), declared) or f"herds: {', '.join(sorted(declared))}",
            )
        if not isinstance(items, dict):
            raise IsolationError(f"{file}: key {herd!r}: expected a mapping of name: value", "")
        for name, value in items.items():
            if name not in declared[herd]:
                raise IsolationError(
                    f"{file}: key {herd}.{name}: herd {herd!r} does not declare secret {name!r}",
                    did_you_mean(str(name), declared[herd])
                    or f"declared: {', '.join(declared[herd]) or 'none'} (spec.secrets)",
                )
            if not isinstance(value, str):
                raise IsolationError(
                    f"{file}: key {herd}.{name}: expected a string value",
                    "quote the value in the file",
                )
            result.setdefault(herd, {})[name] = value
    return result
