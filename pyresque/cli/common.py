"""What every command shares: exit codes, the client, output, argument types."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from pyresque import timeouts
from pyresque.client import Resque
from pyresque.config import ClientSettings

EXIT_ERROR = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad command-line input (exit 2)."""


def client_from(args: argparse.Namespace) -> Resque:
    settings = ClientSettings.from_env(os.environ)
    redis_target = getattr(args, "redis", None) or settings.redis
    namespace = getattr(args, "namespace", None) or settings.namespace
    redis_timeouts = settings.redis_timeouts(getattr(args, "redis_timeout", None),
                                             getattr(args, "redis_connect_timeout", None))
    return Resque(redis_target, namespace, failure_backend=settings.failure_backend,
                  environment=settings.environment, timeouts=redis_timeouts)


def wants_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, ensure_ascii=False) if wants_json(args) else text)


def seconds(text: str) -> float | None:
    """argparse type of a timeout: a positive number of seconds."""
    try:
        return timeouts.validated(float(text), "a timeout")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds") from None


def at_least_one(text: str) -> int:
    """argparse type of a count: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def parse_json_arg(text: str, position: int) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(f"argument {position} is not JSON ({exc}): {text!r}; quote strings as '\"text\"'") from None
