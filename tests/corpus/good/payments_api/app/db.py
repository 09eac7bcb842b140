from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from app.settings import Settings


def create_pool(settings: Settings) -> ConnectionPool:
    """One pool per process, opened in the app lifespan and closed on shutdown."""
    return ConnectionPool(
        conninfo=str(settings.database_url),
        min_size=1,
        max_size=settings.db_pool_max_size,
        timeout=5.0,
        kwargs={
            "connect_timeout": 5,
            "row_factory": dict_row,
            "options": f"-c statement_timeout={settings.db_statement_timeout_ms}",
        },
        open=False,
    )
