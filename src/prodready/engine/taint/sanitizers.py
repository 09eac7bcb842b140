"""What stops a flow: the check markers a sink asks for (path containment, URL host, safe redirect,
segment parameters), the checks in a function that satisfy them, and allow-list checks where
they hold (see :mod:`prodready.engine.taint.allowlist`)."""

from __future__ import annotations

import ast
import re

from prodready.engine.analysis import dotted, module_function
from prodready.engine.python import ModuleMemo, PythonContext
from prodready.engine.taint.allowlist import AllowListed, allow_listed
from prodready.engine.taint.bindings import (
    BindingMap,
    bound_values,
    built_from,
    function_bindings,
    names_in,
    own_nodes,
)
from prodready.engine.taint.regex_guards import pattern_matched
from prodready.engine.taint.stored_rows import stored_row_checked

# Conversions whose result cannot carry attacker-chosen text, whatever the sink.
VALUE_SANITIZERS = frozenset(
    {"builtins.int", "builtins.float", "builtins.bool", "builtins.len", "builtins.abs"}
    | {"builtins.round", "builtins.hash", "builtins.id", "builtins.ord", "builtins.isinstance"}
    | {"uuid.UUID", "decimal.Decimal", "datetime.date.fromisoformat", "datetime.fromisoformat"}
    | {"datetime.datetime.fromisoformat", "datetime.datetime.strptime", "ipaddress.ip_address"}
    # Django builds the path from its URL patterns and percent-quotes the arguments (a value
    # that does not match the pattern raises NoReverseMatch): a site-local, quoted path.
    | {"django.urls.reverse", "django.urls.reverse_lazy", "django.urls.base.reverse"}
)


# Method calls whose result is not text derived from the receiver.
NEUTRAL_METHODS = frozenset(
    {"isdigit", "isnumeric", "isdecimal", "isalnum", "isalpha", "startswith", "endswith"}
    | {"count", "find", "index", "rfind", "hexdigest", "digest", "exists", "is_valid"}
    # Django's convention: a model's own page, reverse()d from its key -- not the client's text.
    | {"get_absolute_url"}
)


# Lookups whose result is a stored value, not the key they were given: ``COLUMNS.get(sort)``,
# ``Model.objects.get(pk=key)``, ``session.get(User, key)``, ``query.filter_by(name=key)``.
LOOKUP_METHODS = frozenset(
    {"get", "filter", "filter_by", "exclude", "get_or_404", "first_or_404", "one_or_404"}
)


def store_lookup(call: ast.Call) -> bool:
    """``store.get_run(run_id)``, ``self.repository.find_order(key)``, ``_get_store().load_user(
    name)``: a data store's read of the record a key selects -- the record flows out, not the
    key (as with :data:`LOOKUP_METHODS`). A method that names a path, file or URL
    (``store.get_artifact_path(key)``) builds from its argument and is not one."""
    func = call.func
    if not isinstance(func, ast.Attribute):
        return False
    words = _words(func.attr)
    if len(words) < 2 or words[0] not in _LOOKUP_VERBS or _LOCATION_WORDS.intersection(words):
        return False
    receiver = func.value
    if isinstance(receiver, ast.Call):
        receiver = receiver.func
    name = dotted(receiver) or ""
    return bool(_STORE_WORDS.intersection(_words(name.rsplit(".", 1)[-1])))


_LOOKUP_VERBS = frozenset({"get", "find", "fetch", "load", "lookup", "read"})
_LOCATION_WORDS = frozenset({"path", "file", "filename", "url", "uri", "dir", "directory"})
_STORE_WORDS = frozenset({"store", "repository", "repo", "dao"})


def _words(name: str) -> list[str]:
    return [word for word in re.split(r"[^a-z0-9]+", name.lower()) if word]


LOOKUP_FUNCTIONS = frozenset(
    {"django.shortcuts.get_object_or_404", "django.shortcuts.get_list_or_404"}
)


# Hash constructors: a digest of tainted data is not the data.
HASH_PREFIXES = ("hashlib.", "hmac.")


