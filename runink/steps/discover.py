"""Find the user steps of ``steps/*.py`` by reading their source, never importing them.

The control plane must not run user code, so ``@step("Name")`` decorators are read
from the module's syntax tree: the name and ``batch=`` must be literals, and the
function's arguments say what the step wants (``record``/``records``, ``params``,
``ctx``).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass

from runink.findings import Finding, Position, did_you_mean
from runink.steps.catalog import BUILTIN_STEPS

#: What a step function may ask for, by argument name.
STEP_ARGUMENTS = ("record", "records", "params", "ctx")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_RUNINK_MODULES = ("runink", "runink.steps", "runink.steps.registry")


@dataclass(frozen=True)
class DiscoveredStep:
    """A user step found in a module: what the Plan needs to call it in a slice."""

    name: str
    function: str
    batch: bool
    arguments: tuple[str, ...]
    module: str
    position: Position


@dataclass(frozen=True)
class Discovery:
    """The steps found in one or more modules, and every problem met."""

    steps: tuple[DiscoveredStep, ...] = ()
    findings: tuple[Finding, ...] = ()

    def step(self, name: str) -> DiscoveredStep | None:
        """The step called ``name``, if one was found."""
        return next((s for s in self.steps if s.name == name), None)


def _finding(code: str, message: str, position: Position, hint: str = "") -> Finding:
    return Finding(code=code, message=message, position=position, hint=hint)


class _Aliases:
    """Which names in a module refer to ``runink.step`` or to the ``runink`` package."""

    def __init__(self, tree: ast.Module) -> None:
        self.decorators = {"step"}  # a bare @step is read as runink's, imported or not
        self.modules = {"runink"}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module in _RUNINK_MODULES:
                for alias in node.names:
                    if alias.name == "step":
                        self.decorators.add(alias.asname or "step")
                    if alias.name in ("steps", "registry"):
                        self.modules.add(alias.asname or alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in _RUNINK_MODULES and alias.asname:
                        self.modules.add(alias.asname)

    def is_step(self, func: ast.expr) -> bool:
        if isinstance(func, ast.Name):
            return func.id in self.decorators
        if isinstance(func, ast.Attribute) and func.attr == "step":
            root = func.value
            parts: list[str] = []
            while isinstance(root, ast.Attribute):
                parts.append(root.attr)
                root = root.value
            if isinstance(root, ast.Name):
                dotted = ".".join([root.id, *reversed(parts)])
                return root.id in self.modules or dotted in _RUNINK_MODULES
        return False


def discover_steps(text: str, path: str) -> Discovery:
    """The user steps the module ``path`` (source ``text``) declares, and its problems."""
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as err:
        return Discovery(
            findings=(
                _finding(
                    "steps.syntax",
                    f"syntax error in step module: {err.msg}",
                    Position(path, err.lineno or 1, err.offset or 1),
                    "the module must be valid Python 3.11",
                ),
            )
        )
    except ValueError as err:  # e.g. NUL bytes in the source
        return Discovery(findings=(_finding("steps.syntax", str(err), Position(path)),))
    aliases = _Aliases(tree)
    steps: list[DiscoveredStep] = []
    findings: list[Finding] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        for decorator in node.decorator_list:
            call = decorator if isinstance(decorator, ast.Call) else None
            target = call.func if call is not None else decorator
            if not aliases.is_step(target):
                continue
            position = Position(path, decorator.lineno, decorator.col_offset + 1)
            found = _read(node, call, position, path, findings)
            if found is not None:
                steps.append(found)
    result = _check_names(steps, findings)
    return result


def _read(
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef,
    call: ast.Call | None,
    position: Position,
    path: str,
    findings: list[Finding],
) -> DiscoveredStep | None:
    if call is None:
        findings.append(
            _finding(
                "steps.decorator",
                "@step needs the step's name",
                position,
                'write @step("MyStep") or @step("MyStep", batch=True)',
            )
        )
        return None
    if not isinstance(node, ast.FunctionDef):
        kind = "a class" if isinstance(node, ast.ClassDef) else "an async function"
        findings.append(
            _finding(
                "steps.decorator",
                f"@step decorates {kind} {node.name!r}; a step is a plain function",
                position,
            )
        )
        return None
    name_node: ast.expr | None = call.args[0] if call.args else None
    batch_node: ast.expr | None = None
    for keyword in call.keywords:
        if keyword.arg == "name" and name_node is None:
            name_node = keyword.value
        elif keyword.arg == "batch":
            batch_node = keyword.value
        else:
            findings.append(
                _finding(
                    "steps.decorator",
                    f"@step has no argument {keyword.arg!r}",
                    Position(path, keyword.value.lineno, keyword.value.col_offset + 1),
                    did_you_mean(keyword.arg or "", ["name", "batch"])
                    or "@step takes the name and batch=",
                )
            )
    if len(call.args) > 1:
        extra = call.args[1]
        findings.append(
            _finding(
                "steps.decorator",
                "@step takes one positional argument (the name)",
                Position(path, extra.lineno, extra.col_offset + 1),
                "write batch=True as a keyword",
            )
        )
    if not (isinstance(name_node, ast.Constant) and isinstance(name_node.value, str)):
        where = name_node if name_node is not None else call
        findings.append(
            _finding(
                "steps.non-literal-name",
                "the step's name must be a string literal",
                Position(path, where.lineno, where.col_offset + 1),
                'Runink reads step names without running your code: write @step("MyStep")',
            )
        )
        return None
    name = name_node.value
    name_position = Position(path, name_node.lineno, name_node.col_offset + 1)
    if not _NAME.match(name):
        findings.append(
            _finding(
                "steps.invalid-name",
                f"step name {name!r} is not a valid name",
                name_position,
                "start with a letter; use letters, digits and '_' (e.g. EnrichRegion)",
            )
        )
        return None
    batch = False
    if batch_node is not None:
        if isinstance(batch_node, ast.Constant) and isinstance(batch_node.value, bool):
            batch = batch_node.value
        else:
            findings.append(
                _finding(
                    "steps.decorator",
                    "batch= must be True or False, written as a literal",
                    Position(path, batch_node.lineno, batch_node.col_offset + 1),
                )
            )
    arguments = _arguments(node, name, batch, path, findings)
    return DiscoveredStep(
        name=name,
        function=node.name,
        batch=batch,
        arguments=arguments,
        module=path,
        position=name_position,
    )


def _arguments(
    node: ast.FunctionDef, name: str, batch: bool, path: str, findings: list[Finding]
) -> tuple[str, ...]:
    args = node.args
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    defaults = len(args.defaults)
    positional = [*args.posonlyargs, *args.args]
    has_default = {a.arg for a in positional[len(positional) - defaults :]} if defaults else set()
    has_default |= {a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d}
    taken: list[str] = []
    for arg in every:
        at = Position(path, arg.lineno, arg.col_offset + 1)
        if arg.arg in STEP_ARGUMENTS:
            taken.append(arg.arg)
        elif arg.arg not in has_default:
            findings.append(
                _finding(
                    "steps.signature",
                    f"step {name!r} takes argument {arg.arg!r}, which Runink cannot give",
                    at,
                    did_you_mean(arg.arg, STEP_ARGUMENTS)
                    or "a step takes record (or records, with batch=True), params and ctx",
                )
            )
    wrong, right = ("records", "record") if not batch else ("record", "records")
    if wrong in taken:
        findings.append(
            _finding(
                "steps.signature",
                f"step {name!r} takes {wrong!r} but is "
                + ("a batch step" if batch else "a per-record step"),
                Position(path, node.lineno, node.col_offset + 1),
                f"take {right!r}" + ("" if batch else ", or declare @step(..., batch=True)"),
            )
        )
    elif right not in taken:
        findings.append(
            _finding(
                "steps.signature",
                f"step {name!r} does not take {right!r}",
                Position(path, node.lineno, node.col_offset + 1),
                f"add a {right!r} argument: the step is given "
                + ("each batch" if batch else "each record"),
            )
        )
    return tuple(taken)


def _check_names(steps: list[DiscoveredStep], findings: list[Finding]) -> Discovery:
    kept: list[DiscoveredStep] = []
    seen: dict[str, DiscoveredStep] = {}
    for found in steps:
        if found.name in BUILTIN_STEPS:
            findings.append(
                _finding(
                    "steps.builtin-name",
                    f"user step {found.name!r} takes the name of a built-in step",
                    found.position,
                    "choose another name; built-ins: " + ", ".join(BUILTIN_STEPS),
                )
            )
            continue
        first = seen.get(found.name)
        if first is not None:
            findings.append(
                _finding(
                    "steps.duplicate",
                    f"step {found.name!r} is declared twice "
                    f"(first at {first.module}:{first.position.line})",
                    found.position,
                    "give each step its own name",
                )
            )
            continue
        seen[found.name] = found
        kept.append(found)
    return Discovery(steps=tuple(kept), findings=tuple(findings))


def discover_all(modules: Iterable[tuple[str, str]]) -> Discovery:
    """The user steps of several modules ``(path, text)``; names must be unique across them."""
    steps: list[DiscoveredStep] = []
    findings: list[Finding] = []
    for path, text in sorted(modules):
        found = discover_steps(text, path)
        steps.extend(found.steps)
        findings.extend(found.findings)
    return _check_names(steps, findings)
