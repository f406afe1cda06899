"""Jobs that record what they did in a file, outside Redis (for fault tests).

Imported by ``python -m pyresque work --import pyjobs_files``. A record in a
file survives whatever happens to Redis (a failover, a crash, a flush), so a
test can tell which jobs really ran.
"""

from __future__ import annotations

import os

import pyresque


@pyresque.job("Record")
def record(path: str, tag: str) -> None:
    """Append ``tag`` as one line to ``path`` (one write, so lines never interleave)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{tag}\n".encode())
    finally:
        os.close(fd)
