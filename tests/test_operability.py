"""Running pyresque in production: what a process prints, its exit code, what Redis holds.

Each test is a problem a new user met (issue "Operable from the first
afternoon"): real `pyresque` processes, real signals, a real Redis.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import textwrap
import time

import pytest

from pyjobs_procs import env_for, pyresque_cmd, started_pid, wait_title
from pyresque.registry import Registry, job
from pyresque.worker import Worker
from testsupport import wait_until

HOST = socket.gethostname()


def run(args, env, timeout=60):
    return subprocess.run(pyresque_cmd(*args), env=env, capture_output=True, text=True, timeout=timeout,
                          cwd=os.path.dirname(os.path.dirname(__file__)))


def one_line(out) -> str:
    assert out.stderr.count("\n") == 1, out.stderr
    return out.stderr.strip()


# Unknown classes -------------------------------------------------------------------
def test_a_worker_with_no_registered_job_refuses_to_start(redis_server):
    out = run(["work", "-q", "*"], env_for(redis_server))
    assert out.returncode == 2
    assert "no job is registered: pass --import MODULE" in one_line(out)


def test_jobs_no_python_code_runs_go_back_to_their_queue_and_the_worker_does_not_spin(r, procs, redis_server):
    """A Python worker on '*' leaves Ruby's jobs for Ruby workers: no failure, no loop."""
    ruby_jobs = [json.dumps({"class": "Mailer", "args": [n]}) for n in range(3)]
    r.sadd("resque:queues", "mail", "q")
    r.rpush("resque:queue:mail", *ruby_jobs)
    proc = procs.worker(redis_server, "-q", "*", "-i", "0.5", "--no-fork",
                        env=env_for(redis_server, PYJOBS_NO_HOOKS="1"))
    wait_title(proc.pid, r"resque-3\.0\.0: Waiting for .*")
    r.rpush("resque:queue:q", '{"class":"Quick","args":["mine"]}')
    wait_until(lambda: r.lrange("t:done", 0, -1) == [b"mine"], 10, "the Python job")
    calls = lambda: int(r.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))  # noqa: E731
    before = calls()
    time.sleep(2)  # idle for a while: the point is how many calls an idle worker makes
    assert calls() - before < 20, "the worker does not spin on jobs it cannot run"
    # All back on their queue (one may be in the worker's hands a moment at a time).
    wait_until(lambda: sorted(r.lrange("resque:queue:mail", 0, -1)) == sorted(x.encode() for x in ruby_jobs),
               10, "the Ruby jobs back on their queue")
    assert r.llen("resque:failed") == 0 and r.get("resque:stat:processed") == b"1"
    proc.send_signal(signal.SIGQUIT)
    assert proc.wait(15) == 0
    err = proc.stderr.read().decode()
    assert err.count("no job is registered for class 'Mailer'") == 1, err


def test_unknown_jobs_fail_records_them_as_ruby_does(r, redis_server):
    r.sadd("resque:queues", "mail")
    r.rpush("resque:queue:mail", '{"class":"Mailer","args":[1]}')
    out = run(["work", "-q", "mail", "-i", "0", "--import", "pyjobs_signals", "--unknown-jobs", "fail"],
              env_for(redis_server, PYJOBS_NO_HOOKS="1"))
    assert out.returncode == 0, out.stderr
    [failure] = [json.loads(x) for x in r.lrange("resque:failed", 0, -1)]
    assert failure["exception"] == "pyresque.UnknownJob"


def test_a_queue_of_only_other_workers_jobs_drains_and_exits(r, resque, registry):
    job("Mine", registry=registry)(lambda: None)
    for n in range(5):
        resque.enqueue_to("shared", "Theirs", n)
    resque.enqueue_to("shared", "Mine")
    Worker(resque, ["shared"], interval_s=0, registry=registry, fork_per_job=False).work()
    assert [json.loads(x)["class"] for x in r.lrange("resque:queue:shared", 0, -1)] == ["Theirs"] * 5
    assert r.get("resque:stat:processed") == b"1" and r.llen("resque:failed") == 0


