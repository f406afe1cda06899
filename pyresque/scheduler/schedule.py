"""Recurring schedules in resque-scheduler's format: parsing, cron/every, next run.

    archive_nightly:
      cron: "30 2 * * * Europe/Paris"    # rufus cron: 5 fields, or 6 with seconds FIRST; optional zone
      class: Archive
      queue: archive
      args: [42, main]
      description: "Archive every repo at 02:30 Paris time"
    heartbeat:
      every: ["30s", {first_in: "10s"}]
      class: Heartbeat                   # the queue comes from the registry when not given

An entry names a class by its wire name; nothing is imported: the job is
enqueued by name for whichever worker, Ruby or Python, runs it. Entries
with a problem are reported, never fatal: :func:`parse_schedule` returns
them with the problem so a scheduler logs and skips them and the CLI can
refuse the file. Dynamic schedules live in the ``persistent_schedules``
hash, as Ruby's ``Resque.set_schedule(name, config)`` with ``persist``
writes them, and as a scheduler loading a file writes the entries marked
``persist: true`` (:func:`persist_entries`).
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pyresque import payload as codec
from pyresque.errors import InvalidSchedule


# The keys resque-scheduler reads in an entry; anything else is a typo.
KNOWN_KEYS = frozenset({
    "cron", "every", "class", "custom_job_class", "queue", "args", "description",
    "rails_env", "env", "parameters", "persist", "never",
})

_UNIT_S = {"y": 365 * 86400, "M": 30 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|[yMwdhms])")


def parse_duration(text: Any) -> float:
    """Seconds in a rufus duration: ``30s``, ``1h30m``, ``2d``, ``1w``, ``500ms``, or a bare number of seconds."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        try:
            value = float(text)
        except OverflowError:  # an int too big for a float
            value = math.inf
    elif not isinstance(text, str) or not text.strip():
        raise InvalidSchedule(f"{text!r} is not a duration such as 30s, 5m, 1h or 1d")
    else:
        value = _parse_duration_text(text)
    if not math.isfinite(value):  # "1e400", "nan": no period, and no time to wait for
        raise InvalidSchedule(f"duration {_short(text)} is not a finite number of seconds")
    if value <= 0:
        raise InvalidSchedule(f"duration {_short(text)} is not positive")
    return value


def _parse_duration_text(text: str) -> float:
    s = text.strip()
    try:
        return float(s)
    except ValueError:
        pass
    pos, value = 0, 0.0
    for m in _DURATION.finditer(s):
        if m.start() != pos:
            break
        value += float(m.group(1)) * _UNIT_S[m.group(2)]
        pos = m.end()
    if pos != len(s) or pos == 0:
        raise InvalidSchedule(f"{text!r} is not a duration such as 30s, 5m, 1h30m or 1d")
    return value


def _short(value: Any) -> str:
    # An int of thousands of digits cannot even be printed (Python's limit).
    return "that number" if isinstance(value, int) and value.bit_length() > 128 else repr(value)


@dataclass(frozen=True)
class Cron:
    """A rufus cron line: croniter fields (seconds moved last) and a zone."""

    text: str
    fields: str
    zone: Any

    @classmethod
    def parse(cls, text: Any) -> "Cron":
        from croniter import croniter

        if not isinstance(text, str) or not text.strip():
            raise InvalidSchedule(f"cron {text!r} is not a cron line")
        parts = text.split()
        zone: Any = None
        if len(parts) >= 2 and _looks_like_zone(parts[-1]):
            zone = _zone(parts[-1])
            parts = parts[:-1]
        if len(parts) == 6:
            parts = parts[1:] + parts[:1]  # rufus puts seconds first, croniter last
        elif len(parts) not in (5, 1):
            raise InvalidSchedule(f"cron {text!r} has {len(parts)} fields: expected 5, or 6 with seconds first")
        fields = " ".join(parts)
        if not croniter.is_valid(fields):
            raise InvalidSchedule(f"cron {text!r} does not parse")
        return cls(text, fields, zone)

    def next_after(self, after_s: float) -> float:
        """The first run strictly after ``after_s`` (epoch seconds)."""
        from croniter import croniter

        # Cron fields are wall-clock times in the zone (without one, the
        # machine's, as rufus does). croniter steps aware times across a DST
        # change with the old offset, so step in naive wall time and attach
        # the zone to each candidate; one the change skipped does not exist.
        zone = self.zone
        start = datetime.fromtimestamp(after_s, zone) if zone else datetime.fromtimestamp(after_s)
        it = croniter(self.fields, start.replace(tzinfo=None))
        for _ in range(1000):
            wall = it.get_next(datetime)
            epoch = _wall_to_epoch(wall, zone)
            if epoch is not None and epoch > after_s:
                return epoch
        raise InvalidSchedule(f"cron {self.text!r} has no run in the next 1000 candidates")


