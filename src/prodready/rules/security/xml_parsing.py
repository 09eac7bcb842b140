"""Security: XML from outside parsed with entity resolution or expansion on (SEC020)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, Confidence, ModuleEnd, PythonContext, Severity, python_rule
from prodready.plugin.analysis import (
    argument,
    constant,
    constant_str,
    is_false,
    is_true,
    keyword_value,
)
from prodready.plugin.taint import report_deferred
from prodready.rules.security._input_origin import OriginReport
from prodready.rules.security._shared import _module_value

# -- SEC020 ------------------------------------------------------------------------------------

_LXML_PARSE = (
    *(f"lxml.etree.{name}" for name in ("fromstring", "XML", "parse", "fromstringlist")),
    *(f"lxml.etree.{name}" for name in ("XMLID", "XMLDTDID", "iterparse")),
    *(f"lxml.objectify.{name}" for name in ("fromstring", "XML", "parse")),
)
_STDLIB_PARSE = (
    *(
        f"xml.etree.{module}.{name}"
        for module in ("ElementTree", "cElementTree")
        for name in ("fromstring", "XML", "parse", "iterparse", "fromstringlist", "XMLID")
    ),
    *(f"xml.dom.{module}.{name}" for module in ("minidom", "pulldom") for name in ("parse",)),
    *(f"xml.dom.{module}.parseString" for module in ("minidom", "pulldom")),
    "xml.sax.parse",
    "xml.sax.parseString",
)
_LXML_PARSERS = frozenset(
    {"lxml.etree.XMLParser", "lxml.etree.ETCompatXMLParser", "lxml.objectify.makeparser"}
)
# Parsers that never resolve external entities whatever the release: HTML parsers, defusedxml.
_SAFE_PARSER_PREFIXES = ("lxml.html.", "lxml.etree.HTMLParser", "defusedxml.", "html5lib.")
_EXTERNAL_ENTITY_FEATURES = frozenset(
    {"feature_external_ges", "feature_external_pes"}
    | {"http://xml.org/sax/features/external-general-entities"}
    | {"http://xml.org/sax/features/external-parameter-entities"}
)

_DEFAULT = "default"  # lxml's default parser: external entities resolved before lxml 5.0
_RESOLVING = "resolving"  # told to resolve external entities: every release
_LEGACY_DEFAULT = "legacy"  # iterparse/ETCompatXMLParser defaults: resolved before lxml 6.1


def _parser_kind(parser: ast.expr | None, ctx: PythonContext) -> str | None:
    """How an lxml parse call treats external entities: ``_DEFAULT``, ``_RESOLVING`` or None
    (configured safely, an HTML parser, or a parser the scan cannot see)."""
    if parser is None:
        return None if "set_default_parser" in ctx.source else _DEFAULT
    if isinstance(parser, ast.Name):
        parser = ctx.value_of(parser.id) or _module_value(parser.id, ctx) or parser
    if not isinstance(parser, ast.Call):
        return None  # a parameter or attribute: configured where it is built
    name = ctx.qualname(parser.func) or ""
    if name.startswith(_SAFE_PARSER_PREFIXES) or name not in _LXML_PARSERS:
        return None
    return _resolution(parser, name, ctx)


def _resolution(call: ast.Call, name: str, ctx: PythonContext) -> str | None:
    """External entity handling of an lxml parser built (or iterparse called) with ``call``'s
    options: ``resolve_entities=False``/``'internal'`` is safe in every release; left out, the
    XML parser resolves them before 5.0 and ``ETCompatXMLParser``/``iterparse`` before 6.1."""
    resolve = keyword_value(call, "resolve_entities")
    if isinstance(resolve, ast.Name):
        resolve = ctx.value_of(resolve.id) or resolve
    if is_false(resolve) or constant_str(resolve) == "internal":
        return None
    if is_true(resolve):
        return _RESOLVING
    if resolve is not None:
        return None  # decided by a setting the scan cannot see
    if name.endswith(("ETCompatXMLParser", "iterparse")):
        return _LEGACY_DEFAULT
    return _DEFAULT


@python_rule(
    code="SEC020",
    name="xml-external-entities",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="XML from outside parsed without defused parsing (external entities, entity bombs)",
    calls=(*_LXML_PARSE, *_STDLIB_PARSE, "*.setFeature"),
    nodes=(ModuleEnd,),
    cwe=611,
    fix="Parse with defusedxml (defusedxml.ElementTree.fromstring / defusedxml.lxml), or an "
    "lxml XMLParser(resolve_entities=False, no_network=True).",
)
def xml_external_entities(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags XML parsing of data that is not a constant, judged by each library's own defaults:

    - lxml (`etree.fromstring/XML/parse/iterparse`, `objectify`) with its default parser:
      releases before 5.0 resolve external entities (`<!ENTITY x SYSTEM "file:///...">`), and
      `iterparse()`/`ETCompatXMLParser` do so up to 6.1. High on request data (confidence
      medium: it depends on the installed release); low on other data from outside (a
      response of another service, a message) and when the scan cannot see where the
      document comes from. `iterparse()`/`ETCompatXMLParser`, vulnerable until recently,
      are high with high confidence on request data and medium on other outside data.
    - lxml with `XMLParser(resolve_entities=True)`: external entities resolved in every
      release. High on request data, medium on other data from outside or an unknown source.
    - the standard library (`xml.etree`, `minidom`, `pulldom`, `xml.sax`) on request data:
      low. It never fetches external entities, but it bounds entity expansion ("billion
      laughs") only when linked against expat 2.4.1 or newer, which a distribution's Python
      may not be.
    - `parser.setFeature(feature_external_ges, True)` on a SAX parser: high.

    `defusedxml`, lxml parsers built with `resolve_entities=False` (or `'internal'`), HTML
    parsers and parsers the scan cannot see (a parameter, an attribute) are fine.

    ## Why it breaks production
    An XML document can declare entities that name files and URLs. A parser that resolves
    them puts `/etc/passwd`, the service's `.env` or a cloud metadata response into the
    parsed tree, where it comes back in an error message or a stored field, and fetches URLs
    from inside the network (SSRF). Nested entity definitions expand a 1 kB document into
    gigabytes of memory and take the worker down.

    ## Example
    ```python
    from lxml import etree

    @app.post("/invoices/import")
    async def import_invoice(request: Request):
        root = etree.fromstring(await request.body())
    ```

    ## Use instead
    ```python
    from defusedxml.lxml import fromstring

    @app.post("/invoices/import")
    async def import_invoice(request: Request):
        root = fromstring(await request.body())
    ```
    """
    if isinstance(node, ast.Module):
        report_deferred(ctx)
        return
    if ctx.facts.is_test or not isinstance(node, ast.Call):
        return
    name = ctx.call_name or ""
    if name.endswith(".setFeature"):
        _sax_feature(node, ctx)
        return
    data = argument(node, 0, "source") or argument(node, 0, "text")
    if data is None:
        return
    if name in _STDLIB_PARSE:
        if "defuse_stdlib" not in ctx.source:
            _stdlib(node, name, data, ctx)
        return
    if name.endswith("iterparse"):
        kind = _resolution(node, name, ctx)
    else:
        kind = _parser_kind(argument(node, 1, "parser"), ctx)
    if kind is not None:
        _lxml(node, name, data, kind, ctx)


