import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager

from admin.settings import settings


@contextmanager
def get_db() -> Iterator[sqlite3.Connection]:
    """A connection per unit of work: committed on success, rolled back on error, always closed."""
    with closing(sqlite3.connect(settings.db_path, timeout=5)) as conn:
        conn.row_factory = sqlite3.Row
        with conn:
            yield conn
