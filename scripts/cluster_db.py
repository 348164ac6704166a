"""The cluster's PostgreSQL roles and databases, made by the project (`make run-cluster`).

Run with the backend's environment (it has the PostgreSQL driver); scripts/stack.py does:

    backend/.venv/bin/python scripts/cluster_db.py ensure   # roles and databases, if missing
    backend/.venv/bin/python scripts/cluster_db.py drop     # the two databases (the tests')

Two roles, each owning its database: BACKEND_DB_USER owns BACKEND_DB_NAME (the dispute
backend), RASA_DB_USER owns RASA_DB_NAME (Rasa's tracker store), with the passwords
BACKEND_DB_PASSWORD and RASA_DB_PASSWORD. It connects as POSTGRES_ADMIN_URL (a role
allowed to create roles and databases). Running it again changes nothing but the
passwords, which follow the environment.
"""

from __future__ import annotations

import os
import re
import sys

import psycopg
from psycopg import sql

NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class ClusterDbError(Exception):
    """A setting the database cannot take, or a database that does not answer."""


def _name(variable: str) -> str:
    value = os.environ.get(variable, "")
    if not NAME.match(value):
        raise ClusterDbError(f"{variable} must be a lower-case SQL name, got {value!r}")
    return value


def _pairs() -> list[tuple[str, str, str]]:
    """(role, its password, its database) for the backend and for Rasa."""
    return [
        (
            _name("BACKEND_DB_USER"),
            os.environ.get("BACKEND_DB_PASSWORD", ""),
            _name("BACKEND_DB_NAME"),
        ),
        (_name("RASA_DB_USER"), os.environ.get("RASA_DB_PASSWORD", ""), _name("RASA_DB_NAME")),
    ]


def ensure(connection: psycopg.Connection) -> list[str]:
    made = []
    for role, password, database in _pairs():
        exists = connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
        verb = "ALTER" if exists.fetchone() else "CREATE"
        if verb == "CREATE":
            made.append(f"role {role}")
        statement = sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(
            sql.SQL(verb), sql.Identifier(role), sql.Literal(password or None)
        )
        connection.execute(statement)
        found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        if not found.fetchone():
            connection.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(database), sql.Identifier(role)
                )
            )
            made.append(f"database {database}")
    return made


def drop(connection: psycopg.Connection) -> None:
    for _, _, database in _pairs():
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
        )


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("ensure", "drop"):
        print(__doc__, file=sys.stderr)
        return 2
    admin = os.environ.get("POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as connection:
            if argv[0] == "drop":
                drop(connection)
                return 0
            made = ensure(connection)
    except (ClusterDbError, psycopg.Error) as error:
        # The admin URL may hold a password: only the error's class and its first line.
        first = str(error).splitlines()[0] if str(error) else ""
        print(f"cluster database setup failed: {type(error).__name__}: {first}", file=sys.stderr)
        return 1
    if made:
        print("postgresql: created " + ", ".join(made))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
