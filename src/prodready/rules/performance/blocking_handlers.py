"""Performance: sleeping and CPU-bound work in request handlers (PRF002, PRF007)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, Confidence, PythonContext, Severity, python_rule
from prodready.plugin.analysis import is_framework_source
from prodready.rules.performance._shared import _short

# -- PRF002 ---------------------------------------------------------------------------------------


@python_rule(
    code="PRF002",
    name="sleep-in-request-handler",
    category=Category.PERFORMANCE,
    severity=Severity.MEDIUM,
    summary="time.sleep() inside a synchronous request handler ties up a worker",
    calls=("time.sleep",),
    fix="Don't wait inside the request: return 202 and poll, move the work to a background "
    "task, or retry with a bounded backoff in the task queue.",
)
def sleep_in_request_handler(node: ast.Call, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `time.sleep(...)` inside a synchronous HTTP handler (Flask, Django, sync FastAPI
    endpoints). The same call in an `async def` is PRF016.

    ## Why it breaks production
    A sync worker serves one request at a time per thread. A handler that sleeps -- to wait for
    a job, to "rate limit", to back off between retries -- holds that thread doing nothing. With
    4 workers x 2 threads and a 2-second sleep the service tops out at 4 requests per second;
    the queue in front of it grows, requests time out, and health checks on the same workers
    start failing.

    ## Example
    ```python
    @app.post("/exports")
    def export():
        job = start_export(request.json)
        while not job.done():
            time.sleep(1)
        return send_file(job.path)
    ```

    ## Use instead
    ```python
    @app.post("/exports")
    def export():
        job = start_export.delay(request.json)
        return {"job_id": job.id}, 202   # the client polls GET /exports/<job_id>
    ```
    """
    if ctx.route is None or ctx.facts.is_test or ctx.facts.is_example:
        return
    scope = ctx.function
    while scope is not None:
        if scope.is_async:
            return  # PRF016
        scope = scope.parent
    if node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value == 0:
        return
    ctx.report(
        node,
        "time.sleep() in a request handler holds a worker thread idle for the whole wait: "
        "throughput collapses under load. Return 202 and poll, or move the wait into a "
        "background task",
    )


# -- PRF007 ---------------------------------------------------------------------------------------

_CPU_CALLS = {
    "bcrypt.hashpw": "bcrypt hashing",
    "bcrypt.checkpw": "bcrypt verification",
    "bcrypt.kdf": "bcrypt key derivation",
    "hashlib.pbkdf2_hmac": "PBKDF2 key derivation",
    "hashlib.scrypt": "scrypt key derivation",
    "passlib.hash.bcrypt.hash": "password hashing",
    "passlib.hash.bcrypt.verify": "password verification",
    "passlib.hash.argon2.hash": "password hashing",
    "passlib.hash.argon2.verify": "password verification",
    "passlib.hash.pbkdf2_sha256.hash": "password hashing",
    "passlib.hash.pbkdf2_sha256.verify": "password verification",
    "passlib.context.CryptContext.hash": "password hashing",
    "passlib.context.CryptContext.verify": "password verification",
    "passlib.context.CryptContext.verify_and_update": "password verification",
    "argon2.PasswordHasher.hash": "Argon2 hashing",
    "argon2.PasswordHasher.verify": "Argon2 verification",
    "django.contrib.auth.hashers.make_password": "password hashing",
    "django.contrib.auth.hashers.check_password": "password verification",
    "zlib.compress": "compression",
    "zlib.decompress": "decompression",
    "gzip.compress": "compression",
    "gzip.decompress": "decompression",
    "bz2.compress": "compression",
    "bz2.decompress": "decompression",
    "lzma.compress": "compression",
    "lzma.decompress": "decompression",
    "pandas.read_excel": "spreadsheet parsing",
}
# PIL image operations on an image opened or created with PIL.
_PIL_SOURCES = ("PIL.Image.open.", "PIL.Image.new.", "PIL.Image.frombytes.", "PIL.Image.Image.")
_PIL_OPERATIONS = frozenset(
    {"resize", "thumbnail", "convert", "rotate", "transpose", "filter", "save", "crop", "reduce"}
    | {"quantize", "transform", "paste", "tobytes"}
)
_HASH_METHODS = frozenset({"check_password", "set_password"})


