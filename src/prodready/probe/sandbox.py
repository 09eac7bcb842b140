"""The service under test as a real process, fenced in.

It runs in its own session (so the whole process tree can be signalled and killed), with
resource limits (address space, open files, CPU time), a scrubbed environment (none of the
caller's credentials), a temporary working directory and, with ``isolate``, under bubblewrap
with a read-only view of the filesystem. Its output is captured line by line for the
log-based checks and for start-up failures.
"""

from __future__ import annotations

import contextlib
import os
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from prodready.probe.model import PROBE_EXTRA_HINT, ProbeError
from prodready.probe.proctree import ProcessTree
from prodready.probe.settings import Limits

# Variables a service legitimately needs to start; everything else of the caller's is dropped.
_KEPT_VARIABLES = (
    "PATH",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "PYTHONHOME",
    "SYSTEMROOT",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)
_MAX_LINES = 50_000
_MAX_LINE_BYTES = 1 << 20
_READ_POLL_S = 0.1


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe_socket:
        probe_socket.bind((host, 0))
        port: int = probe_socket.getsockname()[1]
        return port


@dataclass(frozen=True)
class OutputLine:
    stream: str  # "stdout" or "stderr"
    text: str
    time: float


def build_argv(command: str, port: int, project_dir: Path) -> list[str]:
    """The command's words with ``{port}`` filled in and relative paths that exist made absolute.

    The service runs in a temporary directory, so ``python app/main.py`` must keep pointing at
    the caller's file.
    """
    try:
        words = shlex.split(command.replace("{port}", str(port)))
    except ValueError as exc:
        raise ProbeError(f"--cmd {command!r}: cannot split into words: {exc}") from exc
    if not words:
        raise ProbeError("--cmd is empty: give the command that starts the service")
    argv = []
    for index, word in enumerate(words):
        candidate = project_dir / word
        is_path = index > 0 or "/" in word  # a bare program name is looked up on PATH
        if is_path and not word.startswith(("-", "/")) and candidate.exists():
            word = os.path.abspath(candidate)  # not resolve(): a venv python is a symlink
        argv.append(word)
    if shutil.which(argv[0]) is None and not Path(argv[0]).exists():
        raise ProbeError(f"--cmd: {argv[0]!r} was not found on PATH")
    return argv


