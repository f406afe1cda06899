"""The README's end-to-end command works: dev/demo against real Ruby and resque-web."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_runs_both_directions_and_resque_web_shows_the_python_worker(ruby_available):
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "demo.py")],
                          capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    # resque-web's Working page listed the Python worker busy with the Ruby-enqueued job.
    working = next(line for line in out.splitlines() if "resque-web /working" in line)
    assert "demo Greeter" in working
    assert "Greeter: hello, Ruby!" in out
    # The Ruby worker received exactly what Python enqueued.
    assert 'received: ["héllo 😀", 42, 1.0, {"nested"=>[nil, true]}]' in out
