"""What `pyresque check` finds and how it says it: findings, severities, readers, reports.

A :class:`Problem` is one finding. Its severity (protocol/SPEC.md §11):

* :data:`ERROR` — a value that makes Ruby Resque, resque-web or
  resque-scheduler raise, lose or misread data;
* :data:`WARNING` — a deviation Ruby tolerates that breaks a documented
  guarantee (byte-exact matching, pruning, stats);
* :data:`NOTE` — extra data Ruby ignores.

``reader`` names the Ruby reader it affects (one of the ``R_*`` names, or
:data:`R_NONE`); ``section`` the SPEC section. :func:`format_problems` is the
one-line-per-finding text of ``pyresque check``; :func:`format_report` and
:func:`report_data` the conformance report of ``pyresque check --report``
(Markdown, or JSON).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

ERROR = "error"
WARNING = "warning"
NOTE = "note"
SEVERITIES = (ERROR, WARNING, NOTE)

# The Ruby readers a finding can affect (Problem.reader).
R_WORKER = "Ruby worker running the job (Resque::Job)"
R_FIND = "Resque::Worker.find (Worker.all: resque-web, Resque.info, pruning)"
R_WEB_WORKERS = "resque-web Working and Workers pages"
R_WEB_FAILED = "resque-web Failed page and Resque::Failure"
R_PRUNE = "Ruby worker start-up pruning (prune_dead_workers)"
R_STATS = "Resque.info and resque-web Stats"
R_INCR = "Ruby worker recording a job's outcome (INCRBY)"
R_QUEUES = "'*' workers and resque-web's queue list"
R_DEQUEUE = "Resque.dequeue (byte-matched LREM)"
R_PAUSE = "every Ruby and pyresque worker"
R_SCHEDULER = "resque-scheduler"
R_RETRY = "resque-retry"
R_REMOVE_DELAYED = "resque-scheduler remove_delayed and delayed_timestamps_for_job_with_args"
R_NONE = "none"


@dataclass(frozen=True)
class Problem:
    """One finding: ``severity`` is :data:`ERROR`, :data:`WARNING` or :data:`NOTE`;
    ``key`` is the full Redis key; ``reader`` the Ruby reader it affects
    (``none`` when no reader is); ``section`` the protocol/SPEC.md section."""

    severity: str
    key: str
    message: str
    reader: str = R_NONE
    section: str = ""



# Output -------------------------------------------------------------------------
def format_problems(problems: Iterable[Problem]) -> str:
    """Findings one per line (``ERROR   key: message [reader; SPEC §n]``), then a count line."""
    problems = list(problems)
    if not problems:
        return "No problems found."
    lines = [f"{p.severity.upper():<8}{p.key}: {p.message} {_affects(p)}" for p in problems]
    lines.append(_counts(problems) + ".")
    return "\n".join(lines)


def _affects(p: Problem) -> str:
    reader = "no Ruby reader affected" if p.reader == R_NONE else f"affects: {p.reader}"
    return f"[{reader}; SPEC {p.section}]" if p.section else f"[{reader}]"


def _counts(problems: list[Problem]) -> str:
    parts = []
    for severity in SEVERITIES:
        n = sum(1 for p in problems if p.severity == severity)
        if severity != NOTE or n:
            parts.append(f"{n} {severity}{'s' if n != 1 else ''}")
    return ", ".join(parts)


REPORT_LEGEND = (
    "error: a value that makes Ruby Resque, resque-web or resque-scheduler raise, lose or misread data; "
    "warning: a deviation Ruby tolerates that breaks a documented guarantee (byte-exact matching, pruning, stats); "
    "note: extra data Ruby ignores."
)


def report_data(problems: Iterable[Problem], namespace: str) -> dict[str, Any]:
    """The conformance report as plain data (what ``pyresque check --report --json`` prints)."""
    problems = list(problems)
    return {
        "namespace": namespace,
        "spec": "protocol/SPEC.md",
        "summary": {s: sum(1 for p in problems if p.severity == s) for s in SEVERITIES},
        "findings": [
            {"severity": p.severity, "key": p.key, "reader": p.reader, "section": p.section, "message": p.message}
            for p in problems
        ],
    }


def format_report(problems: Iterable[Problem], namespace: str) -> str:
    """The conformance report in Markdown: a summary line, then one table row per finding."""
    problems = list(problems)
    lines = [
        f"# Resque protocol conformance: namespace `{namespace}`",
        "",
        f"{_counts(problems)}. Severities and sections: protocol/SPEC.md ({REPORT_LEGEND})",
        "",
    ]
    if not problems:
        lines.append("No findings: every key read conforms.")
        return "\n".join(lines)
    lines += ["| Severity | Key | Ruby reader affected | SPEC | Finding |", "|---|---|---|---|---|"]
    for p in problems:
        cells = [p.severity, f"`{p.key}`", p.reader, p.section, p.message]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


__all__ = [
    "ERROR", "NOTE", "SEVERITIES", "WARNING", "Problem", "format_problems", "format_report", "report_data",
]
