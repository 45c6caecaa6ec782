"""SliceSpec: everything one slice process needs, written by its supervisor as JSON."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson


@dataclass(frozen=True)
class Output:
    """One downstream edge: the pipe to write, and the ``when=`` that routes to it."""

    fd: int
    target: str
    when: str | None = None


@dataclass(frozen=True)
class SliceSpec:
    """One node of one run. Relative source paths resolve against ``data_dir``,
    relative sink paths against ``run_dir``; user step modules live in ``repo_dir``."""

    run_id: str
    herd: str
    pipeline: str
    node: Mapping[str, Any]
    inputs: tuple[int, ...]
    outputs: tuple[Output, ...]
    control_fd: int
    data_dir: str
    run_dir: str
    repo_dir: str
    dlq_path: str
    started_at: str
    contracts: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    input_contract: str | None = None
    assertions: tuple[str, ...] = ()
    batch_size: int = 1000
    stream: bool = False
    # A source whose only reader is a step leaves parsing its lines to that step.
    check_lines: bool = True
    # A stream source resumes here: file (relative to data_dir) -> bytes already read.
    resume: Mapping[str, int] = field(default_factory=dict)

    @property
    def slice_id(self) -> str:
        return str(self.node["id"])

    def dump(self, path: Path) -> None:
        path.write_bytes(orjson.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> SliceSpec:
        data = orjson.loads(path.read_bytes())
        data["inputs"] = tuple(data["inputs"])
        data["outputs"] = tuple(Output(**o) for o in data["outputs"])
        data["assertions"] = tuple(data["assertions"])
        return cls(**data)
