"""Every Python example in the README runs, against the test's Redis.

Examples are code a newcomer pastes; a renamed function or a changed
signature must fail here, not in their terminal.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_the_readme_has_python_examples():
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, r, redis_server, monkeypatch):
    code = BLOCKS[index].replace("redis://localhost:6379/0", redis_server)
    monkeypatch.setenv("REDIS_URL", redis_server)
    namespace = {"__name__": f"readme_example_{index}"}
    exec(compile(code, f"README.md python block {index}", "exec"), namespace)
