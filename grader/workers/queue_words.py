"""A place in the grading queue in plain words, as the status page and the course page say it.

Estimates are rounded the way a person would say them: precise minutes would suggest a precision
the estimate does not have, and a student who reads "about 12 minutes" should not resubmit.
"""

from __future__ import annotations


def ordinal(number: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, ..., 21st."""
    if 10 <= number % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def duration(seconds: float) -> str:
    """'under a minute', 'about 3 minutes', 'about 1 hour 10 minutes' (past an hour, to 5 minutes)."""
    if seconds < 60:
        return "under a minute"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {_plural(minutes, 'minute')}"
    minutes = 5 * round(seconds / 300)
    hours, rest = divmod(minutes, 60)
    return f"about {_plural(hours, 'hour')}" + (f" {_plural(rest, 'minute')}" if rest else "")


def place_sentence(queue: str, position: int | None, starts_in: float | None, ends_in: float | None) -> str:
    """The status page's sentence: where the submission waits and when grading starts and ends."""
    if position is None:  # already training
        return f"Results in {duration(ends_in or 0.0)}."
    where = f"Next in the {queue} queue" if position == 1 else f"{ordinal(position)} in the {queue} queue"
    return f"{where} · grading starts in {duration(starts_in or 0.0)}, results in {duration(ends_in or 0.0)}."
