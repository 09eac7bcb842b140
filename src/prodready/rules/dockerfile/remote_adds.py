"""Dockerfile: ADD of a remote URL (DKR008)."""

from __future__ import annotations

import re
import shlex

from prodready.plugin import (
    Category,
    Dockerfile,
    FileContext,
    FileKind,
    Instruction,
    Role,
    Severity,
    file_rule,
)
from prodready.rules.dockerfile._shared import _SHELLS, _base, _shell_lines, _text_line

# -- DKR008 -----------------------------------------------------------------------------------

_FETCHERS = frozenset({"curl", "wget"})
_INTERPRETERS = re.compile(r"(?:ba|z|da|k)?sh|ash|python[0-9.]*|perl|ruby|node|php")
# Options that give the interpreter its program inline: stdin is then only data.
_INLINE_PROGRAM: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("sh", "bash", "zsh", "dash", "ash", "ksh"), ("-c",)),
    "python": ("-c", "-m"),
}
_RUN_PREFIXES = frozenset({"sudo", "env", "exec", "command", "nice", "nohup", "time"})
_COMMIT = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
# ``sh -c "$(curl ...)"``, ``bash <(wget -O- ...)``: a download executed without a pipe.
_SUBSTITUTED_DOWNLOAD = re.compile(
    r"(?<![\w.-])(?:(?:ba|z|da|k)?sh|python[0-9.]*|eval)\s+(?:-\S+\s+)*"
    r"(?:<\(|[\"']?\$\(|[\"']?`)\s*(?:curl|wget)\b"
)
_DOWNLOAD_WORD = re.compile(r"\b(?:curl|wget)\b")