# Logs ---------------------------------------------------------------------------------
def test_the_worker_logs_its_start_each_job_and_its_stop(r, procs, redis_server):
    r.rpush("resque:queue:q", '{"class":"Quick","args":["a"]}', '{"class":"Boom","args":["b"]}')
    r.sadd("resque:queues", "q")
    proc = procs.worker(redis_server, "-q", "q", env=env_for(redis_server, PYJOBS_NO_HOOKS="1"))
    wait_until(lambda: r.llen("resque:failed") == 1 and r.lrange("t:done", 0, -1) == [b"a"], 15, "both jobs")
    wait_title(proc.pid, r"resque-3\.0\.0: Waiting for q")
    proc.send_signal(signal.SIGQUIT)
    assert proc.wait(15) == 0
    err = proc.stderr.read().decode()
    wid = f"{HOST}:{proc.pid}:q"
    assert f"worker {wid} started: pid {proc.pid}, queues q, a child per job, forked ahead, jobs: " in err, err
    assert "Quick from q done in " in err and "Boom from q failed in " in err and "ValueError: boom b" in err
    assert f"worker {wid} stopping: QUIT: finishing the running job first" in err
    assert f"worker {wid} stopped after 2 jobs" in err


def test_json_logs_are_one_object_per_line_with_the_job_fields(r, procs, redis_server, tmp_path):
    logfile = tmp_path / "worker.log"
    r.rpush("resque:queue:q", '{"class":"Quick","args":["a"]}')
    r.sadd("resque:queues", "q")
    proc = procs.worker(redis_server, "-q", "q", "--no-fork", "--log-format", "json", "--logfile", str(logfile),
                        env=env_for(redis_server, PYJOBS_NO_HOOKS="1"))
    wait_until(lambda: r.lrange("t:done", 0, -1) == [b"a"], 15, "the job")
    proc.send_signal(signal.SIGQUIT)
    assert proc.wait(15) == 0
    assert proc.stderr.read() == b"", "with --logfile nothing goes to stderr"
    lines = [json.loads(line) for line in logfile.read_text().splitlines()]
    assert all({"time", "level", "pid", "worker", "message"} <= set(x) for x in lines)
    assert {x["worker"] for x in lines} == {f"{HOST}:{proc.pid}:q"}
    [done] = [x for x in lines if x.get("outcome")]
    assert (done["queue"], done["class"], done["outcome"]) == ("q", "Quick", "done")
    assert isinstance(done["duration_ms"], float) and done["pid"] == proc.pid


def test_logging_is_left_to_an_application_that_embeds_pyresque(r, resque, registry, caplog):
    import logging

    job("Quick", registry=registry)(lambda: None)
    resque.enqueue_to("q", "Quick")
    root = logging.getLogger()
    handlers = list(root.handlers)
    with caplog.at_level(logging.INFO, logger="pyresque"):
        Worker(resque, ["q"], interval_s=0, registry=registry, fork_per_job=False).work()
    assert root.handlers == handlers, "the library adds no handler"
    [line] = [rec for rec in caplog.records if getattr(rec, "job_outcome", None)]
    assert (line.job_class, line.job_outcome) == ("Quick", "done")


# Startup errors --------------------------------------------------------------------------
def test_a_job_module_that_fails_to_import_is_one_line(redis_server, tmp_path):
    (tmp_path / "brokenjobs.py").write_text("import pyresque\n\nundefined_name + 1\n")
    env = env_for(redis_server, PYTHONPATH=f"{tmp_path}{os.pathsep}{env_for(redis_server)['PYTHONPATH']}")
    out = run(["work", "-q", "q", "--import", "brokenjobs"], env)
    assert out.returncode == 2
    line = one_line(out)
    assert "cannot import job module 'brokenjobs': NameError" in line and "brokenjobs.py:3" in line
    verbose = run(["work", "-q", "q", "--import", "brokenjobs", "-v"], env)
    assert verbose.returncode == 2 and "Traceback" in verbose.stderr


def test_a_failing_before_first_fork_hook_is_one_line(redis_server, tmp_path):
    (tmp_path / "hookjobs.py").write_text(textwrap.dedent("""
        import pyresque
        from pyresque import registry

        @pyresque.job("Nothing")
        def nothing():
            pass

        def refuse(worker):
            raise RuntimeError("no database configured")

        registry.default_registry.add_worker_hook("before_first_fork", refuse)
    """))
    env = env_for(redis_server, PYTHONPATH=f"{tmp_path}{os.pathsep}{env_for(redis_server)['PYTHONPATH']}")
    out = run(["work", "-q", "q", "--import", "hookjobs"], env)
    assert out.returncode == 1
    errors = [line for line in out.stderr.splitlines() if "error" in line.lower()]
    assert errors[-1].endswith("stopped: RuntimeError: no database configured (run with -v for the traceback)")
    assert "Traceback" not in out.stderr


def test_registering_one_name_twice_names_both_places():
    registry = Registry()

    def first():
        pass

    def second():
        pass

    job("Twice", registry=registry)(first)
    with pytest.raises(ValueError) as info:
        job("Twice", registry=registry)(second)
    assert "'Twice' is registered twice" in str(info.value)
    assert "first" in str(info.value) and "second" in str(info.value) and "test_operability.py:" in str(info.value)


