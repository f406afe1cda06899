"""Key names are spelled only in pyresque/keys.py.

A key string anywhere else would bypass the namespace prefix and drift from
Ruby's layout. This looks at string constants in the AST (f-string pieces
included), so docstrings and comments do not count.

* A key prefix such as ``queue:`` counts where it is followed by nothing or
  by a non-space (``"queue:" + name``, ``f"stat:{n}"``), not in prose such as
  ``"queue: empty"``.
* A bare key name such as ``workers`` or ``failed`` is an ordinary word too
  (a CLI command, an ``info`` field), so it counts where it is used as a key:
  passed to a Redis command (``client.get("failed")``) or to a key builder
  (``keys.stat("failed")``), or glued to other text with ``+``.
* A line that must use such a string for something else can say so with a
  ``# not-a-key`` comment.
"""

from __future__ import annotations

import ast
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "pyresque"
MARKER = "not-a-key"

PREFIXES = ("queue:", "worker:", "workers:", "stat:", "delayed:", "timestamps:")
BARE = {
    "queues", "workers", "failed", "failed_queues", "processed",
    "workers:heartbeat", "delayed_queue_schedule",
}
# Methods whose arguments are key names: redis-py commands and key builders.
KEY_TAKERS = {
    "get", "set", "setex", "setnx", "getset", "mget", "mset", "delete", "unlink", "exists", "type",
    "expire", "pexpire", "ttl", "persist", "rename", "incr", "incrby", "decr", "decrby",
    "llen", "lpush", "rpush", "lpop", "rpop", "blpop", "brpop", "lrange", "lindex", "lset", "lrem",
    "ltrim", "lmove", "rpoplpush", "sadd", "srem", "smembers", "sismember", "scard", "spop",
    "sscan", "sscan_iter", "hget", "hset", "hdel", "hgetall", "hlen", "hexists", "hincrby",
    "hscan", "hscan_iter", "zadd", "zrem", "zrange", "zrangebyscore", "zcard", "zscore",
    "watch", "scan", "scan_iter", "keys", "object", "stat", "failed_list", "_k",
}
ANYWHERE = ("pause-all-workers", "pruning_dead", "workers:heartbeat", "delayed_queue_schedule")

_PREFIX_RE = re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(p) for p in PREFIXES) + r")(?!\s)")


def key_like(text: str, used_as_key: bool) -> str | None:
    """Why ``text`` looks like a Resque key name, or None."""
    if text in BARE and used_as_key:
        return f"the key name {text!r}"
    for word in ANYWHERE:
        if word in text:
            return f"the key name {word!r}"
    match = _PREFIX_RE.search(text)
    if match:
        return f"the key prefix {match.group(0)!r}"
    return None


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _used_as_keys(tree: ast.AST) -> set[int]:
    """Constants passed to a key-taking method or concatenated with ``+``."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in KEY_TAKERS:
                ids.update(id(a) for a in node.args)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            ids.update((id(node.left), id(node.right)))
    return ids


def _marked_lines(path: Path) -> set[int]:
    with path.open("rb") as fh:
        return {
            tok.start[0]
            for tok in tokenize.tokenize(fh.readline)
            if tok.type == tokenize.COMMENT and MARKER in tok.string
        }


def offenders(path: Path) -> list[str]:
    tree = ast.parse(path.read_text("utf-8"), str(path))
    skip = _docstrings(tree)
    as_keys = _used_as_keys(tree)
    marked = _marked_lines(path)
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)) or id(node) in skip:
            continue
        if node.lineno in marked:
            continue
        why = key_like(node.value, id(node) in as_keys)
        if why is None:
            continue
        found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {why} in {node.value!r}")
    return found


def test_key_strings_appear_only_in_keys_py() -> None:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "keys.py":
            continue
        problems.extend(offenders(path))
    assert problems == [], "spell keys through pyresque.keys.Keys:\n" + "\n".join(problems)


def test_the_detector_sees_keys_and_ignores_prose(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        '"""Docstring naming queue:<q> and workers does not count."""\n'
        'A = "queue:" + name\n'
        'B = f"stat:{name}"\n'
        'C = client.get("failed")\n'
        'D = {"workers": 1, "failed": 2}\n'
        'E = "the queue: was empty"\n'
        'F = "resque:pause-all-workers"\n'
        'G = parser.add_parser("failed")  # not-a-key: a CLI command\n'
        'H = "failed to connect"\n'
        'I = keys.stat("processed", wid)\n'
        'J = "workers" + suffix\n'
        'K = command("workers", cmd_workers)\n'
        'L = client.hget("x:workers:heartbeat", wid)  # not-a-key: test data\n',
        "utf-8",
    )
    sample_root = tmp_path
    lines = sorted(int(o.split(":")[1]) for o in offenders_in(sample, sample_root))
    assert lines == [2, 3, 4, 7, 10, 11]


def offenders_in(path: Path, root: Path) -> list[str]:
    global ROOT
    saved = ROOT
    ROOT = root
    try:
        return offenders(path)
    finally:
        ROOT = saved
