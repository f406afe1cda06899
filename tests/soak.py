"""The fault soak: many uniquely identified jobs, real workers, injected faults.

Each scenario enqueues jobs whose only proof of having run is a line in a
file outside Redis (tests/pyjobs_soak.py), runs real ``pyresque work``
processes in fork and in-process mode, injects its fault again and again
(SIGKILL of a worker, its job's child or its whole process group; Redis
restarted with AOF on; Redis frozen), lets the survivors drain and prune, and
then accounts for every job: performed, a failure record a user can retry,
or still queued. Anything else is *lost*.

``tests/test_faults_soak.py`` runs the scenarios at a size CI affords;
``dev/faults`` runs them at full size and prints the table the README carries.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import redis as redis_py

from pyjobs_procs import Procs, env_for, pyresque_cmd
from testsupport import wait_until

QUEUE = "soak"
DIRTY = ("Resque::DirtyExit", "Resque::PruneDeadWorkerDirtyExit")
# Short heartbeat and prune intervals, so the survivors prune the killed
# workers within seconds (Ruby's defaults are 60 s and 300 s).
WORKER_FLAGS = ("--heartbeat-interval", "1", "--prune-interval", "3")


@dataclass
class Figures:
    """What became of every job of one scenario."""

    scenario: str
    jobs: int
    faults: int
    seconds: float = 0.0
    performed: int = 0
    failed_on_purpose: int = 0
    dirty_exits: int = 0
    still_queued: int = 0
    lost: int = 0
    ran_twice: int = 0
    performed_and_dirty: int = 0
    unretryable: int = 0
    lost_ids: list[str] = field(default_factory=list)
    # Scenarios that stop workers during a fault: the slowest stop, in seconds.
    max_stop_s: float | None = None

    ROW = ("scenario", "jobs", "faults", "performed", "failed_on_purpose", "dirty_exits", "still_queued",
           "lost", "ran_twice", "performed_and_dirty", "seconds")

    def row(self) -> list[str]:
        return [self.scenario] + [f"{getattr(self, k):,}" if k != "seconds" else f"{self.seconds:.0f}"
                                  for k in self.ROW[1:]]


def table(rows: list[Figures]) -> str:
    head = "| " + " | ".join(Figures.ROW).replace("_", " ") + " |"
    rule = "|" + "|".join(["---"] + ["---:"] * (len(Figures.ROW) - 1)) + "|"
    return "\n".join([head, rule] + ["| " + " | ".join(f.row()) + " |" for f in rows])


class Fleet:
    """Real worker processes on one queue: one forking, one in-process by default."""

    def __init__(self, url: str, log_path: Path, modes: tuple[str, ...] = ("fork", "inproc")) -> None:
        self.url = url
        self.env = env_for(url, SOAK_LOG=str(log_path), PYJOBS_NO_HOOKS="1")
        self.modes = modes
        self.procs = Procs()
        self.live: dict[int, subprocess.Popen] = {}
        for slot in range(len(modes)):
            self.start(slot)

    def start(self, slot: int) -> None:
        mode_flags = ("--no-fork",) if self.modes[slot] == "inproc" else ()
        cmd = pyresque_cmd("work", "--import", "pyjobs_soak", "-q", QUEUE, "-i", "1", *WORKER_FLAGS, *mode_flags)
        self.live[slot] = self.procs.run(cmd, self.env, stderr=subprocess.DEVNULL)

    def kill(self, rng: random.Random) -> str:
        """SIGKILL one thing at random, restart what died; what was killed."""
        slot = rng.randrange(len(self.modes))
        proc = self.live[slot]
        target = rng.choice(["worker", "child", "group"] if self.modes[slot] == "fork" else ["worker", "group"])
        if target == "child":
            children = _children(proc.pid)
            if not children:
                target = "worker"
            else:
                _kill(rng.choice(children), signal.SIGKILL)
                return f"{self.modes[slot]}:child"
        if target == "group":
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        else:
            _kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        self.start(slot)
        return f"{self.modes[slot]}:{target}"

    def revive(self) -> None:
        """Start again any worker that exited on its own, as a supervisor
        would (a worker that cannot reach Redis at startup exits 1)."""
        for slot, proc in self.live.items():
            if proc.poll() is not None:
                self.start(slot)

    def stop(self) -> None:
        for proc in self.live.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGQUIT)
        for proc in self.live.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
        self.procs.kill_all()


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid``: its fork server, the spare and the job's child."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            direct = [int(x) for x in f.read().split()]
    except OSError:
        return []
    return direct + [grandchild for child in direct for grandchild in _children(child)]


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def enqueue(r: redis_py.Redis, ids: list[str], rng: random.Random, fail_every: int = 23) -> None:
    """Jobs of a few milliseconds each; one in ``fail_every`` raises on purpose."""
    pipe = r.pipeline(transaction=False)
    pipe.sadd("resque:queues", QUEUE)
    for job_id in ids:
        sleep_ms = round(rng.uniform(0, 6), 1)
        args = [job_id, sleep_ms, int(job_id[1:]) % fail_every == 0]
        pipe.rpush(f"resque:queue:{QUEUE}", json.dumps({"class": "SoakJob", "args": args}, separators=(",", ":")))
    pipe.execute()


def settle(r: redis_py.Redis, fleet: Fleet, timeout_s: float) -> None:
    """Wait until the queue is empty and every registered worker is a live one
    (the killed ones pruned, their jobs turned into failure records)."""
    def settled() -> bool:
        fleet.revive()
        if r.llen(f"resque:queue:{QUEUE}"):
            return False
        live = {p.pid for p in fleet.live.values() if p.poll() is None}
        registered = {_pid(w.decode()) for w in r.smembers("resque:workers")}
        held = [k.decode()[len("resque:worker:"):] for k in r.keys("resque:worker:*") if not k.endswith(b":started")]
        return registered <= live and not held
    wait_until(settled, timeout_s, "the queue to drain and the killed workers to be pruned", step_s=0.2)


def _pid(worker_id: str) -> int:
    return int(worker_id.split(":")[1])


def account(r: redis_py.Redis, scenario: str, ids: list[str], faults: int, log_path: Path, seconds: float) -> Figures:
    """Where every job ended up."""
    ran = Counter(log_path.read_text().split()) if log_path.exists() else Counter()
    failures: dict[str, list[str]] = {}
    unretryable = 0
    for raw in r.lrange("resque:failed", 0, -1):
        record = json.loads(raw)
        payload = record.get("payload")
        if not (isinstance(payload, dict) and isinstance(payload.get("class"), str) and isinstance(payload.get("args"), list)):
            unretryable += 1
            continue
        failures.setdefault(str(payload["args"][0]), []).append(record["exception"])
    queued = {json.loads(x)["args"][0] for x in r.lrange(f"resque:queue:{QUEUE}", 0, -1)}
    lost = [i for i in ids if i not in ran and i not in failures and i not in queued]
    return Figures(
        scenario=scenario, jobs=len(ids), faults=faults, seconds=seconds,
        performed=sum(1 for i in ids if i in ran),
        failed_on_purpose=sum(1 for e in failures.values() if "RuntimeError" in e),
        dirty_exits=sum(1 for e in failures.values() for x in e if x in DIRTY),
        still_queued=len(queued), lost=len(lost), lost_ids=lost[:20],
        ran_twice=sum(1 for i in ids if ran[i] > 1),
        performed_and_dirty=sum(1 for i in ids if i in ran and any(x in DIRTY for x in failures.get(i, []))),
        unretryable=unretryable,
    )


def run(r: redis_py.Redis, url: str, workdir: Path, scenario: str, jobs: int, faults: int,
        inject: Callable[[Fleet, random.Random], object], seed: int, pace_s: tuple[float, float] = (0.1, 0.4),
        modes: tuple[str, ...] = ("fork", "inproc"),
        enqueue: Callable[[redis_py.Redis, list[str], random.Random], None] = enqueue) -> Figures:
    """Enqueue ``jobs`` in batches while injecting ``faults`` at random
    instants, then settle, stop the workers and account."""
    rng = random.Random(seed)
    log_path = workdir / f"{scenario}.log"
    ids = [f"j{n:07d}" for n in range(1, jobs + 1)]
    t0 = time.monotonic()
    fleet = Fleet(url, log_path, modes)
    try:
        batches = [ids[i::faults + 1] for i in range(faults + 1)]
        enqueue(r, sorted(batches[0]), rng)
        for n in range(faults):
            time.sleep(rng.uniform(*pace_s))  # the fault lands at a random instant: the point of the soak
            inject(fleet, rng)
            fleet.revive()
            enqueue(r, sorted(batches[n + 1]), rng)
        settle(r, fleet, timeout_s=120 + jobs / 50)
    finally:
        fleet.stop()
    return account(r, scenario, ids, faults, log_path, time.monotonic() - t0)


def kill_soak(r: redis_py.Redis, url: str, workdir: Path, jobs: int, kills: int, seed: int) -> Figures:
    return run(r, url, workdir, "kill -9", jobs, kills, lambda fleet, rng: fleet.kill(rng), seed)


def redis_restart_soak(server, workdir: Path, jobs: int, restarts: int, seed: int) -> Figures:
    """Redis (AOF on, fsync always) restarted under load: cleanly or by SIGKILL."""
    def restart(fleet: Fleet, rng: random.Random) -> None:
        server.restart(rng.choice([signal.SIGTERM, signal.SIGKILL]))
    return run(server.client(), server.url, workdir, "Redis restart (AOF)", jobs, restarts, restart, seed,
               pace_s=(0.5, 1.5))


def redis_hang_soak(server, workdir: Path, jobs: int, hangs: int, seed: int) -> Figures:
    """Redis frozen (SIGSTOP: connections accepted, nothing answered) for 1-3 s
    at a time; during some hangs a worker is told to stop (QUIT) and must
    exit within seconds anyway, then is started again."""
    stops: list[float] = []

    def hang(fleet: Fleet, rng: random.Random) -> None:
        server.freeze()
        try:
            frozen_until = time.monotonic() + rng.uniform(1, 3)
            if rng.random() < 0.5:
                slot = rng.randrange(len(fleet.modes))
                proc = fleet.live[slot]
                t0 = time.monotonic()
                proc.send_signal(signal.SIGQUIT)
                try:
                    proc.wait(15)
                finally:
                    stops.append(time.monotonic() - t0)
                fleet.start(slot)
            time.sleep(max(0.0, frozen_until - time.monotonic()))  # the hang's length is the scenario
        finally:
            server.thaw()

    figures = run(server.client(), server.url, workdir, "Redis hang", jobs, hangs, hang, seed, pace_s=(0.3, 1.0))
    figures.max_stop_s = max(stops, default=0.0)
    return figures


@dataclass
class Memory:
    """An in-process worker's resident memory as it runs many jobs."""

    jobs: int
    rss_start_kb: int
    rss_end_kb: int
    growth_kb_per_10k: float
    seconds: float

    def table(self) -> str:
        return ("| jobs | RSS after the first 10,000 | RSS at the end | growth per 10,000 jobs | seconds |\n"
                "|---:|---:|---:|---:|---:|\n"
                f"| {self.jobs:,} | {self.rss_start_kb / 1024:.1f} MB | {self.rss_end_kb / 1024:.1f} MB "
                f"| {self.growth_kb_per_10k:+.1f} kB | {self.seconds:.0f} |")


