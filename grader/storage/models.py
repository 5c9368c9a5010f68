from __future__ import annotations

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from grader.extensions import db


class StoredBlob(db.Model):  # type: ignore[name-defined,misc]
    """A stored object's bytes, when the store is the database (GRADER_STORAGE=database)."""

    __tablename__ = "stored_blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
