"""Python files written for a newer interpreter than the one running prodready.

``ast.parse`` accepts only the running interpreter's grammar, so on Python 3.11 a file using
3.12-3.14 syntax raises ``SyntaxError``. Only then (the fast path is one ``ast.parse``) the
file is parsed again here:

* constructs whose tree the running ``ast`` can express are rewritten in place and analysed:
  PEP 758 exception lists without parentheses (``except A, B:``, 3.14; the same tree as
  ``except (A, B):``), PEP 695/696 type parameters of a ``def``/``class`` (3.12/3.13; the
  running ``ast`` has no field for them: the node gets ``type_params`` as names, as a marker)
  and ``type X = ...`` aliases (3.12; lowered to ``X = ...``: no ``ast.TypeAlias`` here).
  Every rewrite keeps each line's length in UTF-8 bytes, which is what ``col_offset``
  counts, so every node keeps its exact line and column; the pieces a placeholder stands for
  are parsed at their own position and put back in the tree.
* PEP 701 f-strings (3.12) that have a 3.11 spelling of the same length are respelled and
  analysed: a nested string reusing its enclosing quote takes the other quote (same value),
  a comment inside a triple-quoted one becomes blanks. The f-string's own parts then carry
  3.11's positions (as every f-string does on 3.11); the expressions inside keep 3.12's.
* the rest is reported exactly (:class:`NewerSyntaxError`: which construct, the Python
  version it needs, its line and column): a backslash or a line break in an f-string's
  replacement field, a quote that cannot be respelled (three levels of one quote, or
  ``f"{x["k"]=}"``, whose text is shown), and PEP 750 t-strings (3.14). A real syntax error
  keeps the parser's own message.

The alternative, a parser for the newest grammar (LibCST's native parser, tree-sitter,
parso), was measured and rejected: see ``tests/engine/test_newer_syntax.py``'s module note.
"""

from __future__ import annotations

import ast
import bisect
import functools
import re
import sys
from typing import NamedTuple

from prodready.engine.documents.errors import DocumentError

# Patterns are compiled on first use (by _re): a file that parses never needs them.
_NAME = r"[^\W\d]\w*"
_GENERIC_HEAD = rf"^\s*(?:async\s+def|def|class)\s+({_NAME})\s*$"
_GENERIC_SITE = rf"(?m)^[ \t]*(?:async[ \t]+def|def|class)[ \t]+({_NAME})[ \t]*(?=\[)"
_EXCEPT_SITE = r"(?m)^[ \t]*except[ \t]*\*?[ \t]*(?=[^\s:(])([^\r\n:#'\"]*,[^\r\n:#'\"]*?)[ \t]*:"
_ALIAS_HEAD = r"^(\s*)type\s+$"
_ALIAS_NAME = rf"({_NAME})\s*"
_NEWLINE = r"\r\n|\r|\n"
_MAX_REWRITES = 10_000
_WORD = r"\w+"
_PREFIXES = frozenset(("", "r", "b", "br", "rb", "u", "f", "rf", "fr", "t", "rt", "tr"))


class NewerSyntaxError(DocumentError):
    """A file that needs a newer Python to parse than the one running prodready."""

    def __init__(self, construct: str, minor: int, line: int, column: int) -> None:
        running = f"{sys.version_info.major}.{sys.version_info.minor}"
        super().__init__(
            f"needs Python >= 3.{minor}: {construct} at line {line}, column {column}"
            f" cannot be parsed by Python {running}; run prodready on Python >= 3.{minor}"
            " to analyse it"
        )
        self.line = line


@functools.cache
def _re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def parse_source(text: str, filename: str) -> ast.Module:
    """``ast.parse``, and on a ``SyntaxError`` the newer-syntax fallback. Raises
    ``SyntaxError`` for a real syntax error, :class:`NewerSyntaxError` for a construct the
    running interpreter cannot express."""
    try:
        return ast.parse(text, filename=filename)
    except SyntaxError as error:
        try:
            return _parse_newer(text, filename, error)
        except (SyntaxError, NewerSyntaxError):
            raise
        except Exception:  # noqa: BLE001 - a fallback's slip must not hide the file's own error
            raise error from None


class _Fixup(NamedTuple):
    """A placeholder ``_`` left in the rewritten text, and what the tree gets in its place."""

    kind: str  # "except", "alias" or "generic"
    line: int
    column: int  # UTF-8 byte offset, as ``col_offset``
    payload: ast.AST | list[ast.expr] | None = None
    name: str = ""


class _Source:
    """The text being rewritten, addressed by (1-based line, character column)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._starts: list[int] | None = None

    def invalidate(self) -> None:
        self._starts = None

    def _line_starts(self) -> list[int]:
        if self._starts is None:
            self._starts = [0] + [match.end() for match in _re(_NEWLINE).finditer(self.text)]
        return self._starts

    def offset(self, line: int, column: int) -> int:
        return self._line_starts()[line - 1] + column

    def position(self, offset: int) -> tuple[int, int]:
        """(line, UTF-8 byte column) of a character offset."""
        starts = self._line_starts()
        line = bisect.bisect_right(starts, offset)
        return line, len(self.text[starts[line - 1] : offset].encode("utf-8"))

    def blank(self, start: int, end: int, lead: str = "") -> bool:
        """Replace ``text[start:end]`` by ``lead`` and spaces of the same UTF-8 length per
        line; a line break inside stays, after a backslash that joins the lines. False (and
        no change) when a line inside is empty, so nothing can carry the backslash."""
        pieces = _re(_NEWLINE).split(self.text[start:end])
        breaks = _re(_NEWLINE).findall(self.text[start:end])
        out = []
        for index, piece in enumerate(pieces):
            size = len(piece.encode("utf-8"))
            prefix = lead if index == 0 else ""
            if index < len(pieces) - 1:
                if size < len(prefix) + 1:
                    return False
                out.append(prefix + " " * (size - len(prefix) - 1) + "\\" + breaks[index])
            else:
                if size < len(prefix):
                    return False
                out.append(prefix + " " * (size - len(prefix)))
        replacement = "".join(out)
        if len(replacement) != end - start:  # blanks for wider characters: lines move
            self._starts = None
        self.text = self.text[:start] + replacement + self.text[end:]
        return True


class _Unverified(Exception):
    """A rewrite made ahead of the parser's errors did not land on a definition."""


def _parse_newer(text: str, filename: str, first: SyntaxError) -> ast.Module:
    # Every generic definition and exception list at once first: one parse per rewrite would
    # be quadratic in a module of generic functions (1 s for 139 in a 2,700-line module).
    ahead = _Source(text)
    fixups = _rewrite_ahead(ahead)
    if fixups:
        try:
            return _parse_rewriting(ahead, filename, fixups, None, text)
        except (SyntaxError, NewerSyntaxError, _Unverified):
            pass  # judged again one error at a time, as the parser reports them
    return _parse_rewriting(_Source(text), filename, [], first, text)


def _parse_rewriting(
    source: _Source,
    filename: str,
    fixups: list[_Fixup],
    error: SyntaxError | None,
    original: str,
) -> ast.Module:
    repaired = False
    for _ in range(_MAX_REWRITES):
        if error is not None:
            fixup = _rewrite(source, error)
            if fixup is not None:
                fixups.append(fixup)
            elif repaired or not _repair_strings(source):
                break
            else:
                repaired = True
        try:
            tree = ast.parse(source.text, filename=filename)
        except SyntaxError as again:
            error = again
            continue
        _apply(tree, fixups)
        return tree
    assert error is not None
    newer = _newer_string(original, error.lineno or 1)
    if newer is not None:
        raise newer
    raise error


def _rewrite_ahead(source: _Source) -> list[_Fixup]:
    """Blank the type parameters of every line that starts a generic ``def``/``class``, and
    the types of every one-line ``except A, B:``. A match inside a string is undone by
    :func:`_apply`, which finds no definition or handler there."""
    fixups = []
    sites = [(match.start(1), match) for match in _re(_EXCEPT_SITE).finditer(source.text)]
    sites += [(match.end(), match) for match in _re(_GENERIC_SITE).finditer(source.text)]
    for start, match in sorted(sites, key=lambda site: site[0], reverse=True):
        if match.re is _re(_EXCEPT_SITE):
            fixup = _rewrite_except_types(source, start, match.end(1))
        else:
            fixup = _rewrite_generic(source, start, match.group(1))
        if fixup is not None:
            fixups.append(fixup)
    return fixups


def _rewrite(source: _Source, error: SyntaxError) -> _Fixup | None:
    if error.lineno is None or error.offset is None:
        return None
    line, column = error.lineno, error.offset - 1
    if error.msg == "multiple exception types must be parenthesized":
        return _rewrite_except(source, error)
    start = source.offset(line, column)
    line_start = source.offset(line, 0)
    head = source.text[line_start:start]
    generic = _re(_GENERIC_HEAD).match(head)
    if source.text.startswith("[", start) and generic:
        return _rewrite_generic(source, start, generic.group(1))
    alias = _re(_ALIAS_HEAD).match(head)
    if alias:
        return _rewrite_alias(source, line_start + alias.end(1), start)
    return None


