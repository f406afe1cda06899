"""Key names: pyresque.keys."""

from __future__ import annotations

from pyresque.keys import Keys


def test_queue_name_reverses_queue_key():
    for keys in (Keys(), Keys("app:jobs")):
        assert keys.queue_name(keys.queue("mail / urgent")) == "mail / urgent"
        assert keys.queue_name(keys.queues) is None