def _wall_to_epoch(wall: datetime, zone: Any) -> float | None:
    """The instant a wall-clock time names in ``zone`` (None: the machine's
    zone, through the C library as Ruby's ``Time.local``), or None when a
    spring-forward change skipped it."""
    if zone is not None:
        moment = wall.replace(tzinfo=zone)
        back = moment.astimezone(timezone.utc).astimezone(zone).replace(tzinfo=None)
        return moment.timestamp() if back == wall else None
    epoch = time.mktime(wall.timetuple()[:8] + (-1,))
    return epoch if datetime.fromtimestamp(epoch) == wall else None


def _looks_like_zone(text: str) -> bool:
    # Cron fields use digits, * / , - ? L W # and day or month names; a zone
    # is "Area/City" (letters on both sides of a slash) or UTC/GMT.
    return bool(re.search(r"[A-Za-z_]/[A-Za-z_]", text)) or text.upper() in ("UTC", "GMT", "Z")


def _zone(name: str) -> Any:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidSchedule(f"unknown time zone {name!r} in cron line") from None


@dataclass(frozen=True)
class Every:
    """A rufus ``every``: a period, and when the first run is."""

    text: str
    period_s: float
    first_in_s: float | None = None
    first_at_s: float | None = None

    @classmethod
    def parse(cls, value: Any) -> "Every":
        options: Mapping[str, Any] = {}
        if isinstance(value, list):
            if len(value) != 2 or not isinstance(value[1], dict):
                raise InvalidSchedule(f"every {value!r}: expected a duration or [duration, {{first_in: ...}}]")
            value, options = value[0], value[1]
        unknown = set(options) - {"first_in", "first_at"}
        if unknown:
            raise InvalidSchedule(f"every: unknown option {sorted(unknown)[0]!r} (first_in or first_at)")
        first_at = None
        if options.get("first_at") is not None:
            try:
                first_at = datetime.fromisoformat(str(options["first_at"])).timestamp()
            except ValueError:
                raise InvalidSchedule(f"every: first_at {options['first_at']!r} is not an ISO 8601 time") from None
        first_in = parse_duration(options["first_in"]) if options.get("first_in") is not None else None
        return cls(str(value), parse_duration(value), first_in, first_at)

    def first_run(self, started_s: float) -> float:
        if self.first_at_s is not None:
            return self.first_at_s
        return started_s + (self.first_in_s if self.first_in_s is not None else self.period_s)


