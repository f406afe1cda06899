"""pyresque: Resque-compatible background jobs for Python.

Python workers and clients that share Ruby Resque's Redis keyspace, payloads,
workers, failures and stats, so that Ruby, Rails and resque-web see them as
their own.
"""

__version__ = "0.1.0"

from pyresque.client import Resque
from pyresque.errors import (
    ConnectionFailed,
    DontPerform,
    InvalidArgument,
    InvalidQueueName,
    JobTimeout,
    MalformedPayload,
    NoQueueError,
    ResqueError,
    UnknownJob,
)
from pyresque.registry import (
    JobSpec,
    Registry,
    after_fork,
    after_pause,
    before_first_fork,
    before_fork,
    before_pause,
    default_registry,
    job,
    queue_empty,
    shutdown,
    worker_exit,
)
from pyresque.worker import Worker

__all__ = [
    "__version__",
    "ConnectionFailed",
    "DontPerform",
    "InvalidArgument",
    "InvalidQueueName",
    "JobSpec",
    "JobTimeout",
    "MalformedPayload",
    "NoQueueError",
    "Registry",
    "Resque",
    "ResqueError",
    "UnknownJob",
    "Worker",
    "after_fork",
    "after_pause",
    "before_first_fork",
    "before_fork",
    "before_pause",
    "default_registry",
    "job",
    "queue_empty",
    "shutdown",
    "worker_exit",
]
