"""How to serve the app ``prodready init`` found: the command the probe runs, with ``{port}``.

The project's main Dockerfile decides when its server command can be made to listen on the
probe's port; otherwise the command is derived from the app object and the declared servers.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path, PurePosixPath

from prodready.gate.scaffold.profile import AppEntry, ProjectProfile

_DJANGO_SETTINGS = re.compile(r"""["']DJANGO_SETTINGS_MODULE["']\s*,\s*["']([\w.]+)["']""")


# -- how to serve it ----------------------------------------------------------------------------


def serve_app(profile: ProjectProfile, app: AppEntry) -> None:
    """The command that starts the app on ``{port}``, with the server the project declares."""
    deps = profile.dependencies
    target = f"{app.module}:{app.attribute}"
    callable_factory = app.factory and app.factory_required == 0
    notes: list[str] = []
    cmd: str | None = None
    if app.reads_port:
        # The module's own __main__ block serves on $PORT: the way its authors run it (with
        # their server settings and signal handling).
        cmd = f"python {app.path}"
    elif app.interface == "asgi" and (callable_factory or not app.factory):
        if "hypercorn" in deps and "uvicorn" not in deps and not app.import_root:
            loaded = f"{target}()" if app.factory else target
            cmd = f"hypercorn '{loaded}' --bind 127.0.0.1:{{port}}"
        else:
            cmd = f"uvicorn {target} --port {{port}}"
            if app.factory:
                cmd += " --factory"
            if app.import_root:
                cmd += f" --app-dir {app.import_root}"
            if "uvicorn" not in deps:
                notes.append("uvicorn is not among the declared dependencies")
    elif app.interface == "wsgi" and (callable_factory or not app.factory):
        loaded = f"'{target}()'" if app.factory else target
        if "gunicorn" in deps:
            cmd = f"gunicorn {loaded} --bind 127.0.0.1:{{port}}"
            if app.import_root:
                cmd += f" --pythonpath {app.import_root}"
        elif "waitress" in deps and not app.import_root:
            call = " --call" if app.factory else ""
            cmd = f"waitress-serve --listen=127.0.0.1:{{port}}{call} {target}"
        elif app.framework == "flask":
            cmd = f"flask --app {target} run --port {{port}}"
            notes.append(
                "`flask run` is Flask's development server: use the production server "
                "(gunicorn, waitress, ...) here once the service has one"
            )
            if app.import_root:
                notes.append(f"the package under {app.import_root}/ must be installed")
    elif app.interface == "aiohttp":
        if app.factory and app.factory_takes_args and app.factory_required <= 1:
            if not app.import_root:
                cmd = f"python -m aiohttp.web -H 127.0.0.1 -P {{port}} {target}"
        elif "gunicorn" in deps and not app.factory:
            cmd = (
                f"gunicorn {target} --bind 127.0.0.1:{{port}} "
                "--worker-class aiohttp.GunicornWebWorker"
            )
            if app.import_root:
                cmd += f" --pythonpath {app.import_root}"
    if cmd is None and app.main_guard:
        cmd = f"python {app.path}"
        notes.append("the service must listen on the port the probe passes in $PORT")
    profile.serve_cmd = cmd
    profile.serve_notes = tuple(notes)


def serve_django(profile: ProjectProfile, manage: str) -> None:
    deps = profile.dependencies
    base = str(PurePosixPath(manage).parent)
    base = "" if base == "." else base
    settings: str | None = None
    try:
        match = _DJANGO_SETTINGS.search((profile.root / manage).read_text(encoding="utf-8"))
        settings = match[1] if match else None
    except (OSError, UnicodeDecodeError):
        settings = None
    package = settings.rsplit(".", 1)[0] if settings and "." in settings else None

    def exists(module: str) -> bool:
        return (profile.root / base / (module.replace(".", "/") + ".py")).is_file()

    path_option = f" --pythonpath {base}" if base else ""
    notes: list[str] = []
    if package and "gunicorn" in deps and exists(f"{package}.wsgi"):
        cmd = f"gunicorn {package}.wsgi:application --bind 127.0.0.1:{{port}}{path_option}"
    elif package and "uvicorn" in deps and exists(f"{package}.asgi"):
        cmd = f"uvicorn {package}.asgi:application --port {{port}}"
        if base:
            cmd += f" --app-dir {base}"
    else:
        cmd = f"python {manage} runserver 127.0.0.1:{{port}} --noreload"
        notes.append(
            "`runserver` is Django's development server: use the production server "
            "(gunicorn, uvicorn, ...) here once the service has one"
        )
    profile.serve_cmd = cmd
    profile.serve_notes = tuple(notes)
    if package:
        profile.app = AppEntry(
            framework="django",
            interface="wsgi",
            path=manage,
            line=1,
            module=f"{package}.wsgi",
            attribute="application",
            import_root=base,
        )


# -- the Dockerfile's server command -----------------------------------------------------------