@dataclass(frozen=True)
class Entry:
    """One recurring job. ``when`` is a :class:`Cron` or :class:`Every`."""

    name: str
    class_name: str
    when: Cron | Every
    queue: str | None = None
    args: list[Any] = field(default_factory=list)
    description: str | None = None
    envs: tuple[str, ...] = ()
    persist: bool = False
    config: Mapping[str, Any] = field(default_factory=dict)

    def runs_in(self, env: str | None) -> bool:
        """Ruby's ``env_matches?``: no ``rails_env``/``env`` means everywhere."""
        return not self.envs or (env is not None and env in self.envs)

    def next_after(self, after_s: float, started_s: float, last_tick_s: float | None = None) -> float:
        """When this entry next fires, strictly after ``after_s``.

        An ``every`` counts from its last tick (``last_tick_s``, shared by
        every pyresque scheduler), or else from ``started_s`` as rufus does.
        """
        if isinstance(self.when, Cron):
            return self.when.next_after(after_s)
        if last_tick_s is None:
            first = self.when.first_run(started_s)
            if first > after_s:
                return first
            last_tick_s = first
        period = self.when.period_s
        nxt = last_tick_s + period
        if nxt <= after_s:
            nxt += period * (int((after_s - nxt) // period) + 1)
        return nxt

    def describe(self) -> str:
        kind = "cron" if isinstance(self.when, Cron) else "every"
        return f"{kind}: {self.when.text}"


@dataclass(frozen=True)
class Problem:
    """An entry that cannot run (``fatal``) or has a key Ruby would ignore."""

    name: str
    message: str
    fatal: bool = True

    def __str__(self) -> str:
        return f"schedule {self.name!r}: {self.message}"


def parse_entry(name: str, config: Any) -> tuple[Entry | None, list[Problem]]:
    """One entry from its config mapping, and its problems (a fatal one means no entry)."""
    if not isinstance(config, dict):
        return None, [Problem(name, f"is a {type(config).__name__}, not a mapping of settings")]
    problems = [Problem(name, f"unknown key {k!r} (known: {', '.join(sorted(KNOWN_KEYS))})", fatal=False)
                for k in config if k not in KNOWN_KEYS]
    class_name = config.get("class", name)
    if not isinstance(class_name, str) or not class_name:
        return None, problems + [Problem(name, "class must be a non-empty string")]
    try:
        if config.get("cron"):
            when: Cron | Every = Cron.parse(config["cron"])
        elif config.get("every"):
            when = Every.parse(config["every"])
        else:
            return None, problems + [Problem(name, "has no cron or every: it never runs")]
        queue = config.get("queue")
        if queue is not None and (not isinstance(queue, str) or not queue or "," in queue):
            raise InvalidSchedule(f"queue {queue!r} is not a queue name")
        args = config.get("args")
        codec.encode(args, "args")  # travels as JSON: refuse what Ruby cannot read back
    except InvalidSchedule as exc:
        return None, problems + [Problem(name, str(exc))]
    except codec.InvalidArgument as exc:
        return None, problems + [Problem(name, str(exc))]
    envs = config.get("rails_env") or config.get("env") or ""
    return Entry(
        name=name, class_name=class_name, when=when, queue=queue,
        args=_params(args), description=config.get("description"),
        envs=tuple(e for e in re.split(r"[\s,]+", str(envs)) if e),
        persist=_ruby_truthy(config.get("persist")), config=dict(config),
    ), problems


def _ruby_truthy(value: Any) -> bool:
    # Ruby's `if persist`: everything but nil and false is true, even 0 and "false".
    return value is not None and value is not False


def _params(args: Any) -> list[Any]:
    # Ruby: a Hash is one argument, nil none, an Array splatted, a scalar one.
    if args is None:
        return []
    return args if isinstance(args, list) else [args]


def parse_schedule(data: Any) -> tuple[list[Entry], list[Problem]]:
    """Every entry of a schedule mapping (YAML or ``persistent_schedules``), and every problem."""
    if data is None:
        return [], []
    if not isinstance(data, dict):
        return [], [Problem("(file)", "a schedule is a mapping of names to settings")]
    entries, problems = [], []
    for name, config in data.items():
        entry, found = parse_entry(str(name), config)
        problems += found
        if entry is not None:
            entries.append(entry)
    return entries, problems


def load_file(path: str) -> tuple[list[Entry], list[Problem]]:
    """Parse a YAML schedule file (``yaml.safe_load``: no Ruby objects, no code)."""
    return parse_schedule(load_mapping(path))


# Dynamic schedules, kept in Redis as resque-scheduler keeps them ----------------
def set_schedule(client: Any, keys: Any, name: str, config: Mapping[str, Any]) -> None:
    """Ruby's ``Resque.set_schedule(name, config)`` with ``persist: true``:
    HSET ``persistent_schedules`` (``persist`` removed) and SADD ``schedules_changed``."""
    entry, problems = parse_entry(name, dict(config))
    fatal = [p for p in problems if p.fatal]
    if entry is None or fatal:
        raise InvalidSchedule(str(fatal[0] if fatal else problems[0]))
    stored = {k: v for k, v in config.items() if k != "persist"}
    pipe = client.pipeline(transaction=True)
    pipe.hset(keys.persistent_schedules, name, codec.encode(stored, "schedule"))
    pipe.sadd(keys.schedules_changed, name)
    pipe.execute()


def persist_entries(client: Any, keys: Any, entries: list[Entry]) -> tuple[list[str], list[Problem]]:
    """Store the entries marked ``persist`` as dynamic schedules, as loading a
    schedule file does in Ruby (``Resque.schedule = YAML.load_file(...)``).

    Each goes to ``persistent_schedules`` with the bytes Ruby writes: its
    settings in the file's order, ``persist`` removed, and ``class`` (the
    entry's name when the file gives none) added last; its name goes to
    ``schedules_changed`` so dynamic masters pick it up. Unlike Ruby,
    everything is written in one transaction, and only the persisted names
    are announced: Ruby also announces every other name in the file, which
    only makes a dynamic master re-plan its own static entries. Returns the
    names written, and the entries whose settings cannot travel as JSON.
    """
    stored: dict[str, str] = {}
    problems: list[Problem] = []
    for e in entries:
        if not e.persist:
            continue
        try:
            stored[e.name] = codec.encode(_persisted_config(e), "schedule")
        except codec.InvalidArgument as exc:
            problems.append(Problem(e.name, f"is not persisted (it still runs here): {exc}", fatal=False))
    if stored:
        pipe = client.pipeline(transaction=True)
        pipe.hset(keys.persistent_schedules, mapping=stored)
        pipe.sadd(keys.schedules_changed, *stored)
        pipe.execute()
    return list(stored), problems


def _persisted_config(entry: Entry) -> dict[str, Any]:
    # Ruby's `schedule=` first gives an entry without a class its name as the
    # class (appended, so last), then `set_schedule` deletes `persist`.
    config = {k: v for k, v in entry.config.items() if k != "persist"}
    if "class" not in entry.config:
        config["class"] = entry.name
    return config


def remove_schedule(client: Any, keys: Any, name: str) -> bool:
    """Ruby's ``Resque.remove_schedule(name)``. True when ``persistent_schedules`` had it."""
    pipe = client.pipeline(transaction=True)
    pipe.hdel(keys.persistent_schedules, name)
    pipe.sadd(keys.schedules_changed, name)
    removed, _ = pipe.execute()
    return bool(removed)


def persistent_schedules(client: Any, keys: Any) -> dict[str, Any]:
    """``persistent_schedules`` decoded; a value that is not JSON is kept as its text (and will be reported)."""
    return decode_persistent(client.hgetall(keys.persistent_schedules))


def decode_persistent(stored: Mapping[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, raw in sorted(stored.items()):
        key = name.decode("utf-8", "replace") if isinstance(name, bytes) else name
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        try:
            out[key] = codec.decode(text)
        except ValueError:
            out[key] = text
    return out


def load_mapping(path: str) -> Any:
    """A YAML schedule file as its mapping (``yaml.safe_load``), for :func:`schedule_state`."""
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)
    except OSError as exc:
        raise InvalidSchedule(f"cannot read schedule file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise InvalidSchedule(f"schedule file {path} is not YAML: {str(exc).splitlines()[0]}") from None


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
