"""Build the step a slice runs: a built-in, the scenario's assertions, or a user step.

User step modules are imported here, inside the slice process, and nowhere else.
"""

from __future__ import annotations

import os
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
        secrets={},
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
