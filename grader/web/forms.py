"""Reading form fields the same way on every page."""

from __future__ import annotations

from datetime import UTC, datetime

# What a refused date says, wherever one is typed.
DATETIME_EXAMPLE = "a date and time, e.g. 2026-12-15T23:59 (UTC)"


def utc_datetime(value: str) -> datetime:
    """A date and time from a form, as naive UTC like every time in the database.

    A ``datetime-local`` input sends no zone: it is read as UTC, which the pages say next to
    the input. Raises ValueError when the text is not a date and time.
    """
    moment = datetime.fromisoformat(value.strip())
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment
