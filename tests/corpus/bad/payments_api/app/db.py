import psycopg2
from psycopg2.extras import RealDictCursor

DB_PASSWORD = "Pg_payments_2024!"


def get_connection():
    return psycopg2.connect(
        host="localhost",
        port=5432,
        dbname="payments",
        user="payments",
        password=DB_PASSWORD,
        cursor_factory=RealDictCursor,
    )
