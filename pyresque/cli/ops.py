"""Operating workers: ``pause``, ``resume`` and ``health``."""

from __future__ import annotations

import argparse
import json
import socket
from typing import Any

from pyresque import health
from pyresque.cli.common import EXIT_ERROR, client_from, emit, wants_json


def add_commands(command: Any) -> None:
    command("pause", cmd_pause, "pause every worker, Ruby or Python, as Resque's pause key does")
    command("resume", cmd_resume, "resume every worker paused by `pyresque pause`")
    p = command("health", cmd_health,
                "exit 0 if Redis answers and the workers' heartbeats are fresh, 1 if not: for liveness "
                "and readiness probes")
    p.add_argument("--worker", metavar="ID", help="one worker, by id (default: every worker on --host)")
    p.add_argument("--host", default=socket.gethostname(), help="the host whose workers to check (default: this one)")
    p.add_argument("--max-age", type=float, default=health.DEFAULT_MAX_AGE_S, metavar="SECONDS",
                   help="the oldest heartbeat that counts as alive (default: 120, two heartbeat intervals)")


def cmd_pause(args: argparse.Namespace) -> int:
    client_from(args).pause_all()
    emit(args, {"paused": True}, "paused every worker (Resque's pause key is set); `pyresque resume` undoes it")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    client_from(args).resume_all()
    emit(args, {"paused": False}, "resumed every worker (Resque's pause key is cleared)")
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    result = health.check(client_from(args), worker_id=args.worker, host=args.host, max_age_s=args.max_age)
    print(json.dumps(result.as_dict()) if wants_json(args) else result.line())
    return 0 if result.healthy else EXIT_ERROR
