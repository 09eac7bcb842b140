"""Set resource limits, then exec the service.

Usage: ``python -m prodready.probe.launch ADDRESS_SPACE OPEN_FILES CPU_SECONDS -- COMMAND...``.

A tiny separate program rather than ``preexec_fn``: setting limits between fork and exec in a
process that runs threads (the probe's event loop) can deadlock, and ``prlimit`` after start
races with the service forking its workers.
"""

from __future__ import annotations

import os
import resource
import sys


def _limit(kind: int, wanted: int) -> None:
    _soft, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if wanted > 0:
        resource.setrlimit(kind, (wanted, hard))


def main(argv: list[str]) -> int:
    if len(argv) < 5 or argv[3] != "--":
        sys.stderr.write("usage: python -m prodready.probe.launch AS NOFILE CPU -- COMMAND...\n")
        return 2
    address_space, open_files, cpu_seconds = (int(value) for value in argv[:3])
    _limit(resource.RLIMIT_AS, address_space)
    _limit(resource.RLIMIT_NOFILE, open_files)
    _limit(resource.RLIMIT_CPU, cpu_seconds)
    command = argv[4:]
    try:
        os.execvp(command[0], command)  # noqa: S606 - the user's own service command
    except OSError as exc:
        sys.stderr.write(f"prodready probe: cannot start {command[0]!r}: {exc.strerror or exc}\n")
        return 127
    return 0  # not reached: exec replaced the process


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