def memory_run(r: redis_py.Redis, url: str, jobs: int, step: int = 10_000) -> Memory:
    """Run ``jobs`` no-op jobs through one in-process worker, reading its RSS
    every ``step`` jobs; the growth is the least-squares slope after the first step."""
    procs = Procs()
    t0 = time.monotonic()
    payload = json.dumps({"class": "SoakNoop", "args": [1]})
    try:
        proc = procs.run(pyresque_cmd("work", "--import", "pyjobs_soak", "-q", QUEUE, "--no-fork", "-i", "1"),
                         env_for(url, PYJOBS_NO_HOOKS="1"), stderr=subprocess.DEVNULL)
        samples: list[tuple[int, int]] = []
        for done in range(step, jobs + 1, step):
            r.rpush(f"resque:queue:{QUEUE}", *([payload] * step))
            wait_until(lambda: int(r.get("resque:stat:processed") or 0) >= done, 120, f"{done} jobs")
            samples.append((done, _rss_kb(proc.pid)))
        proc.send_signal(signal.SIGQUIT)
        proc.wait(30)
    finally:
        procs.kill_all()
    steady = samples[1:] or samples
    n = len(steady)
    mean_x = sum(x for x, _ in steady) / n
    mean_y = sum(y for _, y in steady) / n
    var = sum((x - mean_x) ** 2 for x, _ in steady)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in steady) / var if var else 0.0
    return Memory(jobs, samples[0][1], samples[-1][1], slope * step, time.monotonic() - t0)


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


