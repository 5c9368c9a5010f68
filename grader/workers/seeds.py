"""Training seeds: fixed by the rows, so a regrade trains the same way and a sweep's points alike."""

from __future__ import annotations


def seeds_for(submission_id: int, count: int) -> list[int]:
    """The training seeds of a submission: fixed by its id, so a regrade trains the same way."""
    return [(submission_id * 7919 + 104_729 * i) % 2**31 for i in range(count)]


def sweep_seed(sweep_id: int, seed_index: int) -> int:
    """A sweep's k-th seed, the same at every point: points then differ by their settings alone."""
    return (sweep_id * 15_485_863 + 104_729 * seed_index + 1) % 2**31
