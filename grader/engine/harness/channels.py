"""Opens the harness's three channels to the host, from ``GRADER_CHANNELS``.

Two transports, one spec each:

* ``"3,4,5"``: descriptors inherited from the host (the bubblewrap backend's pipes);
* ``"unix:/channels/metrics.sock,unix:/channels/control.sock,unix:/channels/results.sock"``:
  Unix domain sockets the host listens on (the Docker backend, whose containers
  cannot inherit the host's pipes).

The Docker backend also sends stdout and stderr through two more sockets
(``GRADER_STDIO``, see ``redirect_stdio``): the host reads them as it reads
bubblewrap's pipes, and the engine never copies a print flood into its logs.

Either way the result is three plain descriptors in the order metrics, control,
results, blocking, and not inherited by child processes. Standard library only,
like everything in this package.
"""

from __future__ import annotations

import os
import socket
import time

UNIX_PREFIX = "unix:"
CONNECT_SECONDS = 30.0


def _parse(spec: str) -> list[int | str]:
    items = [item.strip() for item in spec.split(",")]
    if len(items) != 3:
        raise ValueError(f"GRADER_CHANNELS needs three channels, got {len(items)}: {spec!r}")
    parsed: list[int | str] = []
    for item in items:
        if item.startswith(UNIX_PREFIX):
            path = item[len(UNIX_PREFIX) :]
            if not path.startswith("/"):
                raise ValueError(f"a channel socket path must be absolute: {item!r}")
            parsed.append(path)
        elif item.isdigit():
            parsed.append(int(item))
        else:
            raise ValueError(f"a channel is a descriptor number or unix:PATH, not {item!r}")
    return parsed


def _connect(path: str, deadline: float) -> int:
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)
            continue
        except BaseException:
            sock.close()
            raise
        return sock.detach()  # a blocking, non-inheritable descriptor


def connect_channels(spec: str, timeout: float = CONNECT_SECONDS) -> tuple[int, int, int]:
    """The (metrics, control, results) descriptors described by ``spec``."""
    parsed = _parse(spec)
    deadline = time.monotonic() + timeout
    fds: list[int] = []
    opened: list[int] = []
    try:
        for item in parsed:
            if isinstance(item, int):
                os.fstat(item)  # fails clearly when the host did not pass it
                fds.append(item)
            else:
                fd = _connect(item, deadline)
                opened.append(fd)
                fds.append(fd)
    except BaseException:
        for fd in opened:
            os.close(fd)
        raise
    return fds[0], fds[1], fds[2]


def redirect_stdio(spec: str, timeout: float = CONNECT_SECONDS) -> None:
    """Make descriptors 1 and 2 the two sockets in ``spec`` ("unix:OUT,unix:ERR"), for the whole process."""
    items = [item.strip() for item in spec.split(",")]
    if len(items) != 2 or not all(item.startswith(UNIX_PREFIX + "/") for item in items):
        raise ValueError(f"GRADER_STDIO needs two unix:PATH sockets, got {spec!r}")
    deadline = time.monotonic() + timeout
    for target, item in zip((1, 2), items, strict=True):
        with socket.socket(fileno=_connect(item[len(UNIX_PREFIX) :], deadline)) as stream:
            stream.shutdown(socket.SHUT_RD)  # the sandbox only writes them
            os.dup2(stream.fileno(), target)  # inheritable, as a standard stream must be