def scrubbed_environment(
    extra: Mapping[str, str], *, home: Path, project_dir: Path
) -> tuple[dict[str, str], list[str]]:
    """The service's environment, and the names of the caller's variables that were dropped."""
    env = {name: os.environ[name] for name in _KEPT_VARIABLES if name in os.environ}
    python_path = [str(project_dir)]
    if os.environ.get("PYTHONPATH"):
        python_path.append(os.environ["PYTHONPATH"])
    env.update(
        HOME=str(home),
        TMPDIR=str(home),
        PYTHONPATH=os.pathsep.join(python_path),
        # Logs must reach the probe as they happen, not when a buffer fills.
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    dropped = sorted(name for name in os.environ if name not in env)
    return env, dropped


class ServiceProcess:
    """Start, watch and stop the service's process tree."""

    def __init__(
        self,
        argv: list[str],
        *,
        port: int,
        env: Mapping[str, str],
        workdir: Path,
        limits: Limits,
        isolate: bool = False,
        log_dir: Path | None = None,
    ) -> None:
        self.argv = argv
        self.port = port
        self.env = dict(env)
        self.workdir = workdir
        self.limits = limits
        self.isolate = isolate
        self.log_dir = log_dir
        self.process: subprocess.Popen[bytes] | None = None
        self.lines: deque[OutputLine] = deque(maxlen=_MAX_LINES)
        self.line_count = 0
        self._lock = threading.Lock()
        self._readers: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._tree: ProcessTree | None = None
        # start() and stop() may race: the budget's watchdog stops the service from its thread.
        self._lifecycle = threading.RLock()
        self.expired = False
        self.started_at = 0.0
        self.restarts = 0

    # -- lifecycle -------------------------------------------------------------------------
    def command(self) -> list[str]:
        launcher = [
            sys.executable,
            "-m",
            "prodready.probe.launch",
            str(self.limits.memory_bytes),
            str(self.limits.open_files),
            str(self.limits.cpu_seconds),
            "--",
            *self.argv,
        ]
        if not self.isolate:
            return launcher
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            raise ProbeError(
                "--isolate needs bubblewrap (bwrap); install it, e.g. apt install bubblewrap"
            )
        # No tmpfs over /tmp: the project itself may live there. TMPDIR points at the
        # writable HOME instead.
        workdir = str(self.workdir)
        writable = [workdir, self.env.get("HOME", workdir)]
        binds = [arg for path in dict.fromkeys(writable) for arg in ("--bind", path, path)]
        return [
            bwrap,
            "--ro-bind", "/", "/",
            "--dev", "/dev",
            "--proc", "/proc",
            *binds,
            "--chdir", workdir,
            "--die-with-parent",
            *launcher,
        ]  # fmt: skip

    def start(self) -> None:
        with self._lifecycle:
            if self.expired:
                raise ProbeError("the run's --budget ran out; the service is not restarted")
            self._start()

    def expire(self, grace: float = 1.0) -> None:
        """The run's budget is over: stop the service for good (called by the watchdog)."""
        with self._lifecycle:
            self.expired = True
            self.stop(grace)

    def _start(self) -> None:
        self.stop()
        command = self.command()
        try:
            self.process = subprocess.Popen(
                command,
                cwd=self.workdir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            raise ProbeError(f"cannot start {self.argv[0]!r}: {exc.strerror or exc}") from exc
        self.started_at = time.monotonic()
        streams = [("stdout", self.process.stdout), ("stderr", self.process.stderr)]
        self._tree = ProcessTree(
            self.process.pid, [stream.fileno() for _name, stream in streams if stream is not None]
        )
        self._tree.track()
        self._stopping = threading.Event()
        for name, stream in streams:
            assert stream is not None
            reader = threading.Thread(
                target=self._read,
                args=(name, stream.fileno(), self._stopping),
                name=f"probe-{name}",
                daemon=True,
            )
            reader.start()
            self._readers.append(reader)

    def _read(self, name: str, fd: int, stopping: threading.Event) -> None:
        """Collect the stream's lines until end of file or until ``stopping`` is set.

        Raw reads on the descriptor with a poll, not ``readline()`` on the file object: a
        process that escaped the kill may hold the pipe open for ever, and a thread blocked in
        ``readline()`` holds the file's lock, so closing the file would block too.
        """
        sink = None
        if self.log_dir is not None:
            sink = (self.log_dir / f"service.{name}.log").open("ab")
        pending = b""
        poller = select.poll()  # not select(): it fails on descriptors above 1023
        poller.register(fd, select.POLLIN)
        try:
            while True:
                if not poller.poll(_READ_POLL_S * 1000):
                    if stopping.is_set():
                        break
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                if sink is not None:
                    sink.write(chunk)
                *lines, pending = (pending + chunk).split(b"\n")
                if len(pending) > _MAX_LINE_BYTES:  # a line without end: keep it in pieces
                    lines.append(pending)
                    pending = b""
                self._keep(name, lines)
        except (OSError, ValueError):
            pass  # the pipe closed under us while stopping
        finally:
            if pending:
                self._keep(name, [pending])
            if sink is not None:
                sink.close()

    def _keep(self, name: str, lines: list[bytes]) -> None:
        now = time.monotonic()
        with self._lock:
            for raw in lines:
                text = raw.decode("utf-8", "replace").rstrip("\r")
                self.lines.append(OutputLine(name, text, now))
                self.line_count += 1

    def wait_listening(self, timeout: float, *, limit: str | None = None) -> float:
        """Seconds until the service accepted a connection; ProbeError when it never does.

        ``limit`` names what bounded the wait when it was not the start-up timeout itself.
        """
        deadline = time.monotonic() + timeout
        pause = 0.02
        while time.monotonic() < deadline:
            code = self.exit_code()
            if code is not None:
                raise ProbeError(
                    f"the service exited with code {code} before listening on port {self.port}"
                    + self._tail_text()
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return time.monotonic() - self.started_at
            except OSError:
                # Most services listen within a second; back off for the slow starters.
                time.sleep(pause)
                pause = min(pause * 2, 0.5)
        raise ProbeError(
            f"the service did not listen on 127.0.0.1:{self.port} within "
            f"{limit or f'{timeout:g} s'} "
            f"(it gets the port in $PORT and as {{port}} in the command)" + self._tail_text()
        )

    def _tail_text(self, count: int = 20) -> str:
        time.sleep(0.1)  # let the readers drain what the process printed last
        tail = self.tail(count)
        return "; last output:\n" + "\n".join(tail) if tail else "; it printed nothing"

    def tail(self, count: int = 20) -> list[str]:
        with self._lock:
            return [line.text for line in list(self.lines)[-count:]]

    def output_since(self, index: int) -> list[OutputLine]:
        """Lines printed after the first ``index`` lines (bounded by the kept window)."""
        with self._lock:
            kept = list(self.lines)
            skipped = self.line_count - len(kept)
        return kept[max(0, index - skipped) :]

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def signal(self, signum: int) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signum)
            except ProcessLookupError:
                return

    def wait(self, timeout: float) -> int | None:
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the whole tree, SIGKILL what is left after ``grace`` seconds.

        The tree includes processes that left the service's process group (``setsid``); the
        output pipes are closed without waiting on a process that still holds them.
        """
        with self._lifecycle:
            self._stop(grace)

    def _stop(self, grace: float) -> None:
        process = self.process
        if process is None:
            return
        tree = self._tree
        if process.poll() is None:
            self.signal(signal.SIGTERM)
            if tree is not None:
                tree.signal(signal.SIGTERM)
            if self.wait(grace) is None:
                self.kill()
        self.kill()  # leftovers in the group (workers that outlived their parent)
        if tree is not None:
            tree.kill()  # and those that escaped it
            tree.close()
        self._stopping.set()
        for reader in self._readers:
            reader.join(timeout=2.0)
        self._readers.clear()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        self.process = None
        self._tree = None

    def kill(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone
            os.killpg(self.process.pid, signal.SIGKILL)
        self.wait(2.0)

    # -- measurements ----------------------------------------------------------------------
    def rss_bytes(self) -> int:
        """Resident memory of the service's whole process tree."""
        if self.process is None or self.process.poll() is not None:
            return 0
        try:
            import psutil
        except ImportError as exc:
            raise ProbeError(f"memory checks need psutil: {PROBE_EXTRA_HINT}") from exc
        try:
            root = psutil.Process(self.process.pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0
        total = 0
        for member in tree:
            try:
                total += member.memory_info().rss
            except psutil.Error:
                continue  # a worker that exited between listing and reading
        return total
