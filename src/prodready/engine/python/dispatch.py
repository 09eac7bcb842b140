"""The dispatch tables of a rule set: which rules see which node, callee name and attribute."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, cast

from prodready.engine.checks import Check
from prodready.engine.module_record import as_mark
from prodready.engine.python.module_context import PythonContext
from prodready.engine.python.nodes import CHILD_FIELDS, WALK_HANDLED, with_subclasses
from prodready.engine.python.walker import ModuleWalk
from prodready.model import FileKind, Profile, Rule

Dispatch = dict[Any, list[Rule]]


class PythonAnalyzer:
    """Dispatch tables for a rule set, and the walk that applies them to one module."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.node_rules: Dispatch = {}
        self.exact_calls: dict[str, list[Rule]] = {}
        self.prefix_calls: dict[str, list[Rule]] = {}
        self.method_calls: dict[str, list[Rule]] = {}
        self.attribute_rules: dict[str, list[tuple[str, Rule]]] = {}
        self.evidence_codes: frozenset[str] = frozenset()
        # Imported here: the collector uses the shared analyses, which import this package.
        from prodready.engine.semantic.collect import SummaryCollector

        self.summary_collector = SummaryCollector
        rules = [_collector(rule) if rule.kind is FileKind.PROJECT else rule for rule in rules]
        for rule in rules:
            for node_type in rule.nodes:
                for concrete in with_subclasses(node_type):
                    self.node_rules.setdefault(concrete, []).append(rule)
            for pattern in rule.calls:
                if pattern.startswith("*."):
                    self.method_calls.setdefault(pattern[2:], []).append(rule)
                elif pattern.endswith(".*"):
                    self.prefix_calls.setdefault(pattern[:-2], []).append(rule)
                else:
                    self.exact_calls.setdefault(pattern, []).append(rule)
            for attribute in rule.attributes:
                last = attribute.rsplit(".", 1)[-1]
                self.attribute_rules.setdefault(last, []).append((attribute, rule))
        self.evidence_codes = frozenset(r.code for r in rules if r.kind is FileKind.PROJECT)
        # How many leading parts of a call's name can match a prefix: a long method chain
        # (``a.b().c()...``) has thousands of parts, no prefix more than a few.
        self.prefix_depth = max((p.count(".") + 1 for p in self.prefix_calls), default=0)
        # Node classes with no children, no handler and no subscriber: the walk skips them.
        special = {*WALK_HANDLED, *([ast.Attribute] if self.attribute_rules else [])}
        self.leaves = frozenset(
            cls
            for cls, fields in CHILD_FIELDS.items()
            if not fields and cls not in special and cls not in self.node_rules
        )

    def analyze(
        self, source: str, tree: ast.Module, relpath: str, profile: Profile
    ) -> PythonContext:
        ctx = PythonContext(relpath, source, tree, profile)
        ModuleWalk(self, ctx).run()
        return ctx


def _collector(rule: Rule) -> Rule:
    """A project rule as the walk sees it: its ``collect`` records evidence for ``nodes``."""
    collect = rule.collect
    if collect is None:
        return rule
    code = rule.code

    def record(node: ast.AST, ctx: PythonContext) -> None:
        found = collect(node, ctx)
        if found:
            evidence = ctx.facts.evidence.setdefault(code, [])
            evidence.extend(as_mark(item) for item in found)

    return replace(rule, check=cast(Check, record))  # the walk calls it as a Python check
