"""A sandbox's writable places as tmpfs mounts the host makes itself: capped in bytes and in files.

bubblewrap's ``--tmpfs`` takes a size but no inode count, so a sandbox could fill its work dir
with millions of empty files, each costing the kernel memory. As root the host mounts each tmpfs
with ``nr_inodes`` as well as ``size`` and binds it in; a file past either cap is ENOSPC, a disk
limit the student is told of. Unprivileged (development), bubblewrap's own tmpfs is what there
is, capped in bytes only, and the memory cgroup still bounds what the files cost.

Mounts left by a worker that died are unmounted by the next one once they are older than any
run can be (``sweep_stale``).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
MNT_DETACH = 2
SUFFIX = "-scratch"
STALE_SECONDS = 6 * 3600.0  # longer than any run: a scratch folder this old has lost its worker
BYTES_PER_FILE = 8192  # one file allowed per 8 KiB of the cap (16,384 in the default 128 MiB)
MIN_FILES = 2048


def files_for(size: int) -> int:
    return max(MIN_FILES, size // BYTES_PER_FILE)


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _mount_tmpfs(path: Path, size: int) -> None:
    options = f"size={size},nr_inodes={files_for(size)},mode=1777".encode()
    flags = MS_NOSUID | MS_NODEV
    if _libc().mount(b"tmpfs", str(path).encode(), b"tmpfs", flags, options) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"cannot mount a tmpfs on {path}: {os.strerror(code)}")


def _unmount(path: Path) -> None:
    _libc().umount2(str(path).encode(), MNT_DETACH)  # lazily: a process may still hold a file open


@dataclass
class Scratch:
    """Mounted tmpfs folders by the path they take inside the sandbox."""

    root: Path
    places: dict[str, Path] = field(default_factory=dict)

    def close(self) -> None:
        for path in self.places.values():
            _unmount(path)
        shutil.rmtree(self.root, ignore_errors=True)


def available() -> bool:
    return os.geteuid() == 0


def make(jobdir: Path, sizes: dict[str, int]) -> Scratch | None:
    """One tmpfs per place (``{"/workspace": bytes, ...}``) beside ``jobdir``; None unprivileged."""
    if not available():
        return None
    sweep_stale(jobdir.parent)
    scratch = Scratch(jobdir.with_name(jobdir.name + SUFFIX))
    scratch.root.mkdir(mode=0o700)
    try:
        for index, (place, size) in enumerate(sizes.items()):
            path = scratch.root / str(index)
            path.mkdir(mode=0o700)
            _mount_tmpfs(path, size)
            scratch.places[place] = path
    except OSError:
        scratch.close()
        raise
    return scratch


def sweep_stale(parent: Path) -> None:
    now = time.time()
    for root in parent.glob(f"job-*{SUFFIX}"):
        try:
            if now - root.stat().st_mtime < STALE_SECONDS:
                continue
        except OSError:
            continue
        for path in root.iterdir():
            _unmount(path)
        shutil.rmtree(root, ignore_errors=True)