@pytest.mark.parametrize("queues", ["", ","])
def test_queue_lists_with_no_queue_are_the_same_usage_error(redis_server, queues):
    out = run(["work", "-q", queues, "--import", "pyjobs_signals"], env_for(redis_server))
    assert out.returncode == 2, out.stderr
    one_line(out)


def test_peek_refuses_a_count_of_zero(resque, redis_server):
    resque.enqueue_to("q", "Job", 1)
    out = run(["peek", "q", "--count", "0"], env_for(redis_server))
    assert out.returncode == 2 and "--count must be at least 1" in one_line(out)


# Clean stops ------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["--fork", "--no-fork"])
def test_requeue_on_term_puts_a_job_that_does_not_end_back_at_the_head_once(r, procs, redis_server, mode):
    r.sadd("resque:queues", "q")
    r.rpush("resque:queue:q", '{"class":"Block","args":["long"]}', '{"class":"Quick","args":["next"]}')
    proc = procs.worker(redis_server, "-q", "q", "--requeue-on-term", mode,
                        env=env_for(redis_server, PYJOBS_NO_HOOKS="1", RESQUE_TERM_TIMEOUT="0.5"))
    started_pid(r, "long")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0, proc.stderr.read()
    assert r.lrange("resque:queue:q", 0, -1) == [b'{"class":"Block","args":["long"]}',
                                                 b'{"class":"Quick","args":["next"]}']
    assert r.llen("resque:failed") == 0 and r.get("resque:stat:processed") is None
    assert r.smembers("resque:workers") == set()


@pytest.mark.parametrize("mode", ["--fork", "--no-fork"])
def test_requeue_on_term_lets_a_job_that_ends_within_the_grace_finish(r, procs, redis_server, mode):
    r.sadd("resque:queues", "q")
    r.rpush("resque:queue:q", '{"class":"Block","args":["short"]}')
    proc = procs.worker(redis_server, "-q", "q", "--requeue-on-term", mode,
                        env=env_for(redis_server, PYJOBS_NO_HOOKS="1", RESQUE_TERM_TIMEOUT="10"))
    started_pid(r, "short")
    proc.send_signal(signal.SIGTERM)
    r.set("t:release:short", "1")
    assert proc.wait(15) == 0
    assert r.lrange("t:done", 0, -1) == [b"short"] and r.llen("resque:queue:q") == 0
    assert r.get("resque:stat:processed") == b"1" and r.llen("resque:failed") == 0


def test_a_worker_as_pid_1_stops_cleanly_on_term(r, redis_server):
    """As in a container without an init: PID 1 gets only the signals it handles."""
    unshare = "/usr/bin/unshare"
    if not os.path.exists(unshare) or subprocess.run([unshare, "--pid", "--fork", "true"]).returncode != 0:
        pytest.skip("needs util-linux's unshare and permission to make a PID namespace (run as root)")
    proc = subprocess.Popen([unshare, "--pid", "--fork", "--kill-child", *pyresque_cmd("work", "-q", "q", "--import",
                            "pyjobs_signals")], env=env_for(redis_server, PYJOBS_NO_HOOKS="1"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=os.path.dirname(os.path.dirname(__file__)))
    try:
        wid = wait_until(lambda: next((w.decode() for w in r.smembers("resque:workers")), None), 15, "the worker")
        assert wid.split(":")[1] == "1", "the worker is PID 1 in its namespace"
        worker_pid = int(subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()[0])
        os.kill(worker_pid, signal.SIGTERM)
        assert proc.wait(15) == 0, proc.stderr.read()
        assert r.smembers("resque:workers") == set()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()


# Health, pause --------------------------------------------------------------------------
def test_health_says_healthy_for_a_live_worker_and_unhealthy_when_it_is_gone(r, procs, redis_server):
    out = run(["health"], env_for(redis_server))
    assert out.returncode == 1 and out.stdout.startswith(f"unhealthy: no workers on host {HOST} registered")
    proc = procs.worker(redis_server, "-q", "q", env=env_for(redis_server, PYJOBS_NO_HOOKS="1"))
    wid = f"{HOST}:{proc.pid}:q"
    wait_until(lambda: r.sismember("resque:workers", wid), 10, "the worker")
    out = run(["health", "--worker", wid, "--json"], env_for(redis_server))
    report = json.loads(out.stdout)
    assert out.returncode == 0 and report["healthy"] and report["workers"][0]["id"] == wid
    assert 0 <= report["workers"][0]["heartbeat_age_s"] < 5
    proc.send_signal(signal.SIGSTOP)  # frozen: alive to the kernel, silent to Redis
    try:
        now, _ = r.time()
        r.hset("resque:workers:heartbeat", wid, time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now - 200)))
        out = run(["health", "--worker", wid], env_for(redis_server))
        assert out.returncode == 1 and "heartbeat older than 120 s" in out.stdout
    finally:
        proc.send_signal(signal.SIGCONT)
    dead = run(["health", "--redis", "redis://127.0.0.1:1/0"], env_for(redis_server))
    assert dead.returncode == 1 and dead.stdout.startswith("unhealthy: cannot reach Redis")