def _rewrite_except(source: _Source, error: SyntaxError) -> _Fixup | None:
    """``except A, B:`` (PEP 758), where the parser points at ``A, B``."""
    assert error.lineno is not None and error.offset is not None
    if error.end_lineno is None or error.end_offset is None:
        return None
    start = source.offset(error.lineno, error.offset - 1)
    return _rewrite_except_types(
        source, start, source.offset(error.end_lineno, error.end_offset - 1)
    )


def _rewrite_except_types(source: _Source, start: int, end: int) -> _Fixup | None:
    """The types ``text[start:end]`` become ``_`` and are parsed on their own as the tuple
    they are (an unparenthesised tuple spans its first to its last element)."""
    types = _parse_at(source, start, end)
    if not isinstance(types, ast.Tuple):  # `except A, B as e:` stays an error in 3.14
        return None
    line, column = source.position(start)
    if not source.blank(start, end, "_"):
        return None
    return _Fixup("except", line, column, types)


def _rewrite_generic(source: _Source, bracket: int, name: str) -> _Fixup | None:
    """``def f[T](...)`` / ``class C[T]:`` (PEP 695): the type parameters become blanks."""
    close = _closing_bracket(source.text, bracket)
    if close is None:
        return None
    names = _type_parameter_names(source, bracket + 1, close)
    line, _ = source.position(bracket)
    if not source.blank(bracket, close + 1):
        return None
    return _Fixup("generic", line, 0, names, name)


def _rewrite_alias(source: _Source, keyword: int, name_start: int) -> _Fixup | None:
    """``type X[T] = value`` (PEP 695): ``type X[T] =`` becomes ``_=``, ``X`` the target."""
    name = _re(_ALIAS_NAME).match(source.text, name_start)
    if name is None:
        return None
    cursor = name.end()
    if source.text.startswith("[", cursor):
        close = _closing_bracket(source.text, cursor)
        if close is None:
            return None
        cursor = close + 1
    equals = re.compile(r"[ \t\f]*=(?!=)[ \t\f]*").match(source.text, cursor)
    if equals is None:
        return None
    target = ast.Name(id=name.group(1), ctx=ast.Store())
    target.lineno, target.col_offset = source.position(name.start(1))
    target.end_lineno, target.end_col_offset = source.position(name.end(1))
    line, column = source.position(keyword)
    if not source.blank(keyword, equals.end(), "_="):
        return None
    return _Fixup("alias", line, column, target)


def _parse_at(source: _Source, start: int, end: int) -> ast.expr | None:
    """The expression ``text[start:end]`` parsed with its own lines and columns: the text
    before it is blanked to an ``_=`` of the same UTF-8 length."""
    line, column = source.position(start)
    if column < 2:
        return None
    piece = "\n" * (line - 1) + "_=" + " " * (column - 2) + source.text[start:end]
    try:
        tree = ast.parse(piece)
    except SyntaxError:
        return None
    statement = tree.body[0] if len(tree.body) == 1 else None
    if not isinstance(statement, ast.Assign):
        return None
    return statement.value


def _type_parameter_names(source: _Source, start: int, end: int) -> list[ast.expr]:
    """The names a type parameter list declares (``T``, ``*Ts``, ``**P``), positioned."""
    names: list[ast.expr] = []
    depth = 0
    expect_name = True
    for index in range(start, end):
        char = source.text[index]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            expect_name = True
        elif expect_name and depth == 0:
            name = re.compile(_NAME).match(source.text, index)
            if name is not None:
                node = ast.Name(id=name.group(0), ctx=ast.Store())
                node.lineno, node.col_offset = source.position(name.start())
                node.end_lineno, node.end_col_offset = source.position(name.end())
                names.append(node)
                expect_name = False
    return names


def _closing_bracket(text: str, opening: int) -> int | None:
    """The ``]`` matching ``text[opening]``, skipping strings and comments."""
    depth = 0
    index = opening
    while index < len(text):
        char = text[index]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                return index if char == "]" else None
        elif char == "#":
            newline = _re(_NEWLINE).search(text, index)
            index = newline.start() if newline else len(text)
            continue
        elif char in "'\"":
            quote = text[index : index + 3] if text.startswith(char * 3, index) else char
            index = _string_end(text, index + len(quote), quote)
            if index < 0:
                return None
            continue
        index += 1
    return None