_SERVERS = ("gunicorn", "uvicorn", "hypercorn", "daphne", "waitress-serve", "flask")
# Per server: options that say where to listen (dropped), and what to say instead.
_LISTEN_OPTIONS: dict[str, tuple[frozenset[str], list[str]]] = {
    "gunicorn": (frozenset({"--bind", "-b"}), ["--bind", "127.0.0.1:{port}"]),
    "uvicorn": (frozenset({"--host", "--port", "--uds", "--fd"}), ["--port", "{port}"]),
    "hypercorn": (frozenset({"--bind", "-b"}), ["--bind", "127.0.0.1:{port}"]),
    "daphne": (frozenset({"--bind", "-b", "--port", "-p"}), ["-b", "127.0.0.1", "-p", "{port}"]),
    "waitress-serve": (frozenset({"--listen", "--host", "--port"}), ["--listen=127.0.0.1:{port}"]),
    "flask": (frozenset({"--host", "-h", "--port", "-p"}), ["--port", "{port}"]),
}
# Options with a value that only make sense inside the image (or are development settings).
_DROPPED_WITH_VALUE = frozenset(
    {"--chdir", "--reload-dir", "--pid", "--log-file", "--error-logfile"}
)
_DROPPED_FLAGS = frozenset({"--reload", "--daemon", "-D", "--debug", "--debugger"})
_SHELL = re.compile(r"[$&|;<>`]")
_TARGET = re.compile(r"^'?([A-Za-z_][\w.]*):[\w.()']+$")


def dockerfile_command(profile: ProjectProfile) -> tuple[str, list[str], str] | None:
    """The server command of the project's main Dockerfile, made to listen on ``{port}``."""
    from prodready.engine.documents import DocumentError, parse_dockerfile

    dockerfiles = sorted(profile.dockerfiles, key=lambda p: (len(PurePosixPath(p).parts), p))
    for relpath in dockerfiles[:3]:
        try:
            parsed = parse_dockerfile((profile.root / relpath).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, DocumentError):
            continue
        stage = parsed.final_stage
        if stage is None:
            continue
        entrypoint = stage.find("ENTRYPOINT")
        cmd = stage.find("CMD")
        words: list[str] = []
        if entrypoint:
            if not entrypoint[-1].value.lstrip().startswith("["):
                continue  # shell form: CMD is ignored, and it is a script
            words = entrypoint[-1].arguments()
        if cmd:
            words = words + cmd[-1].arguments()
        rewritten = _rewrite_server(profile.root, words)
        if rewritten is not None:
            return rewritten[0], rewritten[1], relpath
    return None


def _rewrite_server(root: Path, words: list[str]) -> tuple[str, list[str]] | None:
    if not words or any(_SHELL.search(word) for word in words):
        return None
    words = [PurePosixPath(words[0]).name, *words[1:]]  # the image's absolute paths
    while words and words[0] in {"exec", "tini", "dumb-init", "--"}:  # init wrappers
        words = words[1:]
        if words:
            words = [PurePosixPath(words[0]).name, *words[1:]]
    if not words:
        return None
    prefix: list[str]
    if re.fullmatch(r"python[\d.]*", words[0]) and len(words) > 1:
        if words[1] == "-m" and len(words) > 2 and words[2] in _SERVERS:
            prefix, server, rest = words[:3], words[2], words[3:]
        elif PurePosixPath(words[1]).name == "manage.py" and "runserver" in words[2:]:
            return _rewrite_runserver(root, words)
        else:
            return None
    elif words[0] in _SERVERS:
        prefix, server, rest = words[:1], words[0], words[1:]
    else:
        return None
    if server == "flask" and "run" not in rest:
        return None
    listen, replacement = _LISTEN_OPTIONS[server]
    kept: list[str] = []
    notes: list[str] = []
    skip = False
    for index, word in enumerate(rest):
        if skip:
            skip = False
            continue
        name = word.split("=", 1)[0]
        if name in listen or name in _DROPPED_WITH_VALUE:
            skip = "=" not in word and index + 1 < len(rest)
            continue
        if word in _DROPPED_FLAGS:
            notes.append(f"the Dockerfile runs {server} with {word}: left out here")
            continue
        kept.append(word)
    target = next((m for w in kept if (m := _TARGET.match(w))), None)
    if server != "flask" and (target is None or not _importable(root, kept, target[1])):
        return None  # the image lays the code out differently: detect from the code instead
    if server == "flask":
        notes.append("`flask run` is Flask's development server")
    command = (
        [*prefix, *replacement, *kept] if server != "flask" else [*prefix, *kept, *replacement]
    )
    return _join(command), notes


def _rewrite_runserver(root: Path, words: list[str]) -> tuple[str, list[str]] | None:
    manage = words[1]
    if not (root / manage).is_file():
        manage = PurePosixPath(manage).name
        if not (root / manage).is_file():
            return None
    position = words.index("runserver")
    rest = [w for w in words[position + 1 :] if w not in {"--noreload", "--reload"}]
    if rest and not rest[0].startswith("-"):
        rest = rest[1:]  # the address
    command = [words[0], manage, "runserver", "127.0.0.1:{port}", "--noreload", *rest]
    notes = ["`runserver` is Django's development server (the Dockerfile runs it too)"]
    return _join(command), notes


def _join(words: list[str]) -> str:
    """Shell words with ``{port}`` left unquoted for the probe to fill in."""
    placeholder = "PRODREADYPORT"
    joined = shlex.join(word.replace("{port}", placeholder) for word in words)
    return joined.replace(placeholder, "{port}")


def _importable(root: Path, words: list[str], module: str) -> bool:
    """The module exists in the project, relative to the root or to an --app-dir/--pythonpath
    the command names."""
    bases = [root]
    for index, word in enumerate(words[:-1]):
        if word in {"--app-dir", "--pythonpath"}:
            bases.append(root / words[index + 1])
    relative = module.replace(".", "/")
    return any(
        (base / f"{relative}.py").is_file() or (base / relative / "__init__.py").is_file()
        for base in bases
    )
