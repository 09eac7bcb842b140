"""Members of an enumeration: labels, not the values their names describe."""

from __future__ import annotations

from prodready.plugin import PythonContext

# Base classes whose class-body assignments are the members of an enumeration: a member named
# after a credential (``username_and_password = "username-password"``) is a choice and its
# value the label stored or sent for it, an identifier -- never the credential itself.
_ENUM_BASE_ENDINGS = ("Enum", "Flag", "Choices")


def enum_member(ctx: PythonContext) -> bool:
    """An assignment in the body of an ``Enum`` (``StrEnum``, ``IntFlag``, a Django
    ``TextChoices``, or a project base named ``...Enum``)."""
    return (
        ctx.function is None
        and bool(ctx.classes)
        and any(
            base.rsplit(".", 1)[-1].endswith(_ENUM_BASE_ENDINGS) for base in ctx.classes[-1].bases
        )
    )