def test_pause_and_resume_from_the_cli_and_workers_shows_paused(r, procs, redis_server):
    proc = procs.worker(redis_server, "-q", "q", env=env_for(redis_server, PYJOBS_NO_HOOKS="1"))
    wid = f"{HOST}:{proc.pid}:q"
    wait_title(proc.pid, r"resque-3\.0\.0: Waiting for q")
    assert run(["pause"], env_for(redis_server)).returncode == 0
    assert r.get("resque:pause-all-workers") == b"true"
    wait_title(proc.pid, r"resque-3\.0\.0: Paused")
    assert f"{wid} (paused)" in run(["workers"], env_for(redis_server)).stdout
    r.rpush("resque:queue:q", '{"class":"Quick","args":["after"]}')
    assert run(["resume"], env_for(redis_server)).returncode == 0
    wait_until(lambda: r.lrange("t:done", 0, -1) == [b"after"], 10, "the job after resume")
    assert f"{wid} (idle)" in run(["workers"], env_for(redis_server)).stdout


# failed list --------------------------------------------------------------------------------
def test_failed_list_pages_names_the_real_class_and_shows_corrupt_records(r, redis_server):
    wrapper = "ActiveJob::QueueAdapters::ResqueAdapter::JobWrapper"
    records = [json.dumps({"failed_at": "2026/12/01 10:00:00 UTC", "queue": "q", "exception": "RuntimeError",
                           "error": f"no {n}", "worker": "w", "backtrace": [],
                           "payload": {"class": wrapper, "args": [{"job_class": "InvoiceJob", "job_id": f"id-{n}"}]}})
               for n in range(25)]
    r.rpush("resque:failed", *records, "{not json")
    first = run(["failed", "list"], env_for(redis_server))
    lines = first.stdout.splitlines()
    assert lines[0] == "failures 0-19 of 26; next page: --start 20"
    assert len(lines) == 21 and "InvoiceJob id-0" in lines[1] and wrapper not in first.stdout
    last = run(["failed", "list", "--start", "20"], env_for(redis_server)).stdout.splitlines()
    assert last[0] == "failures 20-25 of 26"
    assert last[-1].startswith("25  corrupt record (not a JSON object): '{not json'")


# Supervision ---------------------------------------------------------------------------------
def test_count_restarts_a_killed_child_and_leaves_no_ghost(r, procs, redis_server):
    sup = procs.worker(redis_server, "-q", "q", "--count", "2", env=env_for(redis_server, PYJOBS_NO_HOOKS="1"))

    def live_ids():
        ids = {w.decode() for w in r.smembers("resque:workers")}
        return ids if len(ids) == 2 and all(os.path.exists(f"/proc/{i.split(':')[1]}") for i in ids) else None

    before = wait_until(live_ids, 20, "two workers")
    victim = int(sorted(before)[0].split(":")[1])
    os.kill(victim, signal.SIGKILL)
    after = wait_until(lambda: (ids := live_ids()) and ids != before and ids, 20, "a replacement worker")
    assert len(after & before) == 1 and not any(f":{victim}:" in i for i in after), "no ghost entry"
    sup.send_signal(signal.SIGQUIT)
    assert sup.wait(20) == 0
    assert r.smembers("resque:workers") == set()


def test_count_gives_up_on_a_child_that_keeps_dying(redis_server, tmp_path):
    (tmp_path / "dyingjobs.py").write_text(textwrap.dedent("""
        import os, sys
        import pyresque

        @pyresque.job("Nothing")
        def nothing():
            pass

        if os.environ.get("COUNT") == "1" and "--count" in sys.argv:  # the children, not the supervisor
            os._exit(3)
    """))
    env = env_for(redis_server, PYJOBS_NO_HOOKS="1",
                  PYTHONPATH=f"{tmp_path}{os.pathsep}{env_for(redis_server)['PYTHONPATH']}")
    out = run(["work", "-q", "q", "--count", "2", "--import", "dyingjobs"], env, timeout=90)
    assert out.returncode == 1, out.stderr
    assert out.stderr.count("giving up") == 1, out.stderr
