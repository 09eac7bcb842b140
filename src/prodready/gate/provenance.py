"""AI provenance of a change: which commits are AI-assisted and who wrote each changed line.

The gate treats AI-written code as untrusted input. For the change range ``merge-base..HEAD``:

* each commit is classified by :mod:`prodready.gate.assistants` from its trailers, its author
  and committer identities and its message. Trailers are git's own (``%(trailers)``): only the
  final paragraph of a message counts, so prose that mentions a trailer does not;
* each changed line is attributed to the commit that last touched it (``git blame``).

Line numbers are those of the working tree, which is what the stages scan: changed lines come from
``git diff -U0 <base>`` (working tree against the base) and blame annotates the working-tree copy,
stopping at the base (``git blame ^<base>``). Uncommitted changes and untracked (not ignored) files
are attributed to no commit: they count as human until committed. Blame runs without ``-w``:
indentation is syntax in Python, so a line an assistant re-indented is the assistant's line.

Paths are relative to the directory given (a project inside a larger repository sees only its own
files, and only the commits that touch them). Without a base there is no change range and the
provenance is empty.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

from prodready.engine.git import GitUnavailable, diff_lines, run_git
from prodready.gate.assistants import classify_commit, compile_patterns
from prodready.gate.model import Commit, GateError, GateFinding, Provenance

MAX_FILES = 2000  # changed files whose lines are attributed; the rest are listed only
MAX_COMMITS = 5000
MAX_BLAME_RANGES = 200  # more hunks than this: blame the whole file once instead of -L ranges
MAX_UNTRACKED_BYTES = 2_000_000
BLAME_WORKERS = 8
TEST_PATTERNS: tuple[str, ...] = ("tests/", "test_", "_test.py", "conftest.py")

_UNCOMMITTED = re.compile(r"^0+$")
_BLAME_HEADER = re.compile(r"^([0-9a-f]{40,64}) \d+ (\d+) (\d+)$")
_TRAILER = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]*)\s*:\s*(.*)$")
_LOG_FORMAT = "%H%x00%an <%ae>%x00%cn <%ce>%x00%s%x00%(trailers:only,unfold)%x00%B%x1e"


# --- git ---------------------------------------------------------------------------------


def _try(repo: Path, *args: str) -> str | None:
    """Output of a git command, None when it fails (a probe, not an error)."""
    completed = run_git(repo, *args)
    return completed.stdout.strip() if completed.returncode == 0 else None


def _run(repo: Path, *args: str) -> str:
    completed = run_git(repo, *args)
    if completed.returncode != 0:
        detail = completed.stderr.strip().splitlines()
        raise GateError(f"git {args[0]} failed: {detail[-1] if detail else 'error'}")
    return completed.stdout


def default_base(repo: Path) -> str | None:
    """The merge-base of HEAD with the default branch (a commit id), or None.

    Candidates, first that exists and shares history with HEAD: ``origin/$GITHUB_BASE_REF`` and
    ``origin/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME`` in CI, ``origin/HEAD``, ``origin/main``,
    ``origin/master``, ``main``, ``master``. The branch HEAD is on is skipped (it is no base for
    itself), so on the default branch with an upstream the range is the unpushed commits (empty
    when up to date), and without one there is no change range: None. None too outside a git
    repository, without commits, without git, or in a shallow clone without the base's history.
    """
    try:
        if _try(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}") is None:
            return None
        branch = _try(repo, "symbolic-ref", "--quiet", "--short", "HEAD")
        candidates = [
            f"origin/{os.environ[variable]}"
            for variable in ("GITHUB_BASE_REF", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME")
            if os.environ.get(variable)
        ]
        origin_head = _try(repo, "symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD")
        if origin_head:
            candidates.append(origin_head)
        candidates += ["origin/main", "origin/master", "main", "master"]
        for candidate in dict.fromkeys(candidates):
            if candidate == branch or candidate.startswith("-"):
                continue
            if _try(repo, "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}") is None:
                continue
            merge_base = _try(repo, "merge-base", candidate, "HEAD")
            if merge_base:
                return merge_base
    except GitUnavailable:
        return None
    return None


def collect_provenance(
    repo: Path,
    base: str | None,
    *,
    patterns: Sequence[str] = (),
    notes: list[str] | None = None,
) -> Provenance:
    """Commits, changed files and line attribution for ``merge-base(base, HEAD)..HEAD``.

    ``base`` None: no change range, an empty provenance. Caps (``MAX_FILES``, ``MAX_COMMITS``)
    are reported in ``notes`` when given. A git problem (unknown base, not a repository, git
    missing or too slow) raises GateError.
    """
    compiled = compile_patterns(patterns)
    if base is None:
        return Provenance(base=None)
    if base.startswith("-"):
        raise GateError(f"--base {base}: not a revision")
    try:
        return _collect(repo, base, compiled, notes if notes is not None else [])
    except GitUnavailable as exc:
        raise GateError(f"--base {base}: {exc}") from exc


def _collect(
    repo: Path, base: str, patterns: Sequence[re.Pattern[str]], notes: list[str]
) -> Provenance:
    prefix = _try(repo, "rev-parse", "--show-prefix")
    if prefix is None:
        raise GateError(f"--base {base}: {repo} is not in a git repository")
    if _try(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}") is None:
        raise GateError(f"--base {base}: the repository has no commits yet")
    merge_base = _merge_base(repo, base)
    provenance = Provenance(base=merge_base)
    pathspec = ["--", "."] if prefix else []

    log = _run(
        repo,
        "log",
        "--no-color",
        "--no-show-signature",
        "--encoding=UTF-8",
        f"--max-count={MAX_COMMITS + 1}",
        f"--format={_LOG_FORMAT}",
        f"{merge_base}..HEAD",
        *pathspec,
    )
    provenance.commits = _parse_log(log, patterns)
    if len(provenance.commits) > MAX_COMMITS:
        del provenance.commits[MAX_COMMITS:]
        notes.append(f"provenance: more than {MAX_COMMITS} commits in the range; listed the latest")

    diff = ["diff", "--no-color", "--no-ext-diff", "--ignore-submodules=all", "-M", "--relative"]
    status = _run(repo, *diff, "--name-status", "-z", merge_base, "--").split("\0")
    tracked: list[str] = []
    index = 0
    while index < len(status):
        code = status[index]
        if not code:
            index += 1
            continue
        # Renames and copies are followed by the old and the new name; keep the new one.
        names = 2 if code[0] in "RC" else 1
        if code[0] != "D" and index + names < len(status):
            tracked.append(status[index + names])
        index += names + 1
    untracked_output = _run(repo, "ls-files", "--others", "--exclude-standard", "-z")
    untracked = [name for name in untracked_output.split("\0") if name and not name.endswith("/")]
    provenance.changed_files = sorted(set(tracked) | set(untracked))
    attributed = set(provenance.changed_files[:MAX_FILES])
    if len(provenance.changed_files) > MAX_FILES:
        notes.append(
            f"provenance: {len(provenance.changed_files)} changed files; attributed the lines "
            f"of the first {MAX_FILES} only"
        )

    patch = _run(repo, *diff, "-U0", "--src-prefix=a/", "--dst-prefix=b/", merge_base, "--")
    changed = {
        path: lines for path, lines in diff_lines(patch).items() if lines and path in attributed
    }
    for path in untracked:
        count = _line_count(repo / path) if path in attributed else 0
        if count:
            changed[path] = set(range(1, count + 1))  # new, uncommitted: no blame

    untracked_set = set(untracked)
    to_blame = sorted(path for path in changed if path not in untracked_set)
    with ThreadPoolExecutor(max_workers=max(1, min(BLAME_WORKERS, len(to_blame)))) as pool:
        blames = dict(
            zip(
                to_blame,
                pool.map(lambda path: _blame(repo, merge_base, path, changed[path]), to_blame),
                strict=True,
            )
        )

    ai_by_sha = {commit.sha: commit.ai_assisted for commit in provenance.commits}
    boundary: set[str] = set()
    for _lines, file_boundary in blames.values():
        boundary |= file_boundary
    unknown = {
        sha
        for lines, _boundary in blames.values()
        for sha in lines.values()
        if sha not in ai_by_sha and sha not in boundary and not _UNCOMMITTED.match(sha)
    }
    if unknown:  # e.g. a merge left out by path limiting, or past the commit cap
        for commit in _commits(repo, sorted(unknown), patterns):
            ai_by_sha[commit.sha] = commit.ai_assisted

    for path in sorted(changed):
        by_line = blames.get(path, ({}, set()))[0]
        ai: set[int] = set()
        human: set[int] = set()
        commits: dict[int, str] = {}
        for line in sorted(changed[path]):
            sha = by_line.get(line)
            if sha is None or sha in boundary or _UNCOMMITTED.match(sha):
                human.add(line)  # uncommitted, untracked, or the base's own line
                continue
            commits[line] = sha
            (ai if ai_by_sha.get(sha, False) else human).add(line)
        if ai:
            provenance.ai_lines[path] = ai
        if human:
            provenance.human_lines[path] = human
        if commits:
            provenance.line_commits[path] = commits
    return provenance


def _merge_base(repo: Path, base: str) -> str:
    resolved = _try(repo, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}")
    if resolved is None:
        refs = _try(
            repo,
            "for-each-ref",
            "--format=%(refname:short)",
            "refs/heads",
            "refs/remotes",
            "refs/tags",
        )
        names = [name for name in (refs or "").splitlines() if name]
        close = difflib.get_close_matches(base, names, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise GateError(f"--base {base}: unknown revision{hint}")
    merge_base = _try(repo, "merge-base", resolved, "HEAD")
    if not merge_base:
        shallow = _try(repo, "rev-parse", "--is-shallow-repository") == "true"
        hint = " (a shallow clone: fetch the history, e.g. fetch-depth: 0)" if shallow else ""
        raise GateError(f"--base {base}: no common history with HEAD{hint}")
    return merge_base


def _parse_log(output: str, patterns: Sequence[re.Pattern[str]]) -> list[Commit]:
    commits = []
    for record in output.split("\x1e"):
        record = record.lstrip("\n")
        if not record:
            continue
        fields = record.split("\0", 5)
        if len(fields) < 6:
            continue
        sha, author, committer, subject, trailer_text, message = fields
        trailers = [
            (match.group(1), match.group(2))
            for match in map(_TRAILER.match, trailer_text.splitlines())
            if match
        ]
        assistant = classify_commit(author, committer, trailers, message, patterns)
        commits.append(
            Commit(
                sha=sha,
                subject=subject,
                author=author,
                ai_assisted=assistant is not None,
                assistant=assistant,
            )
        )
    return commits


def _commits(repo: Path, shas: Sequence[str], patterns: Sequence[re.Pattern[str]]) -> list[Commit]:
    commits: list[Commit] = []
    for start in range(0, len(shas), 500):
        output = _run(
            repo,
            "log",
            "--no-walk=unsorted",
            "--no-color",
            "--no-show-signature",
            "--encoding=UTF-8",
            f"--format={_LOG_FORMAT}",
            *shas[start : start + 500],
        )
        commits += _parse_log(output, patterns)
    return commits


def _ranges(lines: set[int]) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for line in sorted(lines):
        if ranges and line == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], line)
        else:
            ranges.append((line, line))
    return ranges


def _blame(repo: Path, base: str, path: str, lines: set[int]) -> tuple[dict[int, str], set[str]]:
    """Line -> commit for the changed lines of the working-tree file, and the boundary commits."""
    ranges = _ranges(lines)
    selection: list[str] = []
    if len(ranges) <= MAX_BLAME_RANGES:
        for start, end in ranges:
            selection += ["-L", f"{start},{end}"]
    output = _run(repo, "blame", "--incremental", *selection, f"^{base}", "--", path)
    by_line: dict[int, str] = {}
    boundary: set[str] = set()
    current: str | None = None
    for text in output.splitlines():
        match = _BLAME_HEADER.match(text)
        if match:
            current = match.group(1)
            start, count = int(match.group(2)), int(match.group(3))
            for line in range(start, start + count):
                by_line[line] = current
        elif text == "boundary" and current is not None:
            boundary.add(current)
    return by_line, boundary


def _line_count(path: Path) -> int:
    """Lines of an untracked text file (0 for binary, unreadable or very large files)."""
    try:
        if path.is_symlink() or not path.is_file():
            return 0
        if path.stat().st_size > MAX_UNTRACKED_BYTES:
            return 0
        data = path.read_bytes()
    except OSError:
        return 0
    if b"\0" in data:
        return 0
    return data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)


# --- using it ----------------------------------------------------------------------------


def _normal(path: str) -> str:
    text = path.replace("\\", "/")
    while text.startswith("./"):
        text = text[2:]
    return str(PurePosixPath(text)) if text else text


def mark(findings: Iterable[GateFinding], provenance: Provenance) -> None:
    """Set ``ai_assisted`` and ``commit`` on findings at a changed line; others stay None.

    A finding is placed by its ``path`` (relative to the directory provenance was collected
    for) and its first ``line``. An uncommitted changed line is human, with no commit.
    """
    for finding in findings:
        path = _normal(finding.path)
        line = finding.line
        if line in provenance.ai_lines.get(path, ()):
            finding.ai_assisted = True
        elif line in provenance.human_lines.get(path, ()):
            finding.ai_assisted = False
        else:
            continue
        finding.commit = provenance.line_commits.get(path, {}).get(line)


def is_test_file(path: str, test_patterns: Sequence[str] = TEST_PATTERNS) -> bool:
    """Whether a path is a test file: a pattern ending in "/" is a directory anywhere in the
    path, one ending in ".py" a file-name suffix, any other a file-name prefix."""
    path = _normal(path)
    parts = path.split("/")
    name = parts[-1]
    for pattern in test_patterns:
        if pattern.endswith("/"):
            if pattern.rstrip("/") in parts[:-1]:
                return True
        elif pattern.endswith(".py"):
            if name.endswith(pattern):
                return True
        elif name.startswith(pattern):
            return True
    return False


def _stem(module: str) -> str:
    path = PurePosixPath(module)
    return path.parent.name if path.stem == "__init__" else path.stem


def related_tests(module: str, tests: Iterable[str]) -> list[str]:
    """The test files whose path mentions the module's stem as a word (``test_git.py`` for
    ``engine/git.py``; the package name for an ``__init__.py``)."""
    stem = _stem(module).lower()
    if not stem:
        return []
    word = re.compile(rf"(?<![a-z0-9]){re.escape(stem)}(?![a-z0-9])")
    return [test for test in tests if word.search(_normal(test).lower())]


def tests_touched(
    provenance: Provenance, *, test_patterns: Sequence[str] = TEST_PATTERNS
) -> tuple[list[str], bool]:
    """The non-test Python modules with AI-attributed changed lines, and whether any test file
    changed in the range (the lenient heuristic; ``ai_modules_tested(strict=True)`` asks per
    module for a changed test whose path mentions the module's stem).

    Test modules must not import this name directly: pytest would collect it as a test.
    """
    tested = ai_modules_tested(provenance, test_patterns=test_patterns)
    return list(tested), any(is_test_file(path, test_patterns) for path in provenance.changed_files)


def ai_modules_tested(
    provenance: Provenance,
    *,
    test_patterns: Sequence[str] = TEST_PATTERNS,
    strict: bool = False,
) -> dict[str, bool]:
    """For each non-test Python module with AI-attributed changed lines: were tests changed?

    The heuristic: any test file changed in the range counts for every module; with ``strict``,
    only a changed test file whose path mentions the module's stem (see ``related_tests``).
    """
    tests = [path for path in provenance.changed_files if is_test_file(path, test_patterns)]
    modules = sorted(
        path
        for path, lines in provenance.ai_lines.items()
        if lines and path.endswith(".py") and not is_test_file(path, test_patterns)
    )
    if strict:
        return {module: bool(related_tests(module, tests)) for module in modules}
    return dict.fromkeys(modules, bool(tests))
