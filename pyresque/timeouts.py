"""Job timeouts: how long a job may run.

A job's own ``@pyresque.job(timeout=SECONDS)`` wins over its worker's
default. Neither is set by default: jobs run as long as they run, as in
Ruby Resque.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the registry imports this module
    from pyresque.registry import Registry


def validated(value: Any, what: str) -> float | None:
    """``value`` as seconds, or None for "no timeout".

    Raises :class:`ValueError` naming ``what`` unless ``value`` is a
    positive, finite number: a zero or negative timeout is a mistake, not a
    way to say "none".
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a positive number of seconds, not {value!r}")
    return float(value)


def for_job(registry: "Registry", class_name: Any, default_s: float | None) -> float | None:
    """The timeout of the job registered as ``class_name``, else ``default_s``."""
    spec = registry.get(class_name) if isinstance(class_name, str) else None
    return spec.timeout_s if spec is not None and spec.timeout_s is not None else default_s