# Markers a sink can put among its ``sanitizers``: checks in the enclosing function that make
# the names they inspect safe for that kind of sink (as an allow-list does for every sink).
PATH_CONTAINMENT_CHECK = "check:path-containment"
"""``os.path.realpath(p).startswith(base)``, ``p.resolve().is_relative_to(base)``,
``os.path.commonpath(...)``, ``".." in name``: the path cannot leave its directory."""


URL_HOST_CHECK = "check:url-host"
"""``urlparse(url).hostname in ALLOWED_HOSTS``, ``url.startswith("https://api.example.com/")``,
``is_allowed_url(url)``: the request can only go to known hosts."""


SAFE_REDIRECT_CHECK = "check:safe-redirect"
"""``url_has_allowed_host_and_scheme(url, ...)``, ``is_safe_url(url)``,
``url.startswith("/") and not url.startswith("//")``, a test of ``urlparse(url).netloc``."""


SEGMENT_PARAMETERS = "check:segment-parameters"
"""Route parameters matched as one path segment (FastAPI ``{name}``, Flask ``<name>``) cannot
hold a ``/``: not sources for path sinks (``{name:path}``/``<path:name>`` and query parameters
still are)."""


STORED_ROW_CHECK = "check:stored-row"
"""``row = db.execute("SELECT ... WHERE slug = ?", (slug,)).fetchone(); if row is None: raise``:
the value is one the service stored (see :mod:`prodready.engine.taint.stored_rows`)."""

_GUARD_MARKERS = frozenset(
    {PATH_CONTAINMENT_CHECK, URL_HOST_CHECK, SAFE_REDIRECT_CHECK, STORED_ROW_CHECK}
)


_RESOLVING_CALLS = frozenset({"realpath", "abspath", "normpath", "resolve", "commonpath"})


_HOST_ATTRIBUTES = frozenset({"hostname", "netloc", "host"})


_URL_CHECK_FUNCTION = re.compile(
    r"(?:safe|allowed|trusted|allowlist|whitelist|permitted)\w*"
    r"(?:url|uri|host|domain|redirect|next|target|location|endpoint|destination)"
    r"|(?:url|uri|host|domain|redirect)\w*(?:allowed|safe|trusted|permitted)"
    r"|url_has_allowed_host_and_scheme|valid\w*redirect",
    re.IGNORECASE,
)


_FIXED_HOST_PREFIX = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#@\\\s{}]+[/?#]")


def segment_parameter(name: str, ctx: PythonContext) -> bool:
    """A route parameter matched as one path segment: it cannot contain ``/``."""
    route = ctx.route
    path = route.path if route is not None else None
    if not path:
        return False
    if f"{{{name}}}" in path or f"<{name}>" in path:
        return True
    # Converters that match one segment: Starlette ``{name:str}``, Flask ``<string:name>``,
    # Django-style ``<str:name>``/``<slug:name>`` (and Django Ninja's ``{str:name}``).
    if any(form.format(name) in path for form in _SEGMENT_FORMS):
        return True
    return re.search(rf"<string\([^)]*\):{name}>", path) is not None


_SEGMENT_FORMS = (
    *("{{{}:str}}", "<string:{}>", "<str:{}>", "<slug:{}>", "{{str:{}}}", "{{slug:{}}}"),
)


# (id(function), markers) -> the names the function's checks guard
_GUARDED: ModuleMemo[dict[object, frozenset[str]]] = ModuleMemo("taint:guards", lambda _: {})


