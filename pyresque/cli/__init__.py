"""``pyresque``: the command line, over the same library as everything else.

    pyresque enqueue QUEUE CLASS [ARG...]   ARGs are JSON: 42 '"text"' '{"a":1}'
    pyresque info | queues | peek QUEUE | workers
    pyresque work -q QUEUES [--import MODULE] [-i INTERVAL] [--count N] ...
    pyresque failed list|show|retry|remove|clear|retry-all|clear-retried
    pyresque check
    pyresque enqueue --in 10m | --at 2027-01-01T09:00:00+01:00 QUEUE CLASS [ARG...]
    pyresque scheduler [--schedule FILE] [-D]      (rake resque:scheduler)
    pyresque delayed list|show|remove|enqueue-now|clear
    pyresque schedule list|show [NAME]
    pyresque pause | resume | health [--worker ID] [--json]
    pyresque web [--host H] [--port 5678] [--prefix /p] [--read-only] [--auth-file F]

Common options: ``--redis`` (default ``$REDIS_URL``, else localhost:6379),
``--namespace`` (default ``$RESQUE_NAMESPACE``, else resque), ``--json``.
Every error is one line on stderr and a non-zero exit: 1 for a problem with
Redis or the data, 2 for bad usage.

Each group of commands lives in a module of its own with an
``add_commands(command)`` function; this module assembles them and maps
errors to exit codes, in one place.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable, Sequence

import redis as redis_py

from pyresque import __version__
from pyresque.cli import failed, keyspace, ops, scheduler, web, work
from pyresque.cli.common import EXIT_ERROR, EXIT_USAGE, UsageError, seconds
from pyresque.errors import ResqueError

GROUPS = (keyspace, failed, ops, work, web, scheduler)

EXIT_CODES = """exit codes (every command):
  0    done; `health`: healthy
  1    Redis cannot be reached, the data or Redis refused the command, a worker stopped on an error,
       `check` found an error, `health`: unhealthy, `work --count`: a worker kept dying
  2    bad usage: an unknown flag or command, a bad value, no queues, no job registered,
       a job module that cannot be imported
  130  interrupted (Ctrl-C)
errors are one line on stderr, `pyresque: error: ...`; `work -v` adds the traceback
"""

Command = Callable[[str, Callable[[argparse.Namespace], "int | None"], str], argparse.ArgumentParser]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr, like every other error."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for stream in (sys.stdout, sys.stderr):
        # A name whose bytes are not UTF-8 (connection.as_name) prints as \udcff escapes
        # (valid in JSON output too) instead of stopping the command.
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.handler(args) or 0
    except UsageError as exc:
        print(f"pyresque: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ResqueError as exc:
        print(f"pyresque: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except (redis_py.ConnectionError, redis_py.TimeoutError) as exc:
        # The worker and check talk to Redis directly; say it as the client does.
        print(f"pyresque: error: cannot reach Redis: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except redis_py.RedisError as exc:
        print(f"pyresque: error: Redis: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--redis", default=argparse.SUPPRESS,
                        help="redis:// or redis+sentinel:// URL, or host:port[:db][/namespace] (default: $REDIS_URL or localhost:6379)")
    common.add_argument("--redis-timeout", type=seconds, default=argparse.SUPPRESS, metavar="SECONDS",
                        help="give up on a Redis reply after this long (default: $PYRESQUE_REDIS_TIMEOUT or 10)")
    common.add_argument("--redis-connect-timeout", type=seconds, default=argparse.SUPPRESS, metavar="SECONDS",
                        help="give up connecting to Redis after this long (default: $PYRESQUE_REDIS_CONNECT_TIMEOUT or 5)")
    common.add_argument("--namespace", default=argparse.SUPPRESS,
                        help="key namespace (default: $RESQUE_NAMESPACE or resque)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")

    parser = _Parser(prog="pyresque", parents=[common], description="Resque-compatible jobs for Python.",
                     epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"pyresque {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace], int | None], help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    for group in GROUPS:
        group.add_commands(command)
    return parser


__all__ = ["main", "build_parser"]
