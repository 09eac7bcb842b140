"""Guards and sanitisers through project functions, across modules, as project facts.

A module states what each of its top-level functions does to its parameters (computed during
its one walk by :mod:`prodready.engine.taint.project_facts` and cached with its result):

- ``taint:clean:<kind>:<function>:<i>`` -- parameter ``i`` reaches the return value only
  sanitised for sinks of ``kind`` (``def to_page(v): return int(v)``; ``def clean_next(url):
  return url if url_has_allowed_host_and_scheme(url, ...) else "/"``);
- ``taint:guards:<kind>:<function>:<i>`` -- the function applies the check ``kind`` names to
  parameter ``i``: it raises or returns early unless it holds, or returns its verdict
  (``def is_safe(url): return url_has_allowed_host_and_scheme(url, ...)``);
- ``<fact> <= <fact>`` -- the first holds when the second does: a function that hands its
  parameter to another project function (``def check(url): return util.is_safe(url)``); kind
  ``*`` stands for each kind alike;
- ``taint:alias:<name>=<target>`` -- a package ``__init__`` re-exports ``target`` as ``name``;
- ``taint:reach:<kind>:<function>:<i>`` -- a handler of the module passes request data, not
  sanitised for sinks of ``kind``, as parameter ``i`` (a position or a keyword's name) of an
  imported project function. A finding at a sink inside that function names the
  ``taint:unreached:...`` facts of the parameters that reach it: the project pass keeps it
  only when one of the matching ``reach`` facts holds (:func:`reached`).

A finding of a taint rule whose flow passes through (or is checked by) an imported project
function names the facts that would clean it (``ctx.report(..., unless=...)``); the project
pass (:func:`prodready.engine.moot.held_facts`) closes the facts a project's service modules
hold under the implications and aliases (:func:`derive`) and drops the finding when one holds.
So the analysis stays one parse per file, and a warm rescan after an edit of the helper's
module re-analyses that module alone: its new facts decide the callers' findings again.

Kept free of imports beyond the standard library: :mod:`prodready.engine.moot` imports it.
"""

from __future__ import annotations

from collections.abc import Iterable

CLEAN = "taint:clean"
GUARDS = "taint:guards"
ALIAS = "taint:alias:"
REACH = "taint:reach"
UNREACHED = "taint:unreached"
IMPLIES = " <= "

# Sink kinds a function's summary is stated for, with the sanitiser names each assumes (the
# engine's own vocabulary; a sink whose sanitisers include a kind's uses its facts). A
# parameter clean for sinks of kind "value" (conversions to numbers, lookups, allow-lists) is
# clean for every sink.
VALUE_KIND = "value"
SAFE_REDIRECT_KIND = "safe-redirect"
URL_HOST_KIND = "url-host"
PATH_KIND = "path-containment"
KIND_SANITIZERS: dict[str, frozenset[str]] = {
    VALUE_KIND: frozenset(),
    SAFE_REDIRECT_KIND: frozenset({"check:safe-redirect"}),
    URL_HOST_KIND: frozenset({"check:url-host"}),
    PATH_KIND: frozenset({"check:path-containment"}),
    "html": frozenset(
        {"html.escape", "markupsafe.escape", "django.utils.html.escape", "escape"}
        | {"conditional_escape", "django.utils.html.conditional_escape"}
    ),
    "shell": frozenset({"shlex.quote", "shlex.join", "pipes.quote"}),
    "sql": frozenset(
        {"psycopg.sql.Identifier", "psycopg2.sql.Identifier", "psycopg2.extensions.quote_ident"}
    ),
}
GUARD_KINDS = (SAFE_REDIRECT_KIND, URL_HOST_KIND, PATH_KIND)
# In an implication: the same for every kind (``clean:*:f:0 <= clean:*:g:0``).
EVERY_KIND = "*"
# How many rounds of implications the derivation takes at most (one per helper level).
MAX_ROUNDS = 16


def kinds_for(sanitizers: frozenset[str]) -> tuple[str, ...]:
    """The kinds whose facts clean a flow into a sink with these sanitisers."""
    return tuple(kind for kind, needed in KIND_SANITIZERS.items() if needed <= sanitizers)


def clean_fact(kind: str, function: str, position: int | str) -> str:
    return f"{CLEAN}:{kind}:{function}:{position}"


def dependency_fact(kind: str, alias: str) -> str:
    """``alias`` (``Annotated[User, Depends(current_user)]`` bound to a module-level name) is
    a dependency: a handler parameter annotated with it is what the dependency returns, not a
    value the client sent. Stated as a "clean" fact so re-exports and import prefixes apply."""
    return f"{CLEAN}:{kind}:{alias}:{DEPENDENCY_POSITION}"


DEPENDENCY_POSITION = "dependency"
# Facts that must all hold (one ``unless`` entry): a flow that crosses several project
# functions or dependencies is clean only when each of them cleans it.
ALL_OF = " && "


def holds_any(unless: Iterable[str], held: set[str]) -> bool:
    """One of the ``unless`` facts holds (each of its parts, for a conjunction)."""
    return any(all(part in held for part in fact.split(ALL_OF)) for fact in unless)


def guard_fact(kind: str, function: str, position: int) -> str:
    return f"{GUARDS}:{kind}:{function}:{position}"


def reach_fact(kind: str, function: str, parameter: int | str) -> str:
    return f"{REACH}:{kind}:{function}:{parameter}"


def unreached_fact(kind: str, function: str, parameter: int | str) -> str:
    return f"{UNREACHED}:{kind}:{function}:{parameter}"


