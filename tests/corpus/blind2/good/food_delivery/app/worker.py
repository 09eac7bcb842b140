"""Dispatch worker: run as its own deployment (python -m app.worker)."""
import logging
import signal
import threading

from .config import load_settings
from .db import get_sessionmaker
from .services import MapsClient, run_dispatch_worker

logging.basicConfig(level=logging.INFO)


def main() -> None:
    settings = load_settings()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    run_dispatch_worker(get_sessionmaker(), MapsClient(settings), settings, stop)


if __name__ == "__main__":
    main()
