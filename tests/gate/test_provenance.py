"""AI provenance: commit classification, line attribution, marking findings, tests touched."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from prodready.gate import provenance as provenance_module
from prodready.gate.assistants import classify_commit, identify
from prodready.gate.model import GateError, GateFinding, Provenance
from prodready.gate.provenance import (
    ai_modules_tested,
    collect_provenance,
    default_base,
    is_test_file,
    mark,
    related_tests,
)
from prodready.model import Severity

HUMAN = "Hu Man <human@example.com>"


class Repo:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)

    def git(self, *args: str, env: dict[str, str] | None = None) -> str:
        completed = subprocess.run(
            ["git", *args],
            cwd=self.path,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
            env={**os.environ, **(env or {})},
        )
        return completed.stdout.strip()

    def write(self, name: str, text: str) -> None:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    def commit(self, message: str, *, author: str = HUMAN, committer: str | None = None) -> str:
        self.git("add", "-A")
        env = {}
        if committer:
            name, email = committer.rstrip(">").split(" <")
            env = {"GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}
        subprocess.run(
            ["git", "commit", "-q", "--allow-empty", f"--author={author}", "-F", "-"],
            cwd=self.path,
            input=message,
            text=True,
            check=True,
            timeout=30,
            env={**os.environ, **env},
        )
        return self.git("rev-parse", "HEAD")


@pytest.fixture(autouse=True)
def git_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No dependence on the user's git configuration or on CI variables."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    for variable in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{variable}_NAME", "Hu Man")
        monkeypatch.setenv(f"GIT_{variable}_EMAIL", "human@example.com")
    for variable in ("GITHUB_BASE_REF", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "GIT_DIR"):
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """A repository with one commit on main and a checked-out feature branch."""
    repo = Repo(tmp_path / "repo")
    repo.git("init", "-q", "-b", "main")
    repo.write("app.py", "one = 1\ntwo = 2\nthree = 3\n")
    repo.write("old.py", "gone = True\n")
    repo.commit("initial")
    repo.git("checkout", "-q", "-b", "feature")
    return repo


def finding(path: str, line: int) -> GateFinding:
    return GateFinding("lint", "R1", Severity.LOW, "lint", path, line, "message")


# --- classification ------------------------------------------------------------------------


COMMITS: dict[str, tuple[str, str | None]] = {
    # subject: (rest of the message, expected assistant)
    "human": ("Plain work.", None),
    "claude": ("Body.\n\nCo-authored-by: Claude <noreply@anthropic.com>", "Claude"),
    "claude-code": (
        "🤖 Generated with [Claude Code](https://claude.com/claude-code)\n\n"
        "Co-Authored-By: Claude Opus 4 <noreply@anthropic.com>",
        "Claude",
    ),
    "copilot": (
        "co-authored-by: Copilot <175728472+Copilot@users.noreply.github.com>",
        "Copilot",
    ),
    "cursor": ("Co-authored-by: Cursor Agent <cursoragent@cursor.com>", "Cursor"),
    "gemini": ("Co-developed-by: Gemini Code Assist <gemini@google.com>", "Gemini"),
    "assisted": ("Assisted-by: cursor", "Assisted-by: cursor"),
    "generated": ("Generated-By: GPT-5", "Generated-by: GPT-5"),
    "flag": ("Signed-off-by: Hu Man <human@example.com>\nAI-Assisted: true", "AI-Assisted: true"),
    "flag-x": ("X-AI-Assisted: yes", "X-AI-Assisted: yes"),
    "flag-no": ("AI-Assisted: no", None),
    "assisted-none": ("Assisted-by: none", None),
    "prose": (
        "We should add a Co-authored-by: Claude <noreply@anthropic.com> trailer later.\n\n"
        "Co-authored-by: Claude <noreply@anthropic.com>\n\n"
        "The line above is quoted in prose, not a trailer: this paragraph is the last.",
        None,
    ),
    "renovate": (
        "Co-authored-by: renovate[bot] <29139614+renovate[bot]@users.noreply.github.com>",
        None,
    ),
    "ai-bot": (
        "Co-authored-by: sweep-ai[bot] <128439645+sweep-ai[bot]@users.noreply.github.com>",
        "AI bot",
    ),
    "person-named-claude": ("Co-authored-by: Claude Monet <claude@monet.fr>", None),
    "person-named-devin": ("Co-authored-by: Devin Smith <devin@example.com>", None),
}
AUTHORS: dict[str, tuple[str, str | None]] = {
    "agent-author": (
        "copilot-swe-agent[bot] <198982749+Copilot@users.noreply.github.com>",
        "Copilot",
    ),
    "devin-author": (
        "devin-ai-integration[bot] <158243242+devin-ai-integration[bot]@users.noreply.github.com>",
        "Devin",
    ),
    "aider-author": ("Hu Man (aider) <human@example.com>", "Aider"),
    "dependabot": ("dependabot[bot] <49699333+dependabot[bot]@users.noreply.github.com>", None),
    "claude-the-person": ("Claude Monet <claude@anthropic.com>", None),
}


def test_commits_classified_by_trailers_and_authors(repo: Repo) -> None:
    for subject, (body, _expected) in COMMITS.items():
        repo.commit(f"{subject}\n\n{body}\n")
    for subject, (author, _expected) in AUTHORS.items():
        repo.commit(subject, author=author)
    repo.commit("cursor-committer", committer="Cursor Agent <cursoragent@cursor.com>")

    provenance = collect_provenance(repo.path, "main")
    found = {commit.subject: commit for commit in provenance.commits}
    expected = {subject: assistant for subject, (_, assistant) in {**COMMITS, **AUTHORS}.items()}
    expected["cursor-committer"] = "Cursor"
    assert {subject: commit.assistant for subject, commit in found.items()} == expected
    assert all(commit.ai_assisted == (commit.assistant is not None) for commit in found.values())
    assert found["human"].author == HUMAN
    assert len(found["human"].sha) == 40
    assert provenance.ai_assisted


def test_configured_pattern(repo: Repo) -> None:
    repo.commit("feat: parser [ai]")
    repo.commit("fix: typo", author="Bot Builder <builder@llm.example>")
    plain = collect_provenance(repo.path, "main")
    assert not plain.ai_assisted
    marked = collect_provenance(repo.path, "main", patterns=[r"\[ai\]", r"@llm\.example>"])
    assert [commit.assistant for commit in marked.commits] == [
        r"pattern: @llm\.example>",
        r"pattern: \[ai\]",
    ]
    with pytest.raises(GateError, match="not a valid regex"):
        collect_provenance(repo.path, "main", patterns=["(unclosed"])


@pytest.mark.parametrize(
    ("identity", "expected"),
    [
        ("Claude <noreply@anthropic.com>", "Claude"),
        ("claude[bot] <209825114+claude[bot]@users.noreply.github.com>", "Claude"),
        ("GitHub Copilot <copilot@github.com>", "Copilot"),
        ("Codex <codex@openai.com>", "OpenAI Codex"),
        (
            "chatgpt-codex-connector[bot] "
            "<1+chatgpt-codex-connector[bot]@users.noreply.github.com>",
            "OpenAI Codex",
        ),
        ("gemini-code-assist[bot] <1+gemini-code-assist[bot]@users.noreply.github.com>", "Gemini"),
        ("Devin AI <158243242+devin-ai-integration[bot]@users.noreply.github.com>", "Devin"),
        ("aider (anthropic/claude-sonnet-4) <noreply@aider.chat>", "Aider"),
        ("Amazon Q Developer <q@amazon.com>", "Amazon Q"),
        ("Windsurf <windsurf@codeium.com>", "Windsurf"),
        ("Tabnine <bot@tabnine.com>", "Tabnine"),
        ("Sourcegraph Cody <cody@sourcegraph.com>", "Sourcegraph Cody"),
        ("Junie <junie@jetbrains.com>", "JetBrains AI"),
        ("Replit Agent <agent@replit.com>", "Replit Agent"),
        ("bolt.new <bolt@stackblitz.com>", "Bolt"),
        ("v0[bot] <1+v0[bot]@users.noreply.github.com>", "v0"),
        ("lovable-dev[bot] <1+lovable-dev[bot]@users.noreply.github.com>", "Lovable"),
        ("openai[bot] <1+openai[bot]@users.noreply.github.com>", "AI bot"),
        ("gptbot[bot] <1+gptbot[bot]@users.noreply.github.com>", "AI bot"),
        ("dependabot[bot] <49699333+dependabot[bot]@users.noreply.github.com>", None),
        ("renovate[bot] <29139614+renovate[bot]@users.noreply.github.com>", None),
        ("github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>", None),
        ("release-train[bot] <1+release-train[bot]@users.noreply.github.com>", None),
        ("Jane Doe <jane@google.com>", None),
        ("Cody Banks <cody@example.com>", None),
    ],
)
def test_known_assistants(identity: str, expected: str | None) -> None:
    assert identify(identity) == expected


def test_agent_identity_is_stricter_than_co_author() -> None:
    # As a co-author, anyone at anthropic.com counts; as the author, only the agent accounts.
    assert identify("Ann <ann@anthropic.com>") == "Claude"
    assert identify("Ann <ann@anthropic.com>", agent=True) is None
    assert identify("Claude <noreply@anthropic.com>", agent=True) == "Claude"
    assert classify_commit(HUMAN, HUMAN, [], "Fix\n\nGenerated with [Claude Code](x)") == "Claude"
    assert classify_commit(HUMAN, HUMAN, [("Co-authored-by", "Jo <jo@example.com>")], "x") is None


# --- lines ---------------------------------------------------------------------------------


def test_lines_attributed_to_last_commit(repo: Repo) -> None:
    base = repo.git("rev-parse", "main")
    repo.write("app.py", "one = 1\nTWO = 2\nthree = 3\nfour = 4\nfive = 5\n")
    human = repo.commit("human edit")
    repo.write("app.py", "one = 1\nTWO = 2\nthree = 3\nFOUR = 4\nfive = 5\nsix = 6\n")
    ai = repo.commit("ai edit\n\nCo-authored-by: Claude <noreply@anthropic.com>\n")
    # main moves on after the branch: not part of the change
    repo.git("checkout", "-q", "main")
    repo.write("later.py", "x = 1\n")
    repo.commit("later on main")
    repo.git("checkout", "-q", "feature")
    # uncommitted and untracked work is human
    repo.write("app.py", "ONE = 1\nTWO = 2\nthree = 3\nFOUR = 4\nfive = 5\nsix = 6\n")
    repo.write("scratch.py", "a = 1\nb = 2")

    provenance = collect_provenance(repo.path, "main")
    assert provenance.base == base
    assert [commit.sha for commit in provenance.commits] == [ai, human]
    assert provenance.changed_files == ["app.py", "scratch.py"]
    assert provenance.ai_lines == {"app.py": {4, 6}}
    assert provenance.human_lines == {"app.py": {1, 2, 5}, "scratch.py": {1, 2}}
    assert provenance.line_commits == {"app.py": {2: human, 4: ai, 5: human, 6: ai}}
    summary = provenance.to_dict()
    assert summary["ai_changed_lines"] == 2
    assert summary["human_changed_lines"] == 5

    findings = [
        finding("app.py", 4),
        finding("./app.py", 2),
        finding("app.py", 1),
        finding("app.py", 3),
        finding("scratch.py", 2),
        finding("other.py", 4),
    ]
    mark(findings, provenance)
    assert [(f.ai_assisted, f.commit) for f in findings] == [
        (True, ai),
        (False, human),
        (False, None),  # uncommitted
        (None, None),  # not changed
        (False, None),  # untracked
        (None, None),
    ]


def test_renamed_and_deleted_files(repo: Repo) -> None:
    repo.write("mod.py", "".join(f"line{n} = {n}\n" for n in range(1, 11)))
    repo.commit("add mod")
    repo.git("branch", "-q", "-f", "main")
    (repo.path / "pkg").mkdir()
    repo.git("mv", "mod.py", "pkg/renamed.py")
    repo.git("rm", "-q", "old.py")
    repo.commit("move and delete")
    text = (repo.path / "pkg/renamed.py").read_text().replace("line3 = 3", "line3 = 33")
    repo.write("pkg/renamed.py", text)
    ai = repo.commit("tweak", author="Cursor Agent <cursoragent@cursor.com>")

    provenance = collect_provenance(repo.path, "main")
    assert provenance.changed_files == ["pkg/renamed.py"]
    assert provenance.ai_lines == {"pkg/renamed.py": {3}}
    assert provenance.human_lines == {}
    assert provenance.line_commits == {"pkg/renamed.py": {3: ai}}


def test_caps_are_noted(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    repo.write("a.py", "a = 1\n")
    ai = repo.commit("older\n\nGenerated-by: Codex")
    repo.write("b.py", "b = 1\n")
    human = repo.commit("newer")
    repo.write("c.py", "c = 1\n")
    repo.git("add", "c.py")  # staged, not committed: human
    monkeypatch.setattr(provenance_module, "MAX_COMMITS", 1)
    monkeypatch.setattr(provenance_module, "MAX_FILES", 2)
    notes: list[str] = []
    provenance = collect_provenance(repo.path, "main", notes=notes)
    assert [commit.sha for commit in provenance.commits] == [human]
    assert provenance.changed_files == ["a.py", "b.py", "c.py"]
    # lines of a commit past the cap are still classified; files past the cap are not attributed
    assert provenance.ai_lines == {"a.py": {1}}
    assert provenance.human_lines == {"b.py": {1}}
    assert provenance.line_commits == {"a.py": {1: ai}, "b.py": {1: human}}
    assert len(notes) == 2
    assert "more than 1 commits" in notes[0]
    assert "3 changed files" in notes[1]
    monkeypatch.setattr(provenance_module, "MAX_FILES", 10)
    assert collect_provenance(repo.path, "main").human_lines["c.py"] == {1}
    assert "c.py" not in collect_provenance(repo.path, "main").line_commits


def test_project_in_a_subdirectory(repo: Repo) -> None:
    repo.write("svc/app.py", "a = 1\n")
    repo.write("other/app.py", "b = 1\n")
    repo.commit("two projects\n\nAssisted-by: aider")
    repo.write("svc/app.py", "a = 1\nc = 2\n")
    human = repo.commit("svc only")

    provenance = collect_provenance(repo.path / "svc", "main")
    assert provenance.changed_files == ["app.py"]
    assert provenance.human_lines == {"app.py": {2}}
    assert provenance.ai_lines == {"app.py": {1}}
    assert provenance.line_commits["app.py"][2] == human


# --- base ----------------------------------------------------------------------------------


def test_default_base(repo: Repo, tmp_path: Path) -> None:
    main = repo.git("rev-parse", "main")
    repo.write("new.py", "x = 1\n")
    repo.commit("feature work")
    assert default_base(repo.path) == main
    empty = collect_provenance(repo.path, default_base(repo.path))
    assert empty.changed_files == ["new.py"]

    repo.git("checkout", "-q", "main")
    assert default_base(repo.path) is None  # on the default branch, no upstream: no range
    assert collect_provenance(repo.path, None) == Provenance(base=None)

    clone = Repo(tmp_path / "clone")
    repo.git("clone", "-q", str(repo.path), str(clone.path))
    assert default_base(clone.path) == main  # up to date with origin/main: an empty range
    assert collect_provenance(clone.path, main).commits == []
    clone.write("local.py", "y = 1\n")
    local = clone.commit("unpushed")
    assert default_base(clone.path) == main
    assert [c.sha for c in collect_provenance(clone.path, main).commits] == [local]


def test_unknown_base(repo: Repo) -> None:
    with pytest.raises(GateError, match=r"^--base mian: unknown revision \(did you mean main\?\)$"):
        collect_provenance(repo.path, "mian")
    with pytest.raises(GateError, match=r"^--base zzzzqqq: unknown revision$"):
        collect_provenance(repo.path, "zzzzqqq")
    with pytest.raises(GateError, match="not a revision"):
        collect_provenance(repo.path, "--output=/tmp/x")


def test_unrelated_history(repo: Repo) -> None:
    repo.git("checkout", "-q", "--orphan", "island")
    repo.commit("unrelated")
    with pytest.raises(GateError, match="no common history with HEAD"):
        collect_provenance(repo.path, "main")


def test_not_a_git_repository(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert default_base(plain) is None
    assert collect_provenance(plain, None) == Provenance(base=None)
    with pytest.raises(GateError, match="not in a git repository"):
        collect_provenance(plain, "main")
    fresh = Repo(tmp_path / "fresh")
    fresh.git("init", "-q", "-b", "main")
    assert default_base(fresh.path) is None
    with pytest.raises(GateError, match="no commits yet"):
        collect_provenance(fresh.path, "main")


# --- tests touched -------------------------------------------------------------------------


def test_is_test_file() -> None:
    assert is_test_file("tests/helpers.py")
    assert is_test_file("pkg/tests/data.json")
    assert is_test_file("test_app.py")
    assert is_test_file("pkg/app_test.py")
    assert is_test_file("conftest.py")
    assert not is_test_file("src/contest.py")
    assert not is_test_file("src/latest.py")
    assert related_tests("src/pkg/git.py", ["tests/test_git.py", "tests/test_digit.py"]) == [
        "tests/test_git.py"
    ]
    assert related_tests("src/gate/__init__.py", ["tests/gate/test_x.py"]) == [
        "tests/gate/test_x.py"
    ]


def test_tests_touched() -> None:
    provenance = Provenance(
        base="abc",
        changed_files=["README.md", "src/pkg/core.py", "src/pkg/util.py", "tests/test_other.py"],
        ai_lines={"src/pkg/core.py": {1}, "README.md": {2}, "tests/test_other.py": {3}},
        human_lines={"src/pkg/util.py": {1}},
    )
    assert ai_modules_tested(provenance) == {"src/pkg/core.py": True}
    assert ai_modules_tested(provenance, strict=True) == {"src/pkg/core.py": False}
    provenance.changed_files.append("tests/test_core.py")
    assert ai_modules_tested(provenance, strict=True) == {"src/pkg/core.py": True}
    provenance.changed_files = ["src/pkg/core.py"]
    assert ai_modules_tested(provenance) == {"src/pkg/core.py": False}
    assert ai_modules_tested(Provenance(base=None)) == {}
    # what the release policy reads: the modules, and whether any test changed in the range
    assert provenance_module.tests_touched(provenance) == (["src/pkg/core.py"], False)
    provenance.changed_files.append("pkg/conftest.py")
    assert provenance_module.tests_touched(provenance) == (["src/pkg/core.py"], True)
    assert provenance_module.tests_touched(Provenance(base=None)) == ([], False)
