"""pyresque end to end, against real Ruby Resque and real resque-web.

Run with `dev/demo` after `dev/setup`. It starts a private redis-server and
resque-web, then:

1. Ruby enqueues a `Greeter` job; a Python worker runs it while resque-web's
   Working and Workers pages show that Python worker and its job.
2. Python enqueues a `Recorder` job; a real Ruby worker runs it and shows
   exactly the arguments Python sent.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUBY = ROOT / "ruby-fixtures"
sys.path.insert(0, str(ROOT))

from pyresque import Resque  # noqa: E402
from testsupport import free_port, wait_until  # noqa: E402


def start(cmd: list[str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)


def page(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()
    except OSError:
        return ""


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def main() -> int:
    tmp = tempfile.mkdtemp(prefix="pyresque-demo-")
    redis_port, web_port = free_port(), free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    env = dict(os.environ, REDIS_URL=redis_url, PYTHONPATH=f"{ROOT}:{ROOT / 'examples'}")
    procs: list[subprocess.Popen] = []
    try:
        procs.append(start(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                            "--save", "", "--appendonly", "no", "--dir", tmp]))
        resque = Resque(redis_url)
        wait_until(lambda: _ping(resque), 10, "redis-server")
        print(f"redis-server on {redis_url}")

        procs.append(start(["bundle", "exec", "resque-web", "-F", "-L", "-p", str(web_port), "-o", "127.0.0.1",
                            "-r", redis_url, "--app-dir", tmp], cwd=RUBY))
        web = f"http://127.0.0.1:{web_port}"
        wait_until(lambda: page(web + "/overview"), 30, "resque-web")
        print(f"resque-web on {web}")

        print("\n1. Ruby enqueues, a Python worker runs it, resque-web shows it")
        worker = subprocess.Popen([sys.executable, "-m", "pyresque", "work", "-q", "demo", "--import", "demo_jobs"],
                                  env=env, stdout=subprocess.PIPE, text=True)
        procs.append(worker)
        wait_until(lambda: resque.workers(), 10, "the Python worker to register")
        subprocess.run(["bundle", "exec", "ruby", "-e",
                        f'require "resque"; Resque.redis = "{redis_url}"; Resque.enqueue_to("demo", "Greeter", "Ruby", 3)'],
                       cwd=RUBY, check=True)
        print('   ruby: Resque.enqueue_to("demo", "Greeter", "Ruby", 3)')
        working = wait_until(lambda: "Greeter" in page(web + "/working") and page(web + "/working"), 10,
                             "resque-web to show the job")
        [wid] = [w.id for w in resque.workers()]
        print(f"   resque-web /working: {_excerpt(text_of(working), 'Greeter')}")
        print(f"   resque-web /workers: {_excerpt(text_of(page(web + '/workers')), wid.split(':')[0])}")
        wait_until(lambda: resque.stat("processed") >= 1, 15, "the job to finish")
        print(f"   python worker printed: {worker.stdout.readline().strip()}")

        print("\n2. Python enqueues, a Ruby worker runs it")
        args = ["héllo 😀", 42, 1.0, {"nested": [None, True]}]
        resque.enqueue_to("record", "Recorder", *args)
        print(f"   python: resque.enqueue_to('record', 'Recorder', *{args!r})")
        subprocess.run(["bundle", "exec", "ruby", "scripts/work.rb"], cwd=RUBY, check=True,
                       env=dict(env, QUEUES="record"))
        received = json.loads(resque.redis.lindex("pyresque-test:ruby-results", 0))
        print(f"   ruby Recorder.perform received: {received['inspect']}")
        print("\nDone: both directions work, and resque-web saw the Python worker.")
        return 0
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
            if proc.stdout:
                proc.stdout.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _ping(resque: Resque) -> bool:
    try:
        return bool(resque.redis.ping())
    except Exception:  # noqa: BLE001
        return False


def _excerpt(text: str, around: str, width: int = 110) -> str:
    at = max(0, text.find(around) - width // 2)
    return "…" + text[at : at + width] + "…"


if __name__ == "__main__":
    sys.exit(main())
