"""The job the fault soak runs (``--import pyjobs_soak``).

A job proves it ran by appending its id to the file ``$SOAK_LOG`` (one small
``O_APPEND`` write, atomic between processes), outside Redis, so the proof
survives whatever happens to Redis. The payload says how long the job takes
and whether it then raises.
"""

from __future__ import annotations

import os
import time

import pyresque


@pyresque.job("SoakJob")
def soak_job(job_id: str, sleep_ms: float = 0, fail: bool = False) -> None:
    if sleep_ms:
        time.sleep(sleep_ms / 1000)
    fd = os.open(os.environ["SOAK_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{job_id}\n".encode())
    finally:
        os.close(fd)
    if fail:
        raise RuntimeError(f"soak job {job_id} fails on purpose")


@pyresque.job("SoakNoop")
def soak_noop(n: int) -> None:
    """For the memory run: nothing to do, so only the worker's own memory shows."""