def guarded_names(
    function: ast.AST, ctx: PythonContext, sanitizers: frozenset[str]
) -> frozenset[str]:
    """Names inspected by the checks the sink's markers ask for (path containment, URL host
    allow-lists, safe-redirect checks), with the names their values were built from. (A plain
    allow-list check, ``if mode not in ALLOWED: abort(400)``, sanitises for every sink, but
    only where it holds: :func:`prodready.engine.taint.allowlist.allow_listed`.)"""
    markers = sanitizers & _GUARD_MARKERS
    if not markers:
        return frozenset()
    cache = ctx.memo(_GUARDED)
    key = (id(function), markers)
    cached = cache.get(key)
    if cached is not None:
        return cached
    cache[key] = frozenset()  # while computing: a helper calling itself guards nothing
    bindings = function_bindings(function, ctx)
    checked: list[ast.AST] = []
    for node in own_nodes(function, ctx):
        if isinstance(node, ast.Compare):
            if _guarding_compare(node, markers, bindings, ctx):
                checked.append(node)
        elif isinstance(node, ast.Call):
            if _guarding_call(node, markers, bindings):
                func = node.func
                checked.append(func.value if isinstance(func, ast.Attribute) else node)
            elif URL_HOST_CHECK in markers and _address_guard(module_function(node, ctx), ctx):
                checked.append(node)
        elif isinstance(node, ast.If | ast.IfExp | ast.While | ast.Assert) and (
            SAFE_REDIRECT_CHECK in markers
        ):
            if _tests_host(node.test, bindings):
                checked.append(node.test)
            checked.extend(_validated(node.test))
        if isinstance(node, ast.If | ast.IfExp | ast.While | ast.Assert):
            checked.extend(_checked_by_helpers(node.test, ctx, markers))
            if markers & {SAFE_REDIRECT_CHECK, URL_HOST_CHECK}:
                checked.extend(
                    pattern_matched(
                        node.test,
                        ctx,
                        url_host=URL_HOST_CHECK in markers,
                        safe_redirect=SAFE_REDIRECT_CHECK in markers,
                    )
                )
        elif PATH_CONTAINMENT_CHECK in markers and isinstance(node, ast.Expr | ast.Assign):
            checked.extend(_path_validated(node))
    names: set[str] = set()
    for expr in checked:
        names |= names_in(expr)
    if STORED_ROW_CHECK in markers:
        names |= stored_row_checked(function)
    result = frozenset(built_from(names, bindings))
    cache[key] = result
    return result


def allowed_regions(
    function: ast.AST, ctx: PythonContext, sanitizers: frozenset[str]
) -> AllowListed:
    """Where allow-list checks prove names safe. For a URL sink, checking the host of a URL
    against an allow-list proves the URL safe too (``if urlparse(url).hostname not in
    ALLOWED_HOSTS: abort(400)``, or through ``host = urlparse(url).hostname``)."""
    if not _membership_tested(function, ctx, URL_HOST_CHECK in sanitizers):
        return {}  # every allow-list check is an ``in`` test: spare the region search
    if URL_HOST_CHECK not in sanitizers:
        return allow_listed(function, ctx)
    bindings = function_bindings(function, ctx)

    def checked_host(subject: ast.expr) -> frozenset[str]:
        if not _hostish(subject, bindings):
            return frozenset({subject.id}) if isinstance(subject, ast.Name) else frozenset()
        return frozenset(built_from(names_in(subject), bindings))

    return allow_listed(function, ctx, checked_host, kind=URL_HOST_CHECK)


def _membership_tested(function: ast.AST, ctx: PythonContext, of_hosts: bool) -> bool:
    """An ``in`` test that may be an allow-list check: of a name (what the default check
    proves safe), or -- ``of_hosts`` -- of any expression (a parsed URL's host)."""
    return any(
        isinstance(node, ast.Compare)
        and isinstance(node.ops[0], ast.In | ast.NotIn)
        and (of_hosts or isinstance(node.left, ast.Name))
        for node in own_nodes(function, ctx)
    )


def _checked_by_helpers(
    test: ast.AST, ctx: PythonContext, markers: frozenset[str]
) -> list[ast.AST]:
    """Arguments a condition hands to a function of this module whose own body applies the
    check the sink asks for to that parameter: ``if _allow_redirect(url):`` where
    ``_allow_redirect`` rejects any ``urlparse(url).netloc`` -- the helper is the sanitiser."""
    found: list[ast.AST] = []
    for call in ast.walk(test):
        if not isinstance(call, ast.Call):
            continue
        helper = module_function(call, ctx)
        if helper is None:
            continue
        guarded = guarded_names(helper, ctx, markers)
        parameters = [a.arg for a in (*helper.args.posonlyargs, *helper.args.args)]
        for parameter, argument in zip(parameters, call.args, strict=False):
            if parameter in guarded and isinstance(argument, ast.Name):
                found.append(argument)
        for keyword in call.keywords:
            if keyword.arg in guarded and isinstance(keyword.value, ast.Name):
                found.append(keyword.value)
    return found


