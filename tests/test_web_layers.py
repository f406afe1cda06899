"""The dashboard's views ask the library; they never send Redis commands themselves.

A view that needs a new query adds it to the library (browse, failed_admin,
listitems, control, history, metrics), where the CLI can use it too.
"""

from __future__ import annotations

import ast
from pathlib import Path

WEB = Path(__file__).resolve().parent.parent / "pyresque" / "web"


def test_no_view_calls_redis_directly() -> None:
    offenders = []
    for path in sorted(WEB.glob("*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            # r.redis.<command>(...) or client.<command>(...) on a redis client
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "redis"):
                offenders.append(f"{path.name}:{node.lineno}: .redis.{node.func.attr}(...)")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
                    "pipeline", "execute_command", "scan_iter", "lrange", "lindex", "smembers", "get", "set"):
                base = node.func.value
                if isinstance(base, ast.Name) and base.id in ("client", "redis", "pipe"):
                    offenders.append(f"{path.name}:{node.lineno}: {base.id}.{node.func.attr}(...)")
    assert offenders == [], "views must ask the library:\n" + "\n".join(offenders)
