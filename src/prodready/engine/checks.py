"""What a rule's functions look like, one Protocol per rule kind.

The engine calls a rule's ``check`` with the subject and the context of the rule's kind:

- a Python rule: ``check(node, ctx: PythonContext)`` for each node it subscribes to (the node's
  own type: ``def check(node: ast.Call, ctx: PythonContext) -> None``);
- a document rule: ``check(document, ctx: FileContext)`` once per document of its kind
  (``Dockerfile``, ``Manifests``, ``RequirementsFile``, ``Pyproject``; a ``Suppression`` for
  rules over every file kind);
- a project rule: ``check(facts: ProjectFacts, ctx: ProjectContext)`` once per scan, after its
  ``collect(node, ctx: PythonContext)`` gathered evidence during the walk of every Python file.

The decorators of :mod:`prodready.engine.registry` take these types, so mypy rejects a rule
function with the wrong arguments or a return value. Parameters are positional-only: a check
names them as it likes.

Nothing here is needed at run time: the contexts are imported for type checking only, so the
model can name these types without importing the engine.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, TypeVar, overload

if TYPE_CHECKING:
    from prodready.engine.documents import FileContext
    from prodready.engine.module_record import Mark
    from prodready.engine.project import ProjectContext, ProjectFacts
    from prodready.engine.python import PythonContext

NodeT_contra = TypeVar("NodeT_contra", bound=ast.AST, contravariant=True)
DocumentT_contra = TypeVar("DocumentT_contra", contravariant=True)


class PythonCheck(Protocol[NodeT_contra]):
    """A Python rule's check: called with each node it subscribes to, in walk order."""

    def __call__(self, node: NodeT_contra, ctx: PythonContext, /) -> None: ...


class DocumentCheck(Protocol[DocumentT_contra]):
    """A document rule's check: called once with each parsed document of its kind."""

    def __call__(self, document: DocumentT_contra, ctx: FileContext, /) -> None: ...


class ProjectCheck(Protocol):
    """A project rule's check: called once per scan with the facts of every file."""

    def __call__(self, facts: ProjectFacts, ctx: ProjectContext, /) -> None: ...


class ProjectCollector(Protocol[NodeT_contra]):
    """A project rule's collector: called like a Python check during the walk, returns the
    evidence to keep for the rule: ``(name, line)`` pairs or ``Mark``s (or None)."""

    def __call__(
        self, node: NodeT_contra, ctx: PythonContext, /
    ) -> Iterable[tuple[str, int] | Mark] | None: ...


# A rule function of any kind: what the decorators hand to ``Rule``.
AnyCheck: TypeAlias = PythonCheck[Any] | DocumentCheck[Any] | ProjectCheck


class Check(Protocol):
    """``Rule.check`` as the engine calls it: with the subject and the context of the rule's
    kind, one overload per kind. The function behind it is the protocol of one kind only --
    the decorators take exactly that, and ``Rule.kind`` says which -- so the engine's calls
    are checked against the calling conventions and no call site needs a cast."""

    @overload
    def __call__(self, node: ast.AST, ctx: PythonContext, /) -> None: ...
    @overload
    def __call__(self, document: Any, ctx: FileContext, /) -> None: ...
    @overload
    def __call__(self, facts: ProjectFacts, ctx: ProjectContext, /) -> None: ...
