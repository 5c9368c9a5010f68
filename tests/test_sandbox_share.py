"""When the host's CPU is full, the pages and the workers' own processes go before the runs.

At a deadline on a host that also serves the pages, the runs and the warm pool's refills would
otherwise take an equal share each and the uploads and status pages would wait behind them
(benchmarks/deadline_burst.py measures it). The sandboxes' parent cgroup weighs a quarter of a
default group; idle CPU is still all theirs, and each run's own CPU quota is unchanged.
"""

from __future__ import annotations

import uuid

import pytest

from grader.engine.sandbox import cgroups


def test_the_sandboxes_parent_group_weighs_a_quarter_of_the_default():
    group = cgroups.Cgroup.create(f"sb-share-{uuid.uuid4().hex[:8]}", 256 * 1024 * 1024, 16, 1.0)
    if group is None:
        pytest.skip("no writable cgroup hierarchy here: nothing to weigh")
    try:
        if isinstance(group, cgroups.CgroupV1):
            parent = group.dirs["cpu"].parent
            assert (parent / "cpu.shares").read_text().strip() == str(cgroups.SANDBOX_SHARES) == "256"
            assert (group.dirs["cpu"] / "cpu.cfs_quota_us").read_text().strip() == "100000"  # its own core
        else:
            parent = group.dirs["unified"].parent
            assert (parent / "cpu.weight").read_text().strip() == str(cgroups.SANDBOX_WEIGHT) == "25"
            assert (group.dirs["unified"] / "cpu.max").read_text().split()[0] == "100000"
    finally:
        group.destroy()
