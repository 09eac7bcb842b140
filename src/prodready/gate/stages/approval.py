"""``approval``: a human signs off a specific commit.

Until the findings store exists, the approval is a TOML file (default
``.prodready/approval.toml``) with ``approved-by``, the ``commit`` it approves and a ``date``.
It is required when the policy says so: always, or for changes with AI-assisted commits.
"""

from __future__ import annotations

import subprocess
import tomllib

from prodready.gate.model import StageResult, StageStatus
from prodready.gate.stages.base import StageContext


def _head(ctx: StageContext) -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=ctx.project,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def approval(ctx: StageContext) -> StageResult:
    settings = ctx.stage("approval")
    ai = ctx.provenance.ai_assisted
    needed = ctx.settings.policy.require_approval or (
        ai and ctx.settings.ai_policy.require_approval
    )
    why = (
        "the policy for AI-assisted changes"
        if ai and not ctx.settings.policy.require_approval
        else "the policy"
    )
    path = ctx.project / settings.file
    result = StageResult("approval", StageStatus.SKIP, "", required=needed, ai_assisted=ai)
    if not path.is_file():
        if needed:
            result.status = StageStatus.FAIL
            result.summary = f"{why} requires a human approval: none recorded in {settings.file}"
        else:
            result.summary = "no approval required by the policy, none recorded"
        return result
    try:
        record = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        result.status = StageStatus.ERROR
        result.summary = f"{settings.file}: cannot read the approval: {exc}"
        return result
    approver, commit = record.get("approved-by"), record.get("commit")
    head = _head(ctx)
    result.figures = {
        "approved_by": approver,
        "commit": commit,
        "head": head,
        "date": record.get("date"),
    }
    if not isinstance(approver, str) or not approver.strip():
        result.status = StageStatus.FAIL
        result.summary = f"{settings.file} names no approver (approved-by)"
    elif (
        not isinstance(commit, str)
        or len(commit) < 7
        or head is None
        or not head.startswith(commit)
    ):
        result.status = StageStatus.FAIL
        result.summary = (
            f"the approval by {approver} is for {commit!r}, not for HEAD {(head or '?')[:12]}"
        )
    else:
        result.status = StageStatus.PASS
        result.summary = f"approved by {approver} for {commit[:12]}"
    return result