_PATH_VALIDATOR_VERBS = frozenset({"validate", "sanitize", "sanitise", "ensure", "check"})
_PATH_VALIDATOR_NOUNS = frozenset(
    {"path", "filename", "filepath", "file", "dir", "directory"}
    # an identifier validated before it names a file: the validator rejects what is not one
    | {"id", "name", "slug", "uuid", "key"}
)


def _path_validated(statement: ast.Expr | ast.Assign) -> list[ast.AST]:
    """The argument of a path validator called for its effect or to replace the value:
    ``validate_path_is_safe(path)`` / ``path = validate_path_is_safe(path)`` -- a function
    named for validating a path raises on one that leaves its directory (as a predicate
    named so guards the path it is asked about, see :func:`_validated`)."""
    call = statement.value
    if not isinstance(call, ast.Call) or not call.args or not isinstance(call.args[0], ast.Name):
        return []
    func = call.func
    words = _words(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    if not words or words[0] not in _PATH_VALIDATOR_VERBS:
        return []
    if not _PATH_VALIDATOR_NOUNS.intersection(words):
        return []
    if isinstance(statement, ast.Assign) and not any(
        isinstance(t, ast.Name) and t.id == call.args[0].id for t in statement.targets
    ):
        return []  # ``safe = validate_path(p)`` guards the result, which the flow follows
    return [call.args[0]]


_PREDICATE_PREFIXES = ("is_", "check_", "validate", "valid_", "has_valid", "allowed_")


def _validated(test: ast.AST) -> list[ast.AST]:
    """Arguments of predicates a condition calls: ``if check_for_language(code):``."""
    found: list[ast.AST] = []
    for node in ast.walk(test):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name.startswith(_PREDICATE_PREFIXES):
                found.extend(arg for arg in node.args if isinstance(arg, ast.Name))
    return found


# What an IP address object says about where it points: a guard that raises on one of these
# keeps the server off its own network (metadata endpoint, localhost, internal services).
_INTERNAL_ADDRESS_TESTS = frozenset(
    {"is_private", "is_loopback", "is_link_local", "is_reserved", "is_global"}
)


def _address_guard(
    helper: ast.FunctionDef | ast.AsyncFunctionDef | None, ctx: PythonContext, depth: int = 0
) -> bool:
    """A function of this module that resolves what it is given and raises when the address
    is internal (``if ipaddress.ip_address(ip).is_private: raise ...``), itself or through
    another such function it calls: an SSRF guard of its arguments (the URL or its host)."""
    if helper is None or depth > 3:
        return False
    nodes = own_nodes(helper, ctx)
    raises = any(isinstance(node, ast.Raise) for node in nodes)
    if raises and any(
        isinstance(node, ast.Attribute) and node.attr in _INTERNAL_ADDRESS_TESTS for node in nodes
    ):
        return True
    return any(
        isinstance(node, ast.Call)
        and module_function(node, ctx) not in (None, helper)
        and _address_guard(module_function(node, ctx), ctx, depth + 1)
        for node in nodes
    )


def _guarding_call(call: ast.Call, markers: frozenset[str], bindings: BindingMap) -> bool:
    func = call.func
    if isinstance(func, ast.Attribute):
        receiver = func.value
        constants = [a.value for a in call.args if isinstance(a, ast.Constant)]
        for argument in call.args:
            if isinstance(argument, ast.Tuple):
                constants.extend(e.value for e in argument.elts if isinstance(e, ast.Constant))
        texts = [c for c in constants if isinstance(c, str)]
        if PATH_CONTAINMENT_CHECK in markers:
            if func.attr in {"is_relative_to", "relative_to"}:
                return True
            if func.attr == "startswith" and _resolves_path(receiver, bindings):
                return True
        if func.attr == "startswith" and (
            (SAFE_REDIRECT_CHECK in markers and any(text.startswith("//") for text in texts))
            or (URL_HOST_CHECK in markers and any(_FIXED_HOST_PREFIX.match(t) for t in texts))
        ):
            return True
        if func.attr == "endswith" and URL_HOST_CHECK in markers and _hostish(receiver, bindings):
            return True
    if URL_HOST_CHECK in markers or SAFE_REDIRECT_CHECK in markers:
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if _URL_CHECK_FUNCTION.search(name) and (call.args or call.keywords):
            return True
    return False


def _guarding_compare(
    node: ast.Compare, markers: frozenset[str], bindings: BindingMap, ctx: PythonContext
) -> bool:
    operands = [node.left, *node.comparators]
    if PATH_CONTAINMENT_CHECK in markers:
        if isinstance(node.left, ast.Constant) and node.left.value in {"..", "/", "\\"}:
            return isinstance(node.ops[0], ast.In | ast.NotIn)
        if any(_calls_named(operand, {"commonpath"}) for operand in operands):
            return True
        if any(isinstance(op, ast.In | ast.NotIn) for op in node.ops) and any(
            isinstance(c, ast.Attribute) and c.attr == "parents" for c in node.comparators
        ):
            return True
    if URL_HOST_CHECK in markers or SAFE_REDIRECT_CHECK in markers:
        if not any(isinstance(op, ast.In | ast.NotIn | ast.Eq | ast.NotEq) for op in node.ops):
            return False
        hosts = [operand for operand in operands if _hostish(operand, bindings)]
        others = [operand for operand in operands if not _hostish(operand, bindings)]
        if hosts and others:
            if SAFE_REDIRECT_CHECK in markers:
                return True
            if any(isinstance(op, ast.In | ast.NotIn) for op in node.ops) and len(node.ops) == 1:
                return False  # a host allow-list holds only where it is true: see allowed_regions()
            return all(_constant_like(other, ctx) for other in others)
    return False


def _constant_like(expr: ast.AST, ctx: PythonContext) -> bool:
    if isinstance(expr, ast.Constant):
        return True
    if _constant_collection(expr, ctx):
        return True
    name = dotted(expr)
    return name is not None and name.rsplit(".", 1)[-1].lstrip("_").isupper()


def _tests_host(test: ast.AST, bindings: BindingMap) -> bool:
    """``if urlparse(url).netloc:``/``if not parsed.scheme``: a relative-URL check."""
    return any(
        isinstance(node, ast.Attribute)
        and node.attr in {"netloc", "scheme", "hostname"}
        and _parses_url(node.value, bindings)
        for node in ast.walk(test)
    )


def _hostish(expr: ast.AST, bindings: BindingMap) -> bool:
    """The expression reads the host of a parsed URL (``urlparse(u).hostname``, ``p.netloc``,
    or a name bound to one)."""
    for node in ast.walk(expr):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in _HOST_ATTRIBUTES
            and _parses_url(node.value, bindings)
        ):
            return True
        if isinstance(node, ast.Name):
            for value in bound_values(bindings, node.id):
                if any(
                    isinstance(inner, ast.Attribute)
                    and inner.attr in _HOST_ATTRIBUTES
                    and _parses_url(inner.value, bindings)
                    for inner in ast.walk(value)
                ):
                    return True
    return False


