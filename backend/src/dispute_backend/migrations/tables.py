"""The shapes the revisions repeat: keys, references, times, enumerations, indexes.

A revision that has run in a database must go on building the same schema, so a builder here
never changes what it builds: a new shape is a new builder. Every name is spelled out as the
models' naming convention spells it (pk_<table>, fk_<table>_<column>_<table it refers to>,
uq_<table>_<columns>, ix_<table>_<column>), so that a later change of the convention leaves
the revisions as they were.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from alembic import op


def key(name: str = "id") -> sa.Column[int]:
    """An integer primary key the database numbers."""
    return sa.Column(name, sa.Integer(), autoincrement=True, nullable=False)


def integer(name: str, *, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), nullable=nullable)


def string(name: str, length: int, *, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(length=length), nullable=nullable)


def text(name: str) -> sa.Column[str]:
    return sa.Column(name, sa.Text(), nullable=False)


def money(name: str, *, nullable: bool = False) -> sa.Column[Decimal]:
    return sa.Column(name, sa.Numeric(precision=12, scale=2), nullable=nullable)


def moment(name: str, *, nullable: bool = False) -> sa.Column[datetime]:
    """A point in time, with its zone."""
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def choice(name: str, enum: str, *values: str, nullable: bool = False) -> sa.Column[str]:
    """One of an enumeration's values: a VARCHAR(32) with no CHECK constraint, so that a new
    value needs no revision (the models' enumerations are stored the same way)."""
    return sa.Column(
        name, sa.Enum(*values, name=enum, native_enum=False, length=32), nullable=nullable
    )


def create_table(
    name: str,
    *columns: sa.Column[Any],
    key: str = "id",
    references: Mapping[str, str] | None = None,
    unique: Sequence[str] = (),
    indexed: Sequence[str] = (),
) -> None:
    """A table with its primary key on `key`; a foreign key for each column of `references`
    (column -> the table whose id it holds), in that order; one unique constraint over the
    `unique` columns, if any; then a plain index on each `indexed` column."""
    constraints: list[sa.Constraint] = [
        sa.ForeignKeyConstraint(
            [column], [f"{target}.id"], name=op.f(f"fk_{name}_{column}_{target}")
        )
        for column, target in (references or {}).items()
    ]
    constraints.append(sa.PrimaryKeyConstraint(key, name=op.f(f"pk_{name}")))
    if unique:
        constraints.append(sa.UniqueConstraint(*unique, name=op.f(f"uq_{name}_{'_'.join(unique)}")))
    op.create_table(name, *columns, *constraints)
    for column in indexed:
        op.create_index(op.f(f"ix_{name}_{column}"), name, [column], unique=False)


def one_per(index: str, table: str, column: str, *, where: str) -> None:
    """A partial unique index: at most one row per `column` among the rows `where` holds."""
    op.create_index(
        index,
        table,
        [column],
        unique=True,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )
