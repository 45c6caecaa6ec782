"""Build the step a slice runs: a built-in, the scenario's assertions, or a user step.

User step modules are imported here, inside the slice process, and nowhere else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from runink.contracts import contract_from_data
from runink.runtime.spec import SliceSpec
from runink.steps.runtime import (
    StepContext,
    StepImpl,
    load_user_step,
    make_step,
    user_step,
)

SECRET_ENV_PREFIX = "RUNINK_SECRET_"  # noqa: S105 - a variable-name prefix, no secret


def slice_secrets(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The herd's secrets as this slice received them (docs/isolation.md): the files of
    ``$RUNINK_SECRETS_DIR``, or ``RUNINK_SECRET_<NAME>`` variables (name lower-cased)."""
    environ = os.environ if environ is None else environ
    found: dict[str, str] = {}
    directory = environ.get("RUNINK_SECRETS_DIR")
    if directory and os.path.isdir(directory):
        for name in sorted(os.listdir(directory)):
            with open(os.path.join(directory, name), encoding="utf-8") as handle:
                found[name] = handle.read()
    for variable, value in environ.items():
        if variable.startswith(SECRET_ENV_PREFIX):
            found.setdefault(variable.removeprefix(SECRET_ENV_PREFIX).lower(), value)
    return found


def build_step(spec: SliceSpec) -> StepImpl:
    """The StepImpl for ``spec.node``."""
    node = spec.node
    contracts = {
        cid: contract_from_data(doc, f"contracts/{cid}") for cid, doc in spec.contracts.items()
    }
    key = bytes.fromhex(os.environ.get("RUNINK_MASK_KEY", "")) or os.urandom(32)
    ctx = StepContext(
        run_id=spec.run_id,
        herd=spec.herd,
        pipeline=spec.pipeline,
        step_id=str(node["id"]),
        contracts=contracts,
        input_contract=contracts.get(spec.input_contract or ""),
        secrets=slice_secrets() if node.get("module") else {},  # user steps' ctx only
        mask_key=key,
        started_at=datetime.fromisoformat(spec.started_at),
    )
    params = dict(node.get("params") or {})
    if node["name"] == "Assert" and spec.assertions:
        # Imported here: a user step's slice need not load the built-ins.
        from runink.steps.builtin import AssertStep

        return AssertStep(spec.assertions, ctx)
    module = node.get("module")
    if module:
        registered = load_user_step(Path(spec.repo_dir) / str(module), str(node["name"]))
        return user_step(registered, params, ctx)
    # A plan's parameters were checked when it was compiled: not again in every slice.
    return make_step(str(node["name"]), params, ctx, validated=True)
