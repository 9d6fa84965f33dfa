"""PostgreSQL URL spellings (docgen/database_url.py): driver swaps through SQLAlchemy's
make_url().set(), so passwords, query parameters and IPv6 hosts survive."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from docgen.database_url import (
    async_url,
    has_password,
    libpq_url,
    mask_url,
    psycopg_url,
    with_database,
)

HARD = "postgresql://us%40er:p%40ss%3Aw%2Frd@db.example.com:6543/warehouse?sslmode=require"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:p@h/db",
        "postgres://u:p@h/db",
        "postgresql+psycopg2://u:p@h/db",
        "postgresql+psycopg://u:p@h/db",
    ],
)
def test_every_postgres_spelling_gets_the_psycopg_driver(url: str) -> None:
    assert psycopg_url(url).drivername == "postgresql+psycopg"
    assert async_url(url).startswith("postgresql+asyncpg://u:p@h/db")


def test_passwords_and_query_parameters_survive_a_driver_swap() -> None:
    for swapped in (psycopg_url(HARD), make_url(async_url(HARD)), make_url(libpq_url(HARD))):
        assert swapped.username == "us@er" and swapped.password == "p@ss:w/rd"
        assert (swapped.host, swapped.port, swapped.database) == (
            "db.example.com",
            6543,
            "warehouse",
        )
        assert dict(swapped.query) == {"sslmode": "require"}


def test_the_embedded_servers_socket_url_stays_a_socket_url() -> None:
    url = "postgresql://postgres@/docgen?host=/tmp/pg%20data/socket"
    assert make_url(async_url(url)).query == {"host": "/tmp/pg data/socket"}
    assert make_url(with_database(url, "prefect")).database == "prefect"
    assert make_url(with_database(url, "prefect")).query == {"host": "/tmp/pg data/socket"}


def test_an_ipv6_host_survives() -> None:
    assert make_url(async_url("postgresql://u@[::1]:5432/db")).host == "::1"


def test_another_scheme_is_left_for_the_caller_to_refuse() -> None:
    assert psycopg_url("mysql://u@h/db").drivername == "mysql"


def test_with_database_is_libpq_spelling() -> None:
    moved = with_database("postgresql+psycopg://u:secret@h:5/docgen", "docgen_prefect")
    assert moved == "postgresql://u:secret@h:5/docgen_prefect"


def test_masking_keeps_the_users_spelling_and_hides_the_password() -> None:
    assert mask_url("postgres://u:secret@h/db") == "postgres://u:***@h/db"
    assert mask_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert mask_url("postgresql://u:p@h:notaport/db") == "<malformed URL>"
    assert has_password(HARD) and not has_password("postgresql://u@h/db")
    assert not has_password("postgresql://u:p@h:notaport/db")
