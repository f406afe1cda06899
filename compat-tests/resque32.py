"""Resque 3.2.0's real code, on Debian's Ruby 3.1.

Bundler refuses resque 3.2.0 on Ruby < 3.2 (its gemspec says so), but its
code runs unchanged there. So dev/setup fetches the gem and unpacks it into
ruby-fixtures/gems/ (git-ignored), and the compat tests load its lib/ with
``ruby -I ruby-fixtures/gems/resque-3.2.0/lib`` ahead of the bundled 3.0.3:
``require "resque"`` then finds 3.2.0's files first, while every other gem
(redis, redis-namespace, sinatra...) comes from the bundle. resque-web 3.2
is that gem's own ``bin/resque-web`` run the same way.
"""

from __future__ import annotations

import subprocess

from rubyside import FIXTURES

VERSION = "3.2.0"
LIB = FIXTURES / "gems" / f"resque-{VERSION}" / "lib"
INSTALL_HINT = (
    f"Resque {VERSION}'s code is loaded from its unpacked gem: run dev/setup, or "
    f"`mkdir -p ruby-fixtures/gems && cd ruby-fixtures/gems && gem fetch resque -v {VERSION} && "
    f"gem unpack resque-{VERSION}.gem`"
)


def resque32_problem() -> str | None:
    """Why Resque 3.2.0 cannot be loaded here, or None when it can."""
    if not (LIB / "resque.rb").is_file():
        return f"{LIB} is missing"
    probe = subprocess.run(["bundle", "exec", "ruby", "-I", str(LIB), "-e", 'require "resque"; print Resque::VERSION'],
                           cwd=FIXTURES, capture_output=True, text=True, timeout=120)
    if probe.returncode != 0 or probe.stdout != VERSION:
        return f"loading {LIB} gave {probe.stdout!r} {probe.stderr.strip()[-300:]}"
    return None
