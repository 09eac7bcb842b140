"""DEP012 test-dependency-in-runtime. The analysis it reports from lives in the library,
:mod:`prodready.deps.declared`.
"""

from __future__ import annotations

from prodready.deps.declared import (
    collect_strings,
    is_library,
    project_view,
    runtime_declarations,
    usage_of,
)
from prodready.deps.imports import display_name
from prodready.plugin import (
    Category,
    Confidence,
    ModuleEnd,
    ProjectContext,
    ProjectFacts,
    Severity,
    project_rule,
)

_TEST_TOOLS = frozenset(
    {"pytest", "hypothesis", "faker", "factory-boy", "coverage", "mock", "responses"}
    | {"freezegun", "respx", "moto", "testcontainers", "tox", "nox", "pytest-cov"}
    | {"pytest-asyncio", "pytest-mock", "pytest-django", "pytest-xdist", "model-bakery"}
    | {"time-machine", "vcrpy", "requests-mock", "aioresponses", "pytest-httpx", "nose"}
    | {"nose2", "behave", "locust", "selenium", "playwright", "pytest-benchmark", "syrupy"}
)


@project_rule(
    nodes=(ModuleEnd,),
    collect=collect_strings,
    code="DEP012",
    name="test-dependency-in-runtime",
    category=Category.DEPENDENCIES,
    severity=Severity.LOW,
    confidence=Confidence.HIGH,
    summary="A test-only package (imported only by tests, or a test tool) declared for runtime",
    fix="Move it to a test/dev group (requirements-dev.txt, [dependency-groups] test).",
)
def test_dependency_in_runtime(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Flags runtime dependencies that only test files import (pytest, hypothesis, faker,
    factory-boy, respx...), and well-known test tools declared as runtime dependencies that
    no service code uses.

    ## Why it breaks production
    Test tools end up in the production image: a larger attack surface (test helpers start
    servers, patch the network, generate data), slower builds, and version constraints that
    conflict with the real dependencies. It also hides which packages the service actually
    needs.

    ## Example
    ```text
    # requirements.txt (installed in the image)
    fastapi==0.111.0
    pytest==8.2.2
    ```

    ## Use instead
    ```text
    # requirements.txt
    fastapi==0.111.0
    # requirements-dev.txt
    -r requirements.txt
    pytest==8.2.2
    ```
    """
    view = project_view(project, ctx)
    if not view.declaring:
        return
    usage = usage_of(project, view, "DEP012")
    libraries: dict[str, bool] = {}
    for (scope, name), declaration in runtime_declarations(view, project.root):
        if name in usage.runtime or name in usage.other:
            continue
        if scope not in libraries:
            libraries[scope] = is_library(view, ctx, scope)
        tool = name in _TEST_TOOLS or name.startswith("pytest-")
        where = usage.tests.get(name)
        if where is not None and (tool or not libraries[scope]):
            # A library may declare what its own dependencies need at run time without
            # importing it; only test tools are clearly misplaced there.
            ctx.report(
                declaration.path,
                declaration.line,
                f"`{display_name(name)}` is a runtime dependency but only tests import it "
                f"(e.g. {where[0]}:{where[1]}): it ships in the production image for nothing; "
                "move it to the test/dev dependencies",
            )
        elif where is None and tool:
            ctx.report(
                declaration.path,
                declaration.line,
                f"`{display_name(name)}` is a test tool declared as a runtime dependency: it "
                "ships in the production image; move it to the test/dev dependencies",
                confidence=Confidence.MEDIUM,
            )
