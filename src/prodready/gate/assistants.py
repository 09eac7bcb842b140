"""Which commits are AI-assisted: the coding assistants prodready knows, and how a commit names one.

A commit is classified from its ``Co-authored-by:``/``Co-developed-by:`` trailers (matched against
:data:`ASSISTANTS`), ``Assisted-by:``/``Generated-by:``/``AI-Assisted:`` trailers, an agent author
or committer identity, Claude Code's "Generated with" line and configurable regexes. Reading the
commits and attributing lines to them is :mod:`prodready.gate.provenance`'s.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from prodready.gate.model import GateError


@dataclass(frozen=True)
class Assistant:
    """A coding assistant, recognised by who it says it is."""

    name: str
    patterns: tuple[re.Pattern[str], ...]  # co-author identities ("Name <email>") in trailers
    agents: tuple[re.Pattern[str], ...] = ()  # a commit's author or committer identity

    def matches(self, identity: str, *, agent: bool = False) -> bool:
        """Whether ``identity`` is this assistant: as the commit's author (``agent``) or co-author.

        A co-author is matched against both lists (an agent identity is a co-author too); an
        author only against ``agents``, so a person named Claude or with an employer's address
        does not make their own commits AI-assisted.
        """
        candidates = self.agents if agent else self.patterns + self.agents
        return any(pattern.search(identity) for pattern in candidates)


def _assistant(name: str, patterns: Sequence[str], agents: Sequence[str] = ()) -> Assistant:
    return Assistant(
        name,
        tuple(re.compile(pattern, re.IGNORECASE) for pattern in patterns),
        tuple(re.compile(pattern, re.IGNORECASE) for pattern in agents),
    )


# A bot account ("name[bot]") whose name says AI: sweep-ai[bot], openai[bot], gptbot[bot], ...
# but not dependabot, renovate, github-actions, release-train (word-bounded "ai").
_AI_BOT = r"^(?=[^<]*\[bot\])[^<]*?(?:(?<![a-z0-9])ai(?![a-z])|ai(?=\[bot\])|gpt|llm)"

# Known assistants, most specific first. Patterns are case-insensitive regexes searched in
# "Name <email>". Human first names (Devin, Cody, Jules, Junie) only match with the vendor's
# address or bot account.
ASSISTANTS: tuple[Assistant, ...] = (
    _assistant(
        "Copilot",
        [
            r"^\s*copilot\b",
            r"\bgithub copilot\b",
            r"copilot-swe-agent",
            r"\bcopilot@users\.noreply\.github\.com",
        ],
        [r"copilot-swe-agent", r"\bcopilot@users\.noreply\.github\.com"],
    ),
    _assistant(
        "Claude",
        [
            r"@anthropic\.com\b",
            r"^\s*claude(?:\s+(?:code|opus|sonnet|haiku|\d)[^<]*)?\s*<",
            r"\bclaude code\b",
            r"\bclaude\[bot\]",
        ],
        [r"\bnoreply@anthropic\.com", r"\bclaude\[bot\]"],
    ),
    _assistant(
        "Cursor",
        [r"^\s*cursor(?:\s+agent)?\s*<", r"@cursor\.(?:com|sh)\b", r"\bcursor\[bot\]"],
        [r"\bcursoragent@cursor\.com", r"\bcursor\[bot\]"],
    ),
    _assistant(
        "OpenAI Codex",
        [
            r"^\s*(?:openai\s+)?codex\b",
            r"\bcodex@openai\.com",
            r"chatgpt-codex-connector",
            r"^\s*chatgpt\b",
        ],
        [r"\bcodex@openai\.com", r"chatgpt-codex-connector", r"\bcodex\[bot\]"],
    ),
    _assistant(
        "Gemini",
        [
            r"^\s*gemini\b",
            r"gemini-code-assist",
            r"^[^<]*\bgemini\b[^<]*<[^>]*@google\.com>",
        ],
        [r"gemini-code-assist", r"\bgemini\[bot\]"],
    ),
    _assistant("Jules", [r"google-labs-jules", r"\bjules@google\.com"], [r"google-labs-jules"]),
    _assistant(
        "Devin",
        [r"devin-ai-integration", r"^\s*devin ai\b", r"\bdevin@cognition"],
        [r"devin-ai-integration", r"\bdevin@cognition"],
    ),
    _assistant(
        "Aider",
        [r"^\s*aider\b", r"\baider@", r"\baider\.chat\b"],
        [r"\(aider\)\s*<", r"@aider\.chat\b"],
    ),
    _assistant(
        "Amazon Q",
        [r"\bamazon q\b", r"\bq developer\b", r"amazon-q-developer", r"codewhisperer"],
        [r"amazon-q-developer", r"codewhisperer"],
    ),
    _assistant("Windsurf", [r"\bwindsurf\b", r"\bcodeium\b"], [r"\bwindsurf\b", r"\bcodeium\b"]),
    _assistant("Tabnine", [r"\btabnine\b"], [r"\btabnine\b"]),
    _assistant(
        "Sourcegraph Cody",
        [r"sourcegraph\s+cody", r"^\s*cody\b[^<]*<[^>]*sourcegraph", r"\bcody@sourcegraph"],
        [r"\bcody@sourcegraph", r"sourcegraph-cody"],
    ),
    _assistant(
        "JetBrains AI",
        [
            r"jetbrains\s+(?:ai|junie)",
            r"^\s*junie\b[^<]*<[^>]*jetbrains",
            r"\bjunie@jetbrains",
            r"\bjunie\[bot\]",
        ],
        [r"\bjunie@jetbrains", r"\bjunie\[bot\]"],
    ),
    _assistant("Replit Agent", [r"replit[\s-]+agent", r"^\s*replit\s*<"], [r"replit[\s-]+agent"]),
    _assistant("Bolt", [r"\bbolt\.new\b", r"^\s*bolt\s*<"], [r"\bbolt\.new\b"]),
    _assistant(
        "v0",
        [r"^\s*v0\s*<", r"\bv0\[bot\]", r"\bv0@vercel", r"\bv0 by vercel\b"],
        [r"\bv0\[bot\]", r"\bv0@vercel"],
    ),
    _assistant(
        "Lovable",
        [r"lovable-dev\[bot\]", r"^\s*lovable\b", r"@lovable\.(?:dev|app)\b"],
        [r"lovable-dev\[bot\]", r"@lovable\.dev\b"],
    ),
    _assistant("OpenHands", [r"\bopenhands\b", r"@all-hands\.dev\b"], [r"@all-hands\.dev\b"]),
    _assistant("AI bot", [_AI_BOT], [_AI_BOT]),
)

# Trailers naming a co-author: the value is matched against ASSISTANTS.
CO_AUTHOR_TRAILERS: tuple[str, ...] = ("co-authored-by", "co-developed-by")
# Trailers that say AI helped, whatever the value (unless it says "none").
ASSISTED_TRAILERS: tuple[str, ...] = ("assisted-by", "generated-by")
# Trailers that are a flag: AI-assisted when true/yes/1.
FLAG_TRAILERS: tuple[str, ...] = ("ai-assisted", "x-ai-assisted")
_NO_ONE = frozenset({"", "none", "no", "nobody", "n/a", "na", "false", "0", "-"})
_TRUE = frozenset({"true", "yes", "1", "y", "on"})
_TRAILER_SPELLING = {
    "assisted-by": "Assisted-by",
    "generated-by": "Generated-by",
    "ai-assisted": "AI-Assisted",
    "x-ai-assisted": "X-AI-Assisted",
}
# Lines assistants write into the message body themselves (anchored: a whole line, not prose).
MESSAGE_MARKERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "Claude",
        re.compile(r"^\W*Generated with \[Claude Code\]", re.IGNORECASE | re.MULTILINE),
    ),
)


def identify(identity: str, *, agent: bool = False) -> str | None:
    """The assistant an identity ("Name <email>") belongs to, or None for a person or plain bot."""
    for assistant in ASSISTANTS:
        if assistant.matches(identity, agent=agent):
            return assistant.name
    return None


def compile_patterns(patterns: Sequence[str]) -> list[re.Pattern[str]]:
    """Configured extra regexes, case-insensitive and multi-line; a bad one is a GateError."""
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern, re.IGNORECASE | re.MULTILINE))
        except re.error as exc:
            raise GateError(
                f"AI provenance pattern {pattern!r} is not a valid regex: {exc}"
            ) from exc
    return compiled


def classify_commit(
    author: str,
    committer: str,
    trailers: Sequence[tuple[str, str]],
    message: str,
    patterns: Sequence[re.Pattern[str]] = (),
) -> str | None:
    """What marks a commit as AI-assisted, or None for a human commit.

    In order: an agent author or committer, co-author trailers naming an assistant,
    ``Assisted-by``/``Generated-by``/``AI-Assisted`` trailers, an assistant's own message line,
    then the configured patterns (searched in the whole message and the author line).
    """
    for identity in (author, committer):
        name = identify(identity, agent=True)
        if name:
            return name
    for key, value in trailers:
        lowered, value = key.lower(), value.strip()
        if lowered in CO_AUTHOR_TRAILERS:
            name = identify(value)
            if name:
                return name
        elif (lowered in ASSISTED_TRAILERS and value.lower() not in _NO_ONE) or (
            lowered in FLAG_TRAILERS and value.lower() in _TRUE
        ):
            return f"{_TRAILER_SPELLING[lowered]}: {value}"
    for name, marker in MESSAGE_MARKERS:
        if marker.search(message):
            return name
    for pattern in patterns:
        if pattern.search(message) or pattern.search(author):
            return f"pattern: {pattern.pattern}"
    return None