def _lxml(node: ast.Call, name: str, data: ast.expr, kind: str, ctx: PythonContext) -> None:
    call = name.rsplit(".", 2)[-2] + "." + name.rsplit(".", 1)[-1]
    fix = (
        "Parse with defusedxml.lxml or pass etree.XMLParser(resolve_entities=False, "
        "no_network=True)"
    )
    if kind == _RESOLVING:
        what = f"{call}() uses a parser told to resolve external entities"
        request_confidence = Confidence.HIGH
    elif kind == _LEGACY_DEFAULT:
        what = (
            f"{call}() resolves external entities unless given resolve_entities=False "
            "(its default before lxml 6.1)"
        )
        request_confidence = Confidence.HIGH
    else:
        what = (
            f"{call}() uses lxml's default parser, which resolves external entities before "
            "lxml 5.0 (iterparse and ETCompatXMLParser before 6.1)"
        )
        request_confidence = Confidence.MEDIUM
    harm = "a document can read local files (file:///...) and reach internal URLs"

    def request(source: str) -> None:
        ctx.report(
            node, f"{what}: {source} is parsed, so {harm}. {fix}", confidence=request_confidence
        )

    def external(source: str) -> None:
        ctx.report(
            node,
            f"{what}: {source} is parsed, so whoever controls it can read local files and "
            f"reach internal URLs. {fix}",
            # The default parser is two conditions away from harm (an lxml older than 5.0
            # and a hostile peer service): an audit finding, not a defect.
            severity=Severity.LOW if kind == _DEFAULT else Severity.MEDIUM,
            confidence=Confidence.LOW if kind == _DEFAULT else Confidence.MEDIUM,
        )

    def unknown() -> None:
        ctx.report(
            node,
            f"{what}, and the scan cannot tell where this document comes from: if it is not "
            f"the service's own, {harm}. {fix}",
            severity=Severity.MEDIUM if kind == _RESOLVING else Severity.LOW,
            confidence=Confidence.LOW,
        )

    OriginReport(node, ctx, request=request, external=external, unknown=unknown).run([data])


def _stdlib(node: ast.Call, name: str, data: ast.expr, ctx: PythonContext) -> None:
    module = name.rsplit(".", 2)[-2]

    def request(source: str) -> None:
        ctx.report(
            node,
            f"{module}.{name.rsplit('.', 1)[-1]}() parses {source}: the standard library "
            "fetches no external entities, but bounds entity expansion (a 'billion laughs' "
            "document that exhausts memory) only with expat 2.4.1 or newer, which the "
            "deployed Python may not link. Parse request data with defusedxml",
            severity=Severity.LOW,
            confidence=Confidence.MEDIUM,
        )

    OriginReport(node, ctx, request=request).run([data])


def _sax_feature(node: ast.Call, ctx: PythonContext) -> None:
    feature = argument(node, 0, "name")
    value = argument(node, 1, "state")
    if feature is None or not (is_true(value) or constant(value) == 1):
        return
    text = constant_str(feature)
    if text is None and isinstance(feature, ast.Attribute | ast.Name):
        text = (ctx.qualname(feature) or "").rsplit(".", 1)[-1]
    if text not in _EXTERNAL_ENTITY_FEATURES:
        return
    ctx.report(
        node,
        "setFeature() turns on external entities: the SAX parser reads every file and URL a "
        "document names (file:///etc/passwd, internal services). Leave the feature off "
        "(the default since Python 3.7.1) or parse with defusedxml.sax",
    )
