"""``pyresque check``: find values in a live keyspace that break the protocol.

:func:`check` walks one namespace with ``SCAN`` (never ``KEYS``) and only
reads: it looks at each key's Redis type, at queued payloads (the first and
last :data:`SAMPLE` of long lists), worker records and ids, ``started``
values, heartbeats (unparsable, or stale by Redis ``TIME``), failure records
in ``failed`` and every ``<q>_failed`` list, stats and resque-scheduler's
keys, and reports each violation as a :class:`Problem`.

Severities (protocol/SPEC.md §11): an *error* is a value that makes Ruby
Resque, resque-web or resque-scheduler raise, lose or misread data (a Ruby
worker that exits, a resque-web page that returns 500, an ``INCRBY`` that
fails); a *warning* is a deviation Ruby tolerates but that breaks a
documented guarantee (byte-exact matching, pruning, stats); a *note* is
extra data Ruby ignores (node-resque's ``worker:ping:*`` keys and payload
``queue`` field, say). Every finding names the Ruby reader it affects (or
``none``) and the SPEC section it is about.

Neighbours are recognised, never taken for something else: node-resque's
ping keys and extra fields, resque-scheduler's and resque-retry's keys and
pyresque's own ``pyresque:*`` keys.

Values are judged against the JSON Schemas in ``protocol/schemas/``
(installed as ``pyresque/schemas/``), the same ones the test suite holds
both pyresque and real Ruby Resque to.
"""

from __future__ import annotations

from pyresque.check.base import SAMPLE
from pyresque.check.schemas import SCHEMA_NAMES, load_schemas, schema_dir, schema_errors, validator
from pyresque.check.walk import check
from pyresque.findings import (
    ERROR, NOTE, SEVERITIES, WARNING, Problem, format_problems, format_report, report_data,
)

__all__ = [
    "ERROR", "NOTE", "SAMPLE", "SCHEMA_NAMES", "SEVERITIES", "WARNING", "Problem", "check", "format_problems",
    "format_report", "load_schemas", "report_data", "schema_dir", "schema_errors", "validator",
]
