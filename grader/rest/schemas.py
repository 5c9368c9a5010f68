"""The models every API resource shares: problem details, pages, timestamps, paging parameters."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

MAX_ID = 2**31 - 1  # ids are 32-bit integers in the database
MAX_PER_PAGE = 100


def _utc(value: datetime) -> datetime:
    # The database keeps naive UTC; RFC 3339 (and so JSON Schema's date-time) needs the offset.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDateTime = Annotated[
    datetime,
    AfterValidator(_utc),
    PlainSerializer(lambda d: d.isoformat().replace("+00:00", "Z"), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


def _finite(value: Any) -> Any:
    # JSON has no NaN or infinity: a diverged run's metric is reported as null.
    return None if isinstance(value, float) and not math.isfinite(value) else value


Number = Annotated[float | None, BeforeValidator(_finite)]


class Model(BaseModel):
    """A response or request body: unknown members are refused, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")


class ParameterError(Model):
    parameter: str = Field(description="The query parameter, body member or form field that was wrong.")
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details: every error of this API, with ``detail`` saying what to fix."""

    model_config = ConfigDict(extra="allow", title="Problem")

    type: str = "about:blank"
    title: str
    status: int
    detail: str = Field(description="What was wrong with the request and how to put it right.")
    errors: list[ParameterError] | None = Field(
        None, description="One entry per parameter that was wrong, when the request had any."
    )


class PageQuery(Model):
    """``?page=&per_page=`` of every list."""

    page: int = Field(1, ge=1, le=100_000, description="The page to return, from 1.")
    per_page: int = Field(20, ge=1, le=MAX_PER_PAGE, description=f"Items per page, at most {MAX_PER_PAGE}.")

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


class Page(Model):
    """One page of a list; the ``Link`` header has the neighbouring pages (rel=next, prev, first, last)."""

    page: int = Field(ge=1)
    per_page: int = Field(ge=1, le=MAX_PER_PAGE)
    total: int = Field(ge=0, description="Items in the whole list.")
    pages: int = Field(ge=1, description="Pages in the whole list (1 for an empty list).")


def paging(query: PageQuery, total: int) -> dict[str, Any]:
    """The page members of a Page body for this query and list length."""
    return {
        "page": query.page,
        "per_page": query.per_page,
        "total": total,
        "pages": max(1, -(-total // query.per_page)),
    }
