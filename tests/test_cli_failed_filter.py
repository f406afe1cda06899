"""``pyresque failed list --class/--exception/--grep``: the dashboard's filter, on the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pyresque import Resque

import webseed

ROOT = Path(__file__).resolve().parent.parent


def cli(redis_url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pyresque", "--redis", redis_url, *args], cwd=str(ROOT),
                          capture_output=True, text=True, timeout=60)


def test_failed_list_filters_like_the_dashboard(resque: Resque, redis_server: str) -> None:
    webseed.add_failure(resque, "a", "Archive", [1], "Errno::ENOENT", "No such file /x")
    webseed.add_failure(resque, "b", "Mailer", [2], "Net::SMTPError", "535 Authentication FAILED")
    webseed.add_failure(resque, "a", "Archive", [3], "Net::SMTPError", "other")
    out = cli(redis_server, "failed", "list", "--class", "Archive", "--exception", "Net::SMTPError", "--json")
    assert out.returncode == 0, out.stderr
    assert [(f["index"], f["payload"]["args"]) for f in json.loads(out.stdout)] == [(2, [3])]
    out = cli(redis_server, "failed", "list", "--grep", "authentication failed")
    assert out.returncode == 0 and "Mailer" in out.stdout and "Archive" not in out.stdout
    assert "no failures" in cli(redis_server, "failed", "list", "--class", "Nope").stdout


def test_a_name_that_is_not_utf8_prints_escaped_and_never_stops_a_command(resque: Resque, redis_server: str) -> None:
    resque.redis.sadd(resque.layout.workers, b"host\xff:1:q")
    out = cli(redis_server, "workers", "--json")
    assert out.returncode == 0, out.stderr
    assert [w["id"] for w in json.loads(out.stdout)] == ["host\udcff:1:q"]  # the bytes, as as_name reads them
    out = cli(redis_server, "workers")
    assert out.returncode == 0 and "host\\udcff:1:q (idle)" in out.stdout