# The full-size run: dev/faults -----------------------------------------------------
FULL = {"kill": (10_000, 200), "restart": (4_000, 20), "hang": (3_000, 20), "failover": (2_000, 5), "memory": 200_000}
SMALL = {"kill": (1_500, 40), "restart": (600, 4), "hang": (600, 4), "failover": (300, 1), "memory": 60_000}
README_START, README_END = "<!-- fault-table -->", "<!-- /fault-table -->"


def main(argv: list[str] | None = None) -> int:
    import argparse
    import platform
    import tempfile

    from faultkit import RedisServer

    parser = argparse.ArgumentParser(prog="dev/faults", description="The fault suite at full size, as a table.")
    parser.add_argument("--small", action="store_true", help="CI's sizes instead of the full ones")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--update-readme", action="store_true", help="write the tables into README.md")
    args = parser.parse_args(argv)
    sizes = SMALL if args.small else FULL
    rows: list[Figures] = []
    with tempfile.TemporaryDirectory(prefix="pyresque-faults-") as tmp:
        work = Path(tmp)
        for name, appendonly in (("kill", False), ("restart", True), ("hang", True)):
            (work / name).mkdir()
            server = RedisServer(work / name, appendonly=appendonly)
            try:
                server.start()
                jobs, faults = sizes[name]
                if name == "kill":
                    rows.append(kill_soak(server.client(), server.url, work / name, jobs, faults, args.seed))
                elif name == "restart":
                    rows.append(redis_restart_soak(server, work / name, jobs, faults, args.seed))
                else:
                    rows.append(redis_hang_soak(server, work / name, jobs, faults, args.seed))
            finally:
                server.close()
            print(table(rows[-1:]), flush=True)
        from faultkit import SentinelCluster

        cluster = SentinelCluster()
        try:
            cluster.start()
            jobs, faults = sizes["failover"]
            (work / "failover").mkdir()
            rows.append(failover_soak(cluster, work / "failover", jobs, faults, args.seed))
        finally:
            cluster.stop()
        print(table(rows[-1:]), flush=True)
        (work / "memory").mkdir()
        server = RedisServer(work / "memory")
        try:
            server.start()
            memory = memory_run(server.client(), server.url, sizes["memory"])
        finally:
            server.close()
    fuzz = fuzz_run(10_000 if not args.small else 2_000, args.seed)
    stops = [f"{f.scenario}: {f.max_stop_s:.1f} s" for f in rows if f.max_stop_s is not None]
    text = (f"From `dev/faults{' --small' if args.small else ''} --seed {args.seed}` on "
            f"{time.strftime('%Y-%m-%d', time.gmtime())}, {os.cpu_count()} CPUs, {platform.machine()} "
            f"(commit `{_commit()}`).\n\n{table(rows)}\n\n"
            f"Slowest stop (QUIT) while Redis was frozen: {', '.join(stops) or 'none'}.\n\n{fuzz}\n\n"
            f"{memory.table()}\n")
    print("\n" + text)
    if args.update_readme:
        readme = Path(__file__).resolve().parent.parent / "README.md"
        head, found, rest = readme.read_text().partition(README_START)
        _, found_end, tail = rest.partition(README_END)
        if found and found_end:
            readme.write_text(head + README_START + "\n" + text + README_END + tail)
    return 0 if all(f.lost == 0 and f.unretryable == 0 for f in rows) and "passed" in fuzz else 1


