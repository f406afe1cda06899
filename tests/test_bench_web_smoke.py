"""bench/web.py runs: a small keyspace, every page answered (never how fast)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_dashboard_benchmark_harness_runs() -> None:
    proc = subprocess.run([sys.executable, "-m", "bench.web", "--smoke", "--no-ruby"], cwd=str(ROOT),
                          capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ") and " ms |" in line]
    assert len(rows) == 18
