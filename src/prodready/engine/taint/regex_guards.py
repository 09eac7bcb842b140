"""Allow-list regular expressions as guards: a condition that matches a value against an
anchored pattern fixing how it starts (a site-local path, a relative word, a scheme and host)
vouches for the value where the condition holds. Split from ``sanitizers`` (the guard search
that asks)."""

from __future__ import annotations

import ast
import re

from prodready.engine.python import ModuleMemo, PythonContext

_REGEX_MATCHERS = frozenset({"match", "fullmatch", "search"})
_URL_LITERAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#@\s]+[/?#]")


def pattern_matched(
    test: ast.AST, ctx: PythonContext, *, url_host: bool, safe_redirect: bool
) -> list[ast.AST]:
    """Names a condition matches against an anchored allow-list pattern: ``if
    ALLOWED_NEXT.match(target):``, ``re.fullmatch(r"/account/[a-z]+", url)`` -- the pattern
    fixes how the value starts (a path for a redirect; a scheme and host for a URL), so the
    value is one of the forms it allows. ``search`` counts only with ``^``/``\\A``."""
    found: list[ast.AST] = []
    for call in ast.walk(test):
        if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Attribute):
            continue
        method = call.func.attr
        if method not in _REGEX_MATCHERS:
            continue
        receiver = call.func.value
        pattern: ast.expr | None = None
        subject: ast.expr | None = None
        if ctx.qualname(receiver) == "re" and len(call.args) > 1:
            pattern, subject = call.args[0], call.args[1]
        elif ctx.qualname(receiver) != "re" and call.args:
            pattern, subject = _compiled_pattern(receiver, ctx), call.args[0]
        text = _pattern_text(pattern, ctx)
        if text is None or not isinstance(subject, ast.Name):
            continue
        anchored = text.startswith(("^", "\\A"))
        if method == "search" and not anchored:
            continue
        text = text[2:] if text.startswith("\\A") else text.lstrip("^")
        if _allows_only(text, url_host=url_host, safe_redirect=safe_redirect) or (
            safe_redirect
            and (anchored or method != "search")
            and _relative_words(text, whole=method == "fullmatch")
        ):
            found.append(subject)
    return found


# What a relative reference made of words may contain: letters, digits, '-', '_', '.'.
_WORD_ESCAPES = frozenset({"\\w", "\\d", "\\.", "\\-", "\\_"})
_GROUP_OPENING = re.compile(r"\(\?:|\(\?P<\w+>|\(")
_REPEAT = re.compile(r"[+*?]|\{\d*,?\d*\}")


def _relative_words(text: str, whole: bool) -> bool:
    """A pattern that admits, from start to end, only word characters, '-' and '.' (``[a-z0-9-]+$``,
    ``(?:overview|billing)``): what it matches has no scheme, no '//' and no backslash -- a
    relative reference that stays on this site. ``whole``: matched with ``fullmatch``;
    otherwise the pattern must end with ``$`` or ``\\Z`` (an open end admits anything after)."""
    if text.endswith("\\Z"):
        text = text[:-2]
    elif text.endswith("$") and not text.endswith("\\$"):
        text = text[:-1]
    elif not whole:
        return False
    index = 0
    while index < len(text):
        rest = text[index:]
        opening = _GROUP_OPENING.match(rest)
        repeat = _REPEAT.match(rest)
        if rest[0].isalnum() or rest[0] in "-_|)":
            index += 1
        elif opening is not None:
            index += opening.end()
        elif repeat is not None:
            index += repeat.end()
        elif rest[:2] in _WORD_ESCAPES:
            index += 2
        elif rest[0] == "[" and not rest.startswith("[^") and "]" in rest[2:]:
            end = rest.index("]", 2)
            if not _word_class(rest[1:end]):
                return False
            index += end + 1
        else:
            return False
    return bool(text)


def _word_class(members: str) -> bool:
    index = 0
    while index < len(members):
        if members[index].isalnum() or members[index] in "-_.":
            index += 1
        elif members[index : index + 2] in _WORD_ESCAPES:
            index += 2
        else:
            return False
    return True


def _compiled_pattern(receiver: ast.expr, ctx: PythonContext) -> ast.expr | None:
    """The pattern of ``re.compile(PATTERN)`` bound to the name ``receiver`` (locally or at
    module level)."""
    if not isinstance(receiver, ast.Name):
        return None
    value = ctx.value_of(receiver.id) or ctx.memo(_COMPILED).get(receiver.id)
    if isinstance(value, ast.Call) and ctx.qualname(value.func) == "re.compile" and value.args:
        return value.args[0]
    return None


def _module_compiled(ctx: PythonContext) -> dict[str, ast.expr]:
    return {
        target.id: node.value
        for node in ctx.tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


_COMPILED: ModuleMemo[dict[str, ast.expr]] = ModuleMemo("taint:compiled", _module_compiled)


def _pattern_text(pattern: ast.expr | None, ctx: PythonContext) -> str | None:
    if isinstance(pattern, ast.Name):
        pattern = ctx.value_of(pattern.id)
    if isinstance(pattern, ast.Constant) and isinstance(pattern.value, str):
        return pattern.value
    return None


def _allows_only(text: str, *, url_host: bool, safe_redirect: bool) -> bool:
    """A redirect pattern that starts with a literal character (``/``, a scheme): not any
    text; a URL pattern that fixes the scheme and host (dots escaped or not)."""
    if url_host and _URL_LITERAL.match(text.replace("\\.", ".")):
        return True
    if not safe_redirect or not text:
        return False
    if text.startswith("/"):
        return _no_second_slash(text[1:])
    return _URL_LITERAL.match(text.replace("\\.", ".")) is not None


def _no_second_slash(rest: str) -> bool:
    """What follows the leading ``/`` cannot be another slash (``//host`` leaves the site):
    a literal word character, ``\\w``/``\\d``, a character class without slashes, or the end."""
    if not rest or rest[0] == "$" or rest[0].isalnum() or rest[0] in "_-":
        return True
    if rest.startswith(("\\w", "\\d")):
        return True
    if rest.startswith("("):
        alternatives = _group_alternatives(rest)
        return bool(alternatives) and all(_no_second_slash(item) for item in alternatives)
    if rest.startswith("[") and not rest.startswith("[^"):
        members = rest[1 : rest.find("]", 2)] if "]" in rest[2:] else ""
        return (
            bool(members) and "/" not in members and "\\\\" not in members and "\\S" not in members
        )
    return False


def _group_alternatives(text: str) -> list[str]:
    """The alternatives of the group ``text`` starts with (``(?:account|orders)/x``:
    ``["account", "orders"]``), empty when it does not close."""
    depth = 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            inner = re.sub(r"^\?(?::|P<\w+>)", "", text[1:index])
            return [] if inner.startswith("?") else inner.split("|")
    return []
