"""``pyresque web``: the dashboard, served by waitress.

Listens on 127.0.0.1:5678 by default. On any other address it refuses to
start without credentials (``PYRESQUE_WEB_USER`` and ``PYRESQUE_WEB_PASSWORD``,
or ``--auth-file`` holding ``user:password``), before binding anything.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from typing import Any

from pyresque.cli.common import UsageError, client_from

DEFAULT_PORT = 5678


def add_commands(command: Any) -> None:
    p = command("web", cmd_web, "serve the dashboard (default http://127.0.0.1:5678/)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--prefix", default="", help="serve under this path, e.g. /resque (default /)")
    p.add_argument("--read-only", action="store_true", help="hide and refuse every action")
    p.add_argument("--auth-file", help="file whose first line is user:password (else $PYRESQUE_WEB_USER "
                                       "and $PYRESQUE_WEB_PASSWORD)")
    p.add_argument("--threads", type=int, default=8, help="request threads (default 8)")
    p.add_argument("--schedule", default=os.environ.get("RESQUE_SCHEDULE") or None, metavar="FILE",
                   help="the scheduler's YAML schedule, shown on the Schedule page beside the dynamic "
                        "schedules in Redis (default: $RESQUE_SCHEDULE)")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def auth_from(args: argparse.Namespace, environ: Any) -> Any:
    from pyresque.web import Auth

    if args.auth_file:
        try:
            return Auth.from_file(args.auth_file)
        except (OSError, ValueError) as exc:
            raise UsageError(f"--auth-file: {exc}") from None
    user, password = environ.get("PYRESQUE_WEB_USER"), environ.get("PYRESQUE_WEB_PASSWORD")
    if user or password:
        if not (user and password):
            raise UsageError("set both PYRESQUE_WEB_USER and PYRESQUE_WEB_PASSWORD, or neither")
        return Auth(user, password)
    return None


def cmd_web(args: argparse.Namespace) -> int:
    auth = auth_from(args, os.environ)
    if auth is None and not is_loopback(args.host):
        raise UsageError(f"refusing to serve the dashboard on {args.host} without authentication: set "
                         "PYRESQUE_WEB_USER and PYRESQUE_WEB_PASSWORD or pass --auth-file (or use --host 127.0.0.1)")
    try:
        import waitress
    except ImportError:
        raise UsageError("pyresque web needs waitress: apt install python3-waitress (or pip install waitress)") from None
    from pyresque.web import create_app

    app = create_app(client_from(args), read_only=args.read_only, auth=auth, prefix=args.prefix,
                     secret_key=os.environ.get("PYRESQUE_WEB_SECRET") or None, schedule_file=args.schedule,
                     scheduler_lock_prefix=os.environ.get("RESQUE_SCHEDULER_MASTER_LOCK_PREFIX") or "")
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"pyresque web: serving http://{shown}:{args.port}{'/' + args.prefix.strip('/') if args.prefix.strip('/') else ''}/"
          f"{' (read-only)' if args.read_only else ''}", flush=True)
    waitress.serve(app, host=args.host, port=args.port, threads=args.threads, ident="pyresque")
    return 0
