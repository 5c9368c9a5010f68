"""Extensions, created unbound here and attached to the app in ``create_app``."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Enum, MetaData
from sqlalchemy.orm import DeclarativeBase

# Named constraints, so migrations can drop and alter them on every database.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# create_savepoint only matters when a session is bound to a connection already in a
# transaction (the tests' rolled-back transaction); production binds engines.
db = SQLAlchemy(model_class=Base, session_options={"join_transaction_mode": "create_savepoint"})
migrate = Migrate()


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def str_enum(kind: type[enum.StrEnum]) -> Enum:
    """A portable enum column that stores the members' values (a VARCHAR with a CHECK-free schema)."""
    return Enum(kind, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])
