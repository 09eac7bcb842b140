"""One finding per flow: a tainted value that reaches several sinks of one function.

``shutil.rmtree(target)``, ``shutil.copytree(stub, target)`` and ``open(target / "x")`` in one
function, all built from the same parameter, are one defect -- the value is unchecked -- that a
reviewer would otherwise read once per sink. As Semgrep and CodeQL group a flow's sinks, a taint
rule reports it once, at the first sink, and the message names the lines of the further sinks
the same value reaches in that function.

The grouping key is the function the sinks are in, the source as the rule was told it (the
parameter, attribute or request read, with the chain of callers a deferred sink was reached
through), and what decides the finding's fate later: its severity and confidence, and the
project facts that would make it moot. A different source, another function, or a finding
another module's facts could drop on its own stays a finding of its own.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from prodready.engine.location import RawFinding
from prodready.engine.python import ModuleMemo, PythonContext
from prodready.engine.taint.propagation import Report, Source

Home = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda


@dataclass(slots=True)
class _Flow:
    raw: RawFinding
    home: Home
    source: Source


_TAIL = 8  # the last findings before a report, to find those it appended

# id(raw finding) -> the flow it reports, for the module's taint findings
_FLOWS: ModuleMemo[dict[int, _Flow]] = ModuleMemo("taint:flows", lambda _: {})


class Grouping:
    """A rule's ``report`` that remembers the findings it makes as flows of the function the
    sink is in (the function running when it was made), for :func:`group_flows`. ``origin``:
    which read of external data the source is (``request.form["name"]``), when the source's
    description does not say (``request data `request.form```)."""

    __slots__ = ("ctx", "home", "origin", "report")

    def __init__(self, ctx: PythonContext, report: Report) -> None:
        self.ctx = ctx
        self.report = report
        self.home: Home | None = ctx.function.node if ctx.function is not None else None
        self.origin = ""

    def __call__(self, source: Source) -> None:
        ctx = self.ctx
        findings = ctx.findings
        # The findings the report adds are appended after the last one that was there before
        # (a report may withdraw an earlier one: then a few of the last are looked for). No
        # copy of the list per sink: a module may hold thousands of findings and sinks.
        tail = findings[-_TAIL:]
        self.report(source)
        if self.home is None:
            return  # a module-level sink: nothing to group it under
        findings = ctx.findings
        known = {id(raw) for raw in tail}
        start: int | None = 0 if not tail else None
        for index in range(len(findings) - 1, -1, -1):
            if id(findings[index]) in known:
                start = index + 1
                break
        fresh = findings[start:] if start is not None else []  # not told: left ungrouped
        flows = ctx.memo(_FLOWS)
        for raw in fresh:
            flows[id(raw)] = _Flow(raw, self.home, f"{source} {self.origin}")


def group_flows(ctx: PythonContext) -> None:
    """Keep one finding of the running rule per flow -- the first sink of each function a
    source reaches -- and name the lines of the others in its message."""
    flows = ctx.memo(_FLOWS)
    if ctx.rule is None or not flows:
        return
    code = ctx.rule.code
    groups: dict[tuple[object, ...], list[RawFinding]] = {}
    for raw in ctx.findings:
        flow = flows.get(id(raw))
        if flow is None or flow.raw is not raw or raw.rule.code != code:
            continue
        key = (id(flow.home), flow.source, raw.severity, raw.confidence, raw.unless)
        groups.setdefault(key, []).append(raw)
    dropped: set[int] = set()
    for members in groups.values():
        if len(members) < 2:
            continue
        members.sort(key=lambda raw: (raw.location.line, raw.location.column))
        first, further = members[0], members[1:]
        lines = sorted({raw.location.line for raw in further} - {first.location.line})
        if lines:
            home = flows[id(first)].home
            where = f"`{home.name}()`" if not isinstance(home, ast.Lambda) else "this function"
            plural = "s" if len(lines) > 1 else ""
            listed = ", ".join(str(line) for line in lines)
            base = first.message.rstrip()
            base = base if base.endswith(".") else f"{base}."
            first.message = (
                f"{base} The same value reaches {len(lines)} more sink{plural} in {where}: "
                f"line{plural} {listed}."
            )
        dropped.update(id(raw) for raw in further)
    for raw in ctx.findings:
        if id(raw) in flows and flows[id(raw)].raw.rule.code == code:
            del flows[id(raw)]
    if dropped:
        ctx.findings[:] = [raw for raw in ctx.findings if id(raw) not in dropped]
