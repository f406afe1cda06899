"""Rails interop: run ActiveJob jobs in Python workers, enqueue them for Rails.

    from pyresque import activejob

    @activejob.job("ArchiveJob")             # Rails: ArchiveJob.perform_later(42, branch: "main")
    def archive(repo_id, *, branch):
        info = activejob.current_job()       # job_id, executions, enqueued_at...

    activejob.perform_later(resque, "Billing::ChargeJob", invoice_gid, amount=Decimal("9.99"))

Arguments travel in ActiveJob's own format, so Ruby values keep their types
both ways: ``Time`` <-> aware ``datetime``, ``ActiveSupport::TimeWithZone``
<-> ``datetime`` in a ``ZoneInfo``, ``Date`` <-> ``date``, ``BigDecimal``
<-> ``Decimal``, ``Duration`` <-> :class:`Duration` (a ``timedelta``),
keyword arguments <-> keyword arguments, symbols and symbol keys <->
:class:`Symbol`, records <-> :class:`GlobalID`. See docs/activejob.md.
"""

from pyresque.activejob.arguments import add_serializer, remove_serializer
from pyresque.activejob.jobs import (
    DEFAULT_QUEUE,
    WRAPPER_CLASS,
    Dispatcher,
    Handler,
    JobInfo,
    RailsJob,
    current_job,
    dispatcher,
    job,
    perform_later,
)
from pyresque.activejob.rescue import DiscardOn, RetryOn
from pyresque.activejob.values import (
    DateTime,
    Duration,
    GlobalID,
    IndifferentDict,
    Module,
    Range,
    Symbol,
    symbolize_keys,
)

__all__ = [
    "DEFAULT_QUEUE",
    "WRAPPER_CLASS",
    "DateTime",
    "DiscardOn",
    "Dispatcher",
    "Duration",
    "GlobalID",
    "Handler",
    "IndifferentDict",
    "JobInfo",
    "Module",
    "RailsJob",
    "Range",
    "RetryOn",
    "Symbol",
    "add_serializer",
    "current_job",
    "dispatcher",
    "job",
    "perform_later",
    "remove_serializer",
    "symbolize_keys",
]