def _string_end(text: str, index: int, quote: str) -> int:
    """The offset after the closing ``quote`` of a plain string; -1 if unterminated."""
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text.startswith(quote, index):
            return index + len(quote)
        if len(quote) == 1 and text[index] in "\r\n":
            return -1
        index += 1
    return -1


def _apply(tree: ast.Module, fixups: list[_Fixup]) -> None:
    """Put each placeholder's node in the tree; :class:`_Unverified` when one of them is not
    where a definition or handler is (it was made ahead, inside a string)."""
    by_place = {(f.line, f.column): f for f in fixups if f.kind != "generic"}
    generic = {(f.line, f.name): f for f in fixups if f.kind == "generic"}
    landed = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.ExceptHandler) and isinstance(node.type, ast.Name):
            fixup = by_place.get((node.type.lineno, node.type.col_offset))
            if fixup is not None and fixup.kind == "except":
                assert isinstance(fixup.payload, ast.expr)
                node.type = fixup.payload
                landed += 1
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            fixup = by_place.get((node.lineno, node.col_offset))
            if fixup is not None and fixup.kind == "alias":
                assert isinstance(fixup.payload, ast.Name)
                node.targets = [fixup.payload]
                landed += 1
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found = generic.get((node.lineno, node.name))
            if found is not None:
                # Not a field of this Python's nodes (nothing walks it): it marks, as on
                # 3.12+, that the definition declares type parameters (DEP014 reads it).
                node.type_params = found.payload  # type: ignore[union-attr]
                landed += 1
    if landed != len(fixups):
        raise _Unverified


# --- PEP 701 f-strings (repaired when a same-length 3.11 spelling exists) and t-strings --


_Edit = tuple[int, int, str]  # replace text[start:end] by a text of the same UTF-8 length


class _Found(NamedTuple):
    construct: str
    minor: int
    offset: int
    repair: list[_Edit] | None  # None: no 3.11 spelling


def _repair_strings(source: _Source) -> bool:
    """Respell every PEP 701 f-string that has a 3.11 spelling of the same length: a nested
    string that reuses its enclosing quote takes the other quote, a comment in a
    triple-quoted one becomes blanks. False when there was nothing to respell."""
    scanner = _StringScanner(source.text)
    scanner.scan_code(0, closing="")
    edits = sorted(
        (edit for found in scanner.found if found.repair for edit in found.repair), reverse=True
    )
    for start, end, replacement in edits:  # from the end: offsets before stay valid
        source.text = source.text[:start] + replacement + source.text[end:]
    source.invalidate()
    return bool(edits)


def _newer_string(text: str, error_line: int) -> NewerSyntaxError | None:
    """The first t-string or PEP 701 f-string with no 3.11 spelling (else the first PEP 701
    one) starting at or before the line the parser stopped at; None when the file has none
    (its error is a real one)."""
    scanner = _StringScanner(text)
    scanner.scan_code(0, closing="")
    source = _Source(text)
    before = [
        found
        for found in sorted(scanner.found, key=lambda found: found.offset)
        if source.position(found.offset)[0] <= error_line
    ]
    unrepaired = [found for found in before if found.repair is None]
    for found in unrepaired[:1] or before[:1]:
        line = source.position(found.offset)[0]
        column = found.offset - source.offset(line, 0) + 1
        return NewerSyntaxError(found.construct, found.minor, line, column)
    return None


