"""``python -m pyresque work`` (and friends) as an operator runs them.

pidfile, --background, --count, bad input (one line on stderr, no
traceback, non-zero exit), ``failed retry`` of a raw payload, and
``failed_at`` in a non-UTC local zone. resque-protocol-notes.md §6.4, §7.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess

import pytest

from pyjobs_procs import env_for, pyresque_cmd, wait_title
from testsupport import free_port, wait_until

HOST = socket.gethostname()


def run(cmd, env, timeout=30):
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited: it only waits for its parent to reap it.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_pidfile_holds_the_worker_pid_and_is_removed_on_clean_exit(r, procs, redis_server, tmp_path):
    pidfile = tmp_path / "worker.pid"
    proc = procs.worker(redis_server, "-q", "q", "--pidfile", str(pidfile))
    wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), 10, "the pidfile")
    assert int(pidfile.read_text()) == proc.pid
    wait_until(lambda: r.sismember("resque:workers", f"{HOST}:{proc.pid}:q"), 10, "registration")
    proc.send_signal(signal.SIGQUIT)
    assert proc.wait(15) == 0
    assert not pidfile.exists()


def test_pidfile_from_env(r, procs, redis_server, tmp_path):
    pidfile = tmp_path / "env.pid"
    proc = procs.worker(redis_server, env=env_for(redis_server, QUEUES="q", PIDFILE=str(pidfile)))
    wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), 10, "the pidfile")
    assert int(pidfile.read_text()) == proc.pid
    proc.send_signal(signal.SIGQUIT)
    assert proc.wait(15) == 0 and not pidfile.exists()


def test_background_detaches_and_quit_stops_it(r, procs, redis_server, tmp_path):
    pidfile = tmp_path / "bg.pid"
    cmd = pyresque_cmd("work", "--import", "pyjobs_signals", "-q", "q", "--background", "--pidfile", str(pidfile))
    launcher = procs.run(cmd, env_for(redis_server))
    assert launcher.wait(10) == 0, launcher.stderr.read()
    pid = int(wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), 10, "the pidfile"))
    procs.extra_pids.append(pid)  # it runs in its own session: teardown kills it by group
    assert pid != launcher.pid and pid_alive(pid)
    wait_until(lambda: r.sismember("resque:workers", f"{HOST}:{pid}:q"), 10, "the daemon to register")
    wait_title(pid, r"resque-3\.0\.0: Waiting for q")
    os.kill(pid, signal.SIGQUIT)
    wait_until(lambda: not pid_alive(pid), 15, "the daemon to exit")
    assert not pidfile.exists()
    assert r.smembers("resque:workers") == set()


def test_count_runs_several_workers_and_one_ctrl_c_stops_them_all(r, procs, redis_server):
    proc = procs.worker(redis_server, "-q", "q", "--count", "2")
    members = wait_until(lambda: (lambda m: m if len(m) == 2 else None)(r.smembers("resque:workers")), 15,
                         "two workers to register")
    pids = sorted(int(m.decode().split(":")[1]) for m in members)
    assert proc.pid not in pids
    for pid in pids:
        wait_title(pid, r"resque-3\.0\.0: Waiting for q")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(15) == 0, proc.stderr.read()
    assert r.smembers("resque:workers") == set()
    assert not any(pid_alive(p) for p in pids)


def test_count_with_a_pidfile_gives_it_to_the_supervisor(r, procs, redis_server, tmp_path):
    pidfile = tmp_path / "count.pid"
    proc = procs.worker(redis_server, "-q", "q", "--count", "2", "--pidfile", str(pidfile))
    wait_until(lambda: r.scard("resque:workers") == 2, 15, "two workers")
    wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), 10, "the pidfile")
    assert int(pidfile.read_text()) == proc.pid
    proc.send_signal(signal.SIGQUIT)
    assert proc.wait(15) == 0
    assert not pidfile.exists()


def one_error_line(result):
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize("args, needle", [
    (["work"], "queues"),
    (["work", "-q", ""], "queues"),
    (["work", "-q", "q", "-i", "soon"], "interval"),
    (["work", "-q", "q", "--count", "0"], "count"),
    (["work", "-q", "q", "--job-timeout", "0"], "job-timeout"),
    (["work", "-q", "q", "--import", "no_such_module_xyz"], "no_such_module_xyz"),
    (["enqueue", "q", "Job", "{not json"], "JSON"),
    (["enqueue", "a,b", "Job"], ","),
    (["enqueue", "", "Job"], "queue"),
])
def test_bad_input_gives_one_clear_line(redis_server, args, needle):
    line = one_error_line(run(pyresque_cmd(*args), env_for(redis_server)))
    assert needle in line, line


@pytest.mark.parametrize("var, value", [("INTERVAL", "soon"), ("COUNT", "two"), ("RESQUE_TERM_TIMEOUT", "x"),
                                        ("PYRESQUE_JOB_TIMEOUT", "-1")])
def test_bad_env_gives_one_clear_line(redis_server, var, value):
    line = one_error_line(run(pyresque_cmd("work", "-q", "q"), env_for(redis_server, **{var: value})))
    assert var in line, line


@pytest.mark.parametrize("args", [["work", "-q", "q", "--import", "pyjobs_signals"], ["enqueue", "q", "Job"], ["info"]])
def test_unreachable_redis_gives_one_clear_line(args):
    url = f"redis://127.0.0.1:{free_port()}/0"
    env = env_for(url)
    line = one_error_line(run(pyresque_cmd(*args, "--redis", url), env, timeout=60))
    assert "Redis" in line or "redis" in line, line


def test_failed_retry_pushes_a_raw_payload_back_byte_for_byte(r, redis_server, procs):
    raws = [b'  {"class" : "Quick" , "args" : 1 }  ', b'{"class":"Quick","args":[NaN]}', b'["Quick"]']
    r.rpush("resque:queue:q", *raws)
    r.sadd("resque:queues", "q")
    proc = procs.worker(redis_server, "-q", "q", "-i", "0")
    assert proc.wait(15) == 0, proc.stderr.read()
    assert r.llen("resque:failed") == 3
    for i, raw in enumerate(raws):
        result = run(pyresque_cmd("failed", "retry", str(i)), env_for(redis_server))
        assert result.returncode == 0, result.stderr
        assert r.rpop("resque:queue:q") == raw
        rec = json.loads(r.lindex("resque:failed", i))
        assert "retried_at" in rec and rec["raw_payload"] == raw.decode()


def test_failed_at_is_local_time_with_the_zone_abbreviation(r, resque, redis_server, procs):
    resque.enqueue_to("q", "Boom", "x")
    env = env_for(redis_server, TZ="America/New_York")
    proc = procs.worker(redis_server, "-q", "q", "-i", "0", env=env)
    assert proc.wait(15) == 0, proc.stderr.read()
    [raw] = r.lrange("resque:failed", 0, -1)
    rec = json.loads(raw)
    assert re.fullmatch(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d E[SD]T", rec["failed_at"]), rec["failed_at"]
    assert (rec["exception"], rec["error"]) == ("ValueError", "boom x")
    assert rec["backtrace"] and all("/pyresque/" not in line for line in rec["backtrace"])
    assert "pyjobs_signals.py" in rec["backtrace"][0]


def test_count_with_background_detaches_the_supervisor(r, procs, redis_server, tmp_path):
    pidfile = tmp_path / "countbg.pid"
    cmd = pyresque_cmd("work", "--import", "pyjobs_signals", "-q", "q", "--count", "2", "--background",
                       "--pidfile", str(pidfile))
    launcher = procs.run(cmd, env_for(redis_server))
    assert launcher.wait(10) == 0, launcher.stderr.read()
    pid = int(wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), 10, "the pidfile"))
    procs.extra_pids.append(pid)
    wait_until(lambda: r.scard("resque:workers") == 2, 15, "two workers")
    os.kill(pid, signal.SIGQUIT)
    wait_until(lambda: not pid_alive(pid), 15, "the supervisor to exit")
    assert r.smembers("resque:workers") == set() and not pidfile.exists()
