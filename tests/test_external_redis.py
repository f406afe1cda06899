"""The test suite can run against a Redis it did not start (PYRESQUE_TEST_REDIS_URL)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_session_uses_the_redis_named_by_pyresque_test_redis_url(r, redis_server):
    r.set("outer-marker", "1")
    url = redis_server.rsplit("/", 1)[0] + "/3"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_next_job_script.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env=dict(os.environ, PYRESQUE_TEST_REDIS_URL=url),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " passed" in proc.stdout
    # It really used that server: the inner session's flushes reached this one.
    assert r.get("outer-marker") is None