def _parses_url(expr: ast.AST, bindings: BindingMap) -> bool:
    names = {"urlparse", "urlsplit", "URL", "urllib3.util.parse_url", "parse_url"}
    if _calls_named(expr, names):
        return True
    if isinstance(expr, ast.Name):
        return any(_calls_named(value, names) for value in bound_values(bindings, expr.id))
    return False


def _resolves_path(expr: ast.AST, bindings: BindingMap) -> bool:
    if _calls_named(expr, _RESOLVING_CALLS):
        return True
    for node in ast.walk(expr):
        if isinstance(node, ast.Name):
            for value in bound_values(bindings, node.id):
                if _calls_named(value, _RESOLVING_CALLS):
                    return True
    return False


def _calls_named(expr: ast.AST, names: set[str] | frozenset[str]) -> bool:
    for node in ast.walk(expr):
        if isinstance(node, ast.Call):
            func = node.func
            last = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if last in names:
                return True
    return False


def _constant_collection(expr: ast.AST, ctx: PythonContext) -> bool:
    if isinstance(expr, ast.Tuple | ast.List | ast.Set):
        return all(isinstance(e, ast.Constant) for e in expr.elts)
    if isinstance(expr, ast.Dict):
        return all(isinstance(k, ast.Constant) for k in expr.keys)
    name = dotted(expr)
    if name is None:
        return False
    last = name.rsplit(".", 1)[-1]
    return last.isupper() or last.lstrip("_").isupper()
