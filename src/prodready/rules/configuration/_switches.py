"""Configuration: the switches around a localhost address (CFG001).

A settings module may turn a dependency off with a hard-coded flag (``REDIS_ENABLED = False``
beside the Redis queue settings): nothing connects to that address in this build. Code run
only when a production flag is off (``if not settings.PRODUCTION:``) is development code.
"""

from __future__ import annotations

import ast
import re

from prodready.plugin import ModuleMemo, PythonContext
from prodready.plugin.analysis import dotted, is_false

# The dependency a well-known port or a URL scheme belongs to, and the words naming it.
_PORTS = {
    6379: "redis",
    5432: "postgres",
    3306: "mysql",
    27017: "mongo",
    5672: "rabbitmq",
    9092: "kafka",
    11211: "memcached",
    9200: "elasticsearch",
}
_SCHEMES = {
    "redis": "redis",
    "rediss": "redis",
    "postgres": "postgres",
    "postgresql": "postgres",
    "mysql": "mysql",
    "mongodb": "mongo",
    "amqp": "rabbitmq",
    "kafka": "kafka",
}
_NAMES = {
    "redis": frozenset({"redis", "rq"}),
    "postgres": frozenset({"postgres", "postgresql", "pg"}),
    "mysql": frozenset({"mysql", "mariadb"}),
    "mongo": frozenset({"mongo", "mongodb"}),
    "rabbitmq": frozenset({"rabbitmq", "rabbit", "amqp"}),
    "kafka": frozenset({"kafka"}),
    "memcached": frozenset({"memcached", "memcache"}),
    "elasticsearch": frozenset({"elasticsearch", "elastic"}),
}
_SWITCH_WORDS = frozenset({"enabled", "enable", "use"})
_PORT_KEYS = frozenset({"PORT", "port"})
_PRODUCTION = re.compile(r"(^|[._])(is_)?prod(uction)?$", re.IGNORECASE)


def _words(name: str) -> set[str]:
    return {word for word in re.split(r"[_.]", name.lower()) if word}


def _module_switches(ctx: PythonContext) -> dict[str, set[str]]:
    """Flags the module sets to ``False`` and never to anything else: name -> its words."""
    values: dict[str, bool] = {}
    for node in ast.walk(ctx.tree):
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            if isinstance(target, ast.Name) and _SWITCH_WORDS & _words(target.id):
                off = is_false(node.value)
                values[target.id] = values.get(target.id, True) and off
    return {name: _words(name) for name, off in values.items() if off}


_SWITCHES: ModuleMemo[dict[str, set[str]]] = ModuleMemo("CFG001:switches", _module_switches)


def switched_off(node: ast.Constant, parents: dict[int, ast.AST], ctx: PythonContext) -> str | None:
    """``NAME = False`` when the module switches off the dependency the localhost literal
    ``node`` is the address of (known from its URL scheme, the well-known port beside it, or
    the name it is assigned to); None otherwise."""
    switches = ctx.memo(_SWITCHES)
    if not switches:
        return None
    dependencies = _dependencies_of(node, parents)
    for name, words in switches.items():
        if any(words & _NAMES[dependency] for dependency in dependencies):
            return f"{name} = False"
    return None


def _dependencies_of(node: ast.Constant, parents: dict[int, ast.AST]) -> set[str]:
    found: set[str] = set()
    scheme = str(node.value).partition("://")[0].lower() if "://" in str(node.value) else ""
    if scheme in _SCHEMES:
        found.add(_SCHEMES[scheme])
    child: ast.AST = node
    parent = parents.get(id(node))
    while parent is not None and not isinstance(parent, ast.stmt):
        if isinstance(parent, ast.Dict) and child in parent.values:
            for key, value in zip(parent.keys, parent.values, strict=True):
                port = value.value if isinstance(value, ast.Constant) else None
                named_port = isinstance(key, ast.Constant) and key.value in _PORT_KEYS
                if named_port and isinstance(port, int) and port in _PORTS:
                    found.add(_PORTS[port])
        child, parent = parent, parents.get(id(parent))
    if isinstance(parent, ast.Assign):
        for target in parent.targets:
            words = _words(dotted(target) or "")
            found.update(dep for dep, names in _NAMES.items() if words & names)
    return found


def outside_production(branch: ast.If, child: ast.AST) -> bool:
    """``child`` runs only when a production flag is off: in the body of ``if not
    settings.PRODUCTION:`` or in the ``else`` of ``if settings.PRODUCTION:``."""
    test = branch.test
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return child in branch.body and bool(_PRODUCTION.search(dotted(test.operand) or ""))
    return child in branch.orelse and bool(_PRODUCTION.search(dotted(test) or ""))
