"""docs/dsl.md lists exactly the finding codes the compiler emits."""

from __future__ import annotations

import re

from tests.conftest import ROOT


def test_every_compile_code_is_documented_and_every_documented_code_exists() -> None:
    source = "".join(p.read_text() for p in (ROOT / "runink" / "compiler").glob("*.py"))
    emitted = set(re.findall(r'"(compile\.[a-z-]+)"', source))
    documented = set(re.findall(r"`(compile\.[a-z-]+)`", (ROOT / "docs" / "dsl.md").read_text()))
    assert emitted == documented
