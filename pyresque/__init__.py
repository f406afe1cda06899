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
    MalformedPayload,
    NoQueueError,
    ResqueError,
    UnknownJob,
)
from pyresque.registry import JobSpec, Registry, default_registry, job

__all__ = [
    "__version__",
    "ConnectionFailed",
    "DontPerform",
    "InvalidArgument",
    "InvalidQueueName",
    "JobSpec",
    "MalformedPayload",
    "NoQueueError",
    "Registry",
    "Resque",
    "ResqueError",
    "UnknownJob",
    "default_registry",
    "job",
]