@python_rule(
    code="PRF007",
    name="cpu-bound-work-in-async-handler",
    category=Category.PERFORMANCE,
    severity=Severity.HIGH,
    confidence=Confidence.MEDIUM,
    summary="CPU-heavy call (password hashing, image processing, compression) in async def",
    calls=(
        *sorted(_CPU_CALLS),
        "PIL.Image.*",
        "*.check_password",
        "*.set_password",
    ),
    nodes=(ast.Lambda,),
    fix="Run it off the event loop: await asyncio.to_thread(bcrypt.checkpw, password, hashed) "
    "or loop.run_in_executor(pool, ...).",
)
def cpu_bound_work_in_async_handler(node: ast.Call | ast.Lambda, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags CPU-heavy synchronous calls made directly inside an `async def`: password hashing and
    verification (`bcrypt.hashpw/checkpw`, `hashlib.pbkdf2_hmac/scrypt`, passlib
    `CryptContext.hash/verify`, argon2 `PasswordHasher().hash/verify`, Django
    `make_password`/`check_password`/`user.check_password`), PIL image operations (`resize`,
    `thumbnail`, `convert`, `save`...), `zlib/gzip/bz2/lzma` compression and
    `pandas.read_excel`. Calls handed to `asyncio.to_thread`/`run_in_executor` (or wrapped in a
    lambda for them) are not flagged; blocking I/O is PRF016.

    ## Why it breaks production
    These calls are slow on purpose or by nature: a bcrypt check takes 100-300 ms of pure CPU,
    resizing a photo as long. Inside a coroutine they run on the event loop's only thread, so
    for that time the worker serves nobody: one login burst or a few uploads stall every
    other request on the worker, health checks included, and p99 latency explodes.

    ## Example
    ```python
    @app.post("/login")
    async def login(form: LoginForm):
        user = await users.get_by_email(form.email)
        if not user or not bcrypt.checkpw(form.password.encode(), user.password_hash):
            raise HTTPException(401)
    ```

    ## Use instead
    ```python
    @app.post("/login")
    async def login(form: LoginForm):
        user = await users.get_by_email(form.email)
        ok = user is not None and await asyncio.to_thread(
            bcrypt.checkpw, form.password.encode(), user.password_hash
        )
        if not ok:
            raise HTTPException(401)
    ```
    For sustained CPU work use a process pool or a background worker.
    """
    if not ctx.in_async or ctx.facts.is_test or ctx.facts.is_example:
        return
    assert ctx.function is not None
    in_lambdas: set[int] = ctx.rule_state(set)
    if isinstance(node, ast.Lambda):
        in_lambdas.update(id(n) for n in ast.walk(node.body) if isinstance(n, ast.Call))
        return
    if id(node) in in_lambdas:
        return
    name = ctx.call_name or ""
    what = _CPU_CALLS.get(name)
    confidence: Confidence | None = None
    if what is None:
        method = name.rsplit(".", 1)[-1]
        if name.startswith(_PIL_SOURCES) and method in _PIL_OPERATIONS:
            what = "image processing"
        elif method in _HASH_METHODS and isinstance(node.func, ast.Attribute):
            if not node.args or is_framework_source(ctx):
                return  # Django's own models and hashers
            what = "password hashing"
            confidence = Confidence.LOW
        else:
            return
    ctx.report(
        node,
        f"{_short(ctx, node)} is CPU-bound {what} inside async def {ctx.function.name}(): it "
        "blocks the event loop, so every other request on this worker waits. Run it with "
        "await asyncio.to_thread(...) or in an executor",
        confidence=confidence,
    )
