"""The Lua scripts pyresque runs, loaded once from ``scripts/*.lua``.

Each script's header documents its KEYS and ARGV; keys always come from
:mod:`pyresque.keys` through KEYS, never built inside a script.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=None)
def source(name: str) -> str:
    """The text of ``scripts/<name>.lua``."""
    return resources.files(__name__).joinpath(f"{name}.lua").read_text("utf-8")

