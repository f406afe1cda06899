"""A Python worker for a Rails app's ActiveJob jobs (see docs/activejob.md).

Rails enqueues these with `perform_later`, exactly as it would for a Ruby
worker:

    ArchiveJob.perform_later(widget, Time.current, keep: 30.days, tags: [:daily])
    Billing::ChargeJob.set(queue: :billing).perform_later(invoice, amount: BigDecimal("12.50"), currency: :eur)

Run this file to work them (REDIS_URL and QUEUES from the environment):

    REDIS_URL=redis://localhost:6379/0 QUEUES=default,billing python examples/activejob_worker.py

`--drain` works until the queues are empty, then exits. The same handlers
run under the CLI, too: `pyresque work -q default,billing --import activejob_worker`.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from pyresque import Resque, activejob  # noqa: E402
from pyresque.worker import Worker  # noqa: E402

resque = Resque(os.environ.get("REDIS_URL", "redis://localhost:6379/0"))


@activejob.job("ArchiveJob")
def archive(record, as_of, *, keep, tags=()):
    # record: activejob.GlobalID (Rails passed a model); as_of: aware datetime;
    # keep: activejob.Duration (a timedelta); tags: Symbols, which are strs.
    print(f"archive {record.model} {record.id} as of {as_of}, keeping {keep.days} days, "
          f"tagged {', '.join(tags)}", flush=True)


@activejob.job("Billing::ChargeJob", queue="billing")
def charge(invoice, *, amount, currency):
    job = activejob.current_job()  # job_id, executions, enqueued_at, locale...
    print(f"charge {amount:.2f} {currency.upper()} to {invoice.model} {invoice.id} "
          f"(attempt {job.executions})", flush=True)
    # Hand work back to Rails: ReceiptMailerJob.perform_later(invoice, amount:, paid_at:)
    activejob.perform_later(resque, "ReceiptMailerJob", invoice, queue="mailers",
                            amount=amount, paid_at=datetime.now(timezone.utc))


def main() -> None:
    queues = os.environ.get("QUEUES", "default")
    interval = 0 if "--drain" in sys.argv[1:] else 5.0
    Worker(resque, queues, interval_s=interval).work()


if __name__ == "__main__":
    main()