def fuzz_run(n: int, seed: int) -> str:
    """tests/test_payload_fuzz.py at size ``n``: its verdict in one sentence."""
    import sys

    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYRESQUE_FUZZ_N=str(n), PYRESQUE_FUZZ_SEED=str(seed))
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_payload_fuzz.py"],
                         cwd=root, env=env, capture_output=True, text=True)
    verdict = "passed" if out.returncode == 0 else f"FAILED (exit {out.returncode})"
    return (f"Payload fuzz: {n:,} hostile payloads interleaved with valid jobs through an in-process worker, "
            f"and 300 through a forking one (seed {seed}): the worker never died, each malformed payload is "
            f"one failure record keeping its bytes, each valid job ran once, stats follow Ruby's rules: "
            f"{verdict} in {time.monotonic() - t0:.0f} s.")


def _commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip() or "unknown"



def failover_soak(cluster, workdir: Path, jobs: int, failovers: int, seed: int) -> Figures:
    """Sentinel fails over (the primary killed) while workers work: every
    enqueue the primary acknowledged and replicated (WAIT) must be accounted
    for on the new primary. Asynchronous replication can lose writes a
    primary acknowledged but never sent on; that is Sentinel's limit, not
    the worker's, so the driver waits for its replica before going on."""
    from pyresque import Resque

    client = Resque(cluster.url).redis

    def replicated_enqueue(r: redis_py.Redis, ids: list[str], rng: random.Random) -> None:
        for attempt in range(50):
            try:
                enqueue(r, ids, rng)
                r.execute_command("WAIT", 1, 5000)
                return
            except redis_py.ConnectionError:
                time.sleep(0.2)  # still failing over: the Sentinels name the new primary shortly
        raise AssertionError("could not enqueue through Sentinel after the failover")

    def fail_over(fleet: Fleet, rng: random.Random) -> None:
        old = cluster.kill_primary()
        cluster.wait_failover(old)
        cluster.restore(old)

    return run(client, cluster.url, workdir, "Sentinel failover", jobs, failovers, fail_over, seed,
               pace_s=(1.0, 2.0), enqueue=replicated_enqueue)


if __name__ == "__main__":
    import sys

    sys.exit(main())