def _pipeline_tokens(text: str) -> list[str]:
    """Shell tokens with the operators (``|``, ``&&``, ``;``, ``(``) split off even when they
    are not surrounded by spaces; a word starting with ``#`` ends the command line."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    tokens: list[str] = []
    try:
        for token in lexer:
            if token.startswith("#"):
                break
            tokens.append(token)
    except ValueError:  # an unbalanced quote: fall back to whitespace
        tokens = text.split()
    return tokens


def _command_name(words: list[str]) -> tuple[str, list[str]]:
    """The program a simple command runs (past ``sudo -E``, ``env X=1``...) and its arguments."""
    position = 0
    while position < len(words):
        word = words[position]
        name = _base(word)
        if name in _RUN_PREFIXES or (word.startswith("-") and position > 0):
            position += 1
            continue
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", word):
            position += 1  # VAR=value prefix
            continue
        return name, words[position + 1 :]
    return "", []


def _pipes_download_into_interpreter(text: str, depth: int = 0) -> bool:
    """``curl ... | sh``, ``wget -O- ... | sudo bash -``, ``curl ... | python3 -``, also inside
    ``sh -c "<script>"``."""
    if depth > 3 or not _DOWNLOAD_WORD.search(text):
        return False
    if _SUBSTITUTED_DOWNLOAD.search(text):
        return True
    commands: list[tuple[str | None, list[str]]] = []
    operator: str | None = None
    words: list[str] = []
    for token in _pipeline_tokens(text):
        if token and set(token) <= set("|&;()<>"):
            commands.append((operator, words))
            operator, words = token, []
        else:
            words.append(token)
    commands.append((operator, words))
    for position, (_, fetch) in enumerate(commands):
        name, arguments = _command_name(fetch)
        if name in _SHELLS and "-c" in arguments:
            script = arguments[arguments.index("-c") + 1 : arguments.index("-c") + 2]
            if script and _pipes_download_into_interpreter(script[0], depth + 1):
                return True
        if name not in _FETCHERS:
            continue
        for later_operator, later in commands[position + 1 :]:
            if later_operator not in {"|", "|&"}:
                break
            name, arguments = _command_name(later)
            if _INTERPRETERS.fullmatch(name) and not any(
                argument in _INLINE_PROGRAM.get(name[:6], ("-e", "-r")) for argument in arguments
            ):
                return True  # the downloaded text is the program, not data for `-c "..."`
    return False


# Hosts where anyone can publish under a path of their own (raw repository content, gists,
# buckets, CDNs mirroring packages, tunnels): a script there is whoever's account that is, not
# a vendor's domain -- a pipe from one stays high whatever the transport.
_SHARED_HOSTS = frozenset(
    {"github.com", "raw.githubusercontent.com", "gist.githubusercontent.com", "gist.github.com"}
    | {"objects.githubusercontent.com", "codeload.github.com", "gitlab.com", "bitbucket.org"}
    | {"pastebin.com", "storage.googleapis.com", "cdn.jsdelivr.net", "unpkg.com"}
    | {"transfer.sh", "dl.dropboxusercontent.com", "drive.google.com"}
)
_SHARED_HOST_SUFFIXES = (".amazonaws.com", ".blob.core.windows.net", ".ngrok.io", ".ngrok-free.app")
_URL = re.compile(r"(?<![\w$])(https?)://([^/\s\"'`)|;]+)", re.IGNORECASE)


def _vendor_host(command_line: str) -> str | None:
    """The host every download of the command comes from when it is a domain of its own
    reached over HTTPS (``https://astral.sh/uv/install.sh``: the vendor's documented installer
    host); None when any goes over plain HTTP, to an IP address, to a host anyone can publish
    on, or to an address the line does not show (``curl "$URL" | sh``)."""
    found = _URL.findall(command_line)
    downloads = len(_DOWNLOAD_WORD.findall(command_line))
    if not found or len(found) < downloads:
        return None
    hosts = set()
    for scheme, authority in found:
        host = authority.rpartition("@")[2].partition(":")[0].lower()
        if (
            scheme.lower() != "https"
            or "$" in host
            or "." not in host
            or re.fullmatch(r"[0-9.]+", host)
            or host in _SHARED_HOSTS
            or host.endswith(_SHARED_HOST_SUFFIXES)
        ):
            return None
        hosts.add(host)
    return ", ".join(sorted(hosts))


_PIPED_DOWNLOAD_LINE = re.compile(r"\b(?:curl|wget)\b[^|]*\|")
_DOWNLOAD_COMMAND_LINE = re.compile(r"\b(?:curl|wget)\s+(?:-|https?:|[\"'$])")


def _download_line(ctx: FileContext, instruction: Instruction) -> int:
    """The line of a multi-line RUN with the download that is executed (not the line that
    installs curl with apt-get)."""
    for pattern in (_PIPED_DOWNLOAD_LINE, _SUBSTITUTED_DOWNLOAD, _DOWNLOAD_COMMAND_LINE):
        line = _text_line(ctx, instruction, pattern)
        if line != instruction.line or pattern.search(ctx.lines[line - 1]):
            return line
    return instruction.line


def _git_source(source: str) -> bool:
    lower = source.lower()
    if lower.startswith(("git@", "git://", "ssh://")):
        return True
    address = lower.partition("#")[0]
    return address.endswith(".git") or ".git/" in address


def _remote_add_problem(source: str, checksum: bool) -> tuple[str, Severity | None] | None:
    """What is wrong with ``ADD <source>``: a message part and a severity, or None."""
    if _git_source(source):
        reference = source.partition("#")[2].partition(":")[0]
        if checksum or _COMMIT.fullmatch(reference.lower()):
            return None
        what = f"`#{reference}`" if reference else "the default branch"
        return (
            f"`ADD {source}` clones {what}, a ref that can be moved or force-pushed: the build "
            "takes whatever the repository holds that day; pin the full commit SHA "
            "(`#<40-hex sha>`) or use ADD --checksum",
            None,
        )
    lower = source.lower()
    if not lower.startswith(("http://", "https://")) or checksum:
        return None
    plain = lower.startswith("http://")
    return (
        f"`ADD {source}` downloads a file into the image without verifying it"
        + (" -- over plain HTTP, so anyone on the path can swap it" if plain else "")
        + ": a compromised or re-published upstream file ships in the image unnoticed; add "
        "--checksum=sha256:<digest> (or download in a RUN and check sha256sum -c)",
        Severity.HIGH if plain else None,
    )


@file_rule(
    kind=FileKind.DOCKERFILE,
    code="DKR008",
    name="dockerfile-add-remote-url",
    category=Category.SECURITY,
    severity=Severity.MEDIUM,
    cwe=494,
    summary="ADD of a URL or git ref without checksum, or a download piped into a shell",
    # A CI or test image runs with the pipeline's secrets: a tampered installer steals them.
    roles=(Role.SERVICE, Role.SCRIPT, Role.MANAGEMENT_COMMAND, Role.DEV_INFRA),
    fix="ADD --checksum=sha256:<digest> <url>, pin git sources to a commit, and download "
    "installers to a file, verify them (sha256sum -c), then run them.",
)
def dockerfile_add_remote_url(document: Dockerfile, ctx: FileContext) -> None:
    """
    ## What it does
    Flags code fetched into the image without an integrity check, in any stage: `ADD` of an
    `http(s)://` URL without `--checksum=`, `ADD` of a git repository at a branch or tag
    instead of a commit SHA, and `RUN` commands that pipe a download into an interpreter
    (`curl ... | sh`, `wget -qO- ... | sudo bash -`, `curl ... | python3 -`,
    `sh -c "$(curl ...)"`, `bash <(curl ...)`), the last reported as high severity -- or as
    medium when every download goes over HTTPS to a domain of its own (the vendor's documented
    installer host, `https://astral.sh/uv/install.sh`): the transport is authenticated and only
    the missing checksum remains. Plain HTTP, an IP address, a host anyone can publish on
    (raw GitHub content, gists, buckets) or an address the line does not show stay high. Piping
    into `python -c`/`-m` (parsing JSON) and downloads saved to a file are not flagged.

    ## Why it breaks production
    The build executes or ships whatever the remote server returns at build time. A
    compromised download server, a hijacked GitHub release, a moved tag or a
    man-in-the-middle on plain HTTP puts attacker code into the image -- and, through a
    builder stage, into every artifact it produces -- with no trace in the repository (the
    Codecov bash uploader compromise was exactly `curl | bash`). The same URL also returns
    different bytes on different days, so two builds of one commit differ, and a truncated
    download piped into a shell runs half a script.

    ## Example
    ```dockerfile
    ADD https://github.com/krallin/tini/releases/download/v0.19.0/tini /tini
    RUN curl -sSL https://install.python-poetry.org | python3 -
    ```

    ## Use instead
    ```dockerfile
    ADD --checksum=sha256:93dcc18adc78c65a028a84799ecf8ad40c936fdfc5f2a57b1acda5a8117fa82c \\
        https://github.com/krallin/tini/releases/download/v0.19.0/tini /tini
    RUN pip install --no-cache-dir poetry==1.8.3
    ```
    """
    for instruction in document.instructions:
        if instruction.keyword == "ADD":
            arguments = instruction.arguments()
            checksum = bool(instruction.flags.get("checksum"))
            for source in arguments[:-1]:
                if source.startswith("#"):
                    break  # a comment after the instruction (not Dockerfile syntax)
                problem = _remote_add_problem(source, checksum)
                if problem is not None:
                    message, severity = problem
                    ctx.report(instruction.line, message, severity=severity)
                    break
        elif instruction.keyword == "RUN":
            for command_line in _shell_lines(instruction):
                if _pipes_download_into_interpreter(command_line):
                    _report_piped_download(ctx, instruction, command_line)
                    break


def _report_piped_download(ctx: FileContext, instruction: Instruction, command_line: str) -> None:
    """Evidence tier: over HTTPS from a domain of its own (the vendor's installer host) the
    script is what the vendor publishes -- medium, saying no checksum pins it; over plain HTTP,
    from a shared or numeric host, or from an address not shown, high."""
    host = _vendor_host(command_line)
    if host is not None:
        ctx.report(
            _download_line(ctx, instruction),
            f"this RUN pipes an installer into a shell over HTTPS from its own host ({host}): "
            "the transport is authenticated, but no checksum pins what that host returns -- a "
            "compromised or re-published script runs in the build, usually as root; download "
            "to a file, verify its sha256 (sha256sum -c), then run it -- or install a pinned "
            "package instead",
            severity=Severity.MEDIUM,
        )
        return
    ctx.report(
        _download_line(ctx, instruction),
        "this RUN executes a downloaded script unverified (`curl | sh`): "
        "whatever the server returns at build time -- a compromised or "
        "re-published script, a truncated download -- runs in the build, "
        "usually as root; download to a file, verify its sha256 "
        "(sha256sum -c), then run it -- or install a pinned package instead",
        severity=Severity.HIGH,
    )