def reached(unless: Iterable[str], held: set[str]) -> bool | None:
    """None when ``unless`` names no ``unreached`` fact (a finding that needs no caller of
    another module); otherwise whether the ``reach`` fact of one of them holds."""
    needed = [fact for fact in unless if fact.startswith(UNREACHED + ":")]
    if not needed:
        return None
    return any(REACH + fact[len(UNREACHED) :] in held for fact in needed)


def implication(conclusion: str, premise: str) -> str:
    return f"{conclusion}{IMPLIES}{premise}"


def alias_fact(name: str, target: str) -> str:
    return f"{ALIAS}{name}={target}"


def _split(fact: str) -> tuple[str, str, str, str] | None:
    """``(family, kind, function, position)`` of a clean/guard fact, None for another fact."""
    for family in (CLEAN, GUARDS, REACH):
        if fact.startswith(family + ":"):
            kind, _, rest = fact[len(family) + 1 :].partition(":")
            function, _, position = rest.rpartition(":")
            if kind and function and position:
                return family, kind, function, position
    return None


def import_prefixes(project: str) -> tuple[str, ...]:
    """The prefixes of module names (named from the scan root) that imports inside a project
    in directory ``project`` leave out: ``backend/app/util.py`` is ``backend.app.util`` to the
    scan and ``app.util`` to ``backend/app/views.py`` (and ``backend/src/app/util.py`` too)."""
    if not project or project.startswith(".."):
        return ()
    base = project.replace("/", ".") + "."
    return (base + "src.", base)


def derive(facts: Iterable[str], prefixes: tuple[str, ...] = ()) -> set[str]:
    """The facts that hold given ``facts``: closed under the implications, the aliases and
    "clean for every sink" (a value clean of kind ``value`` is clean of every kind).
    ``prefixes``: see :func:`import_prefixes` -- a function is one under either name."""
    given = set(facts)

    def unprefixed(name: str) -> str:
        for prefix in prefixes:
            if name.startswith(prefix):
                return name[len(prefix) :]
        return name

    aliases: dict[str, str] = {}
    rules: list[tuple[str, str]] = []
    held: set[str] = set()
    for fact in given:
        if fact.startswith(ALIAS):
            name, _, target = fact[len(ALIAS) :].partition("=")
            name, target = unprefixed(name), unprefixed(target)
            if name and target and name != target:
                aliases[name] = target
        elif IMPLIES in fact:
            conclusion, _, premise = fact.partition(IMPLIES)
            if f":{EVERY_KIND}:" in conclusion:
                rules.extend(
                    (conclusion.replace(EVERY_KIND, kind, 1), premise.replace(EVERY_KIND, kind, 1))
                    for kind in KIND_SANITIZERS
                )
            else:
                rules.append((conclusion, premise))
        elif _split(fact) is not None:
            held.add(fact)
    if not held:
        return given

    def target_of(function: str) -> str:
        function = unprefixed(function)
        for _ in range(MAX_ROUNDS):  # a re-export of a re-export; a cycle ends here
            target = aliases.get(function)
            if target is None:
                break
            function = target
        return function

    def canonical(fact: str) -> str:
        parts = _split(fact)
        if parts is None:
            return fact
        family, kind, function, position = parts
        return f"{family}:{kind}:{target_of(function)}:{position}"

    def holds(fact: str) -> bool:
        if fact in known:
            return True
        parts = _split(fact)
        return parts is not None and parts[0] == CLEAN and _with_kind(parts, VALUE_KIND) in known

    known = {canonical(fact) for fact in held}
    pending = [(canonical(conclusion), canonical(premise)) for conclusion, premise in rules]
    for _ in range(MAX_ROUNDS):
        fired = [conclusion for conclusion, premise in pending if holds(premise)]
        new = [conclusion for conclusion in fired if conclusion not in known]
        if not new:
            break
        known.update(new)
    # Each fact under every name it is imported by (the finding names the function as its
    # module imports it).
    names_of: dict[str, list[str]] = {}
    for name in aliases:
        names_of.setdefault(target_of(name), []).append(name)
    result = given | known
    below_root = _below_source_root(known)
    for fact in known:
        parts = _split(fact)
        if parts is not None:
            for name in [parts[2], *names_of.get(parts[2], ())]:
                for prefix in ("", *prefixes):
                    result.add(f"{parts[0]}:{parts[1]}:{prefix}{name}:{parts[3]}")
            short = below_root.get(parts[2])
            if short is not None:
                result.add(f"{parts[0]}:{parts[1]}:{short}:{parts[3]}")
    if any(fact.startswith(CLEAN + ":" + VALUE_KIND + ":") for fact in result):
        for fact in list(result):
            parts = _split(fact)
            if parts is not None and parts[0] == CLEAN and parts[1] == VALUE_KIND:
                result.update(_with_kind(parts, kind) for kind in KIND_SANITIZERS)
    return result


def _below_source_root(facts: Iterable[str]) -> dict[str, str]:
    """Function name -> the name it is imported by when the sources sit below a directory that
    is not a package (``site/manage.py`` beside ``site/common/views.py``: Django puts
    ``site/`` on ``sys.path``, so ``common.views.f`` names ``site.common.views.f``) -- its name
    less the first part, when no other function's name gives the same and no function is
    named so itself (as :meth:`.model.SemanticModel.module_of` resolves such imports)."""
    names = {parts[2] for parts in map(_split, facts) if parts is not None and parts[0] != REACH}
    shortened: dict[str, str | None] = {}
    for name in names:
        _, _, rest = name.partition(".")
        if rest.count(".") >= 1 and rest not in names:
            shortened[rest] = None if rest in shortened else name
    return {name: short for short, name in shortened.items() if name is not None}


def _with_kind(parts: tuple[str, str, str, str], kind: str) -> str:
    return f"{parts[0]}:{kind}:{parts[2]}:{parts[3]}"