class _StringScanner:
    """A tokenizer of just enough of the 3.14 grammar to find where strings start and end,
    with f-/t-strings' replacement fields scanned as code (PEP 701)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.found: list[_Found] = []
        self.quotes: list[str] = []  # of the f-/t-strings whose replacement field is scanned

    def scan_code(self, index: int, closing: str) -> int:
        """Scan code from ``index`` to the ``closing`` character at bracket depth 0 (a
        replacement field's ``}``, or ``!``/``:``/``=`` ending its expression); returns the
        offset of that character, or -1 at the end of the text."""
        text = self.text
        depth = 0
        while index < len(text):
            char = text[index]
            if depth == 0 and closing and char in closing:
                if char == "!" and text.startswith("!=", index):
                    index += 2
                    continue
                if char == "=" and (text.startswith("==", index) or text[index - 1] in "=!<>"):
                    index += 1
                    continue
                return index
            if char in "([{":
                depth += 1
            elif char in ")]}":
                depth -= 1
            elif char == "#":
                newline = _re(_NEWLINE).search(text, index)
                comment_end = newline.start() if newline else len(text)
                if closing:
                    size = len(text[index:comment_end].encode("utf-8"))
                    blank = (
                        [(index, comment_end, " " * size)] if len(self.quotes[-1]) == 3 else None
                    )
                    self._note("comment in an f-string replacement field (PEP 701)", index, blank)
                index = comment_end
                continue
            elif char in "'\"" or char.isalnum() or char == "_":
                word = _re(_WORD).match(text, index)
                prefix = word.group(0).lower() if word else ""
                end = word.end() if word else index
                if text.startswith(("'", '"'), end) and prefix in _PREFIXES:
                    quote = (
                        text[end : end + 3] if text.startswith(text[end] * 3, end) else text[end]
                    )
                    index = self._string(index, prefix, quote)
                    if index < 0:
                        return -1
                    continue
                if word:
                    index = end
                    continue
            index += 1
        return -1

    def _note(self, construct: str, offset: int, repair: list[_Edit] | None = None) -> None:
        self.found.append(_Found(construct, 12, offset, repair))

    def _string(self, start: int, prefix: str, quote: str) -> int:
        """Scan a string from its prefix; returns the offset after it, -1 if unterminated
        (what was found inside it is then dropped: the file has a real error there)."""
        body = start + len(prefix) + len(quote)
        mark = len(self.found)
        enclosing = list(self.quotes)
        if "f" not in prefix and "t" not in prefix:
            end = _string_end(self.text, body, quote)
        else:
            self.quotes.append(quote)
            try:
                end = self._template(body, quote, raw="r" in prefix, line=False)
            finally:
                self.quotes.pop()
        if end < 0:
            del self.found[mark:]
            return -1
        # Before 3.12 a string inside a replacement field ends the enclosing one at its quote.
        if any(outer in (quote[0], quote) for outer in enclosing):
            repair = self._other_quote(body - len(quote), end, quote, enclosing)
            construct = "string reusing its enclosing f-string's quote (PEP 701)"
            self.found.insert(mark, _Found(construct, 12, start, repair))
        if "t" in prefix:
            self.found.insert(mark, _Found("t-string (PEP 750)", 14, start, None))
        return end

    def _other_quote(
        self, opening: int, end: int, quote: str, enclosing: list[str]
    ) -> list[_Edit] | None:
        """The string's quotes swapped for the other kind, when that kind appears neither in
        it nor in an enclosing f-string's quote (its value and length stay the same)."""
        other = ("'" if quote[0] == '"' else '"') * len(quote)
        inside = self.text[opening + len(quote) : end - len(quote)]
        if other[0] in inside or "\\" in inside or any(other[0] in outer for outer in enclosing):
            return None
        return [(opening, opening + len(quote), other), (end - len(quote), end, other)]

    def _template(self, index: int, quote: str, raw: bool, line: bool) -> int:
        """The literal parts and replacement fields of an f-/t-string (``line``: a format
        spec, which ends at its field's ``}``)."""
        text = self.text
        while index < len(text):
            if not line and text.startswith(quote, index):
                return index + len(quote)
            char = text[index]
            if line and char == "}":
                return index
            if char == "\\" and not raw:
                index += 2
                continue
            if char in "{}" and text.startswith(char * 2, index):
                index += 2
                continue
            if char == "{":
                index = self._field(index + 1, quote)
                if index < 0:
                    return -1
                continue
            if len(quote) == 1 and char in "\r\n":
                return -1
            index += 1
        return -1

    def _field(self, index: int, quote: str) -> int:
        """A replacement field after its ``{``; returns the offset after its ``}``."""
        start = index
        mark = len(self.found)
        end = self.scan_code(index, closing="}!:=")
        if end < 0:
            return -1
        if self.text.startswith("=", end):  # f"{x = }" keeps the field's text: no respelling
            self.found[mark:] = [found._replace(repair=None) for found in self.found[mark:]]
        if len(quote) == 1 and _re(_NEWLINE).search(self.text, start, end):
            self._note("line break in an f-string replacement field (PEP 701)", start)
        backslash = self.text.find("\\", start, end)
        if backslash >= 0:  # before 3.12, not even inside a string in the field
            self._note("backslash in an f-string replacement field (PEP 701)", backslash)
        index = end
        if self.text.startswith("=", index):  # f"{x = }"
            index += 1
            while self.text.startswith(" ", index):
                index += 1
        if self.text.startswith("!", index):
            index += 2
        if self.text.startswith(":", index):
            index = self._template(index + 1, quote, raw=False, line=True)
            if index < 0:
                return -1
        return index + 1 if self.text.startswith("}", index) else -1
