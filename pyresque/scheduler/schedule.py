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

import hashlib
import json
import math
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pyresque import payload as codec
from pyresque.errors import InvalidSchedule, NoQueueError

if TYPE_CHECKING:
    from pyresque.client import Resque
    from pyresque.registry import Registry

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
    return _decode_persistent(client.hgetall(keys.persistent_schedules))


def _decode_persistent(stored: Mapping[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, raw in sorted(stored.items()):
        key = name.decode("utf-8", "replace") if isinstance(name, bytes) else name
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        try:
            out[key] = codec.decode(text)
        except ValueError:
            out[key] = text
    return out


# What a dashboard or the CLI shows: every schedule with its last and next run -----
def resolve_job(entry: Entry, registry: "Registry") -> tuple[str | None, str]:
    """The queue and wire class an entry's job is enqueued as (Ruby's ``enqueue_from_config``).

    The queue is the entry's, else the registered class's (None: there is
    none). A ``custom_job_class`` Ruby cannot load is enqueued under that name;
    pyresque loads nothing, so it always is."""
    spec = registry.get(entry.class_name)
    queue = entry.queue or (spec.queue if spec is not None else None)
    custom = entry.config.get("custom_job_class")
    name = custom if isinstance(custom, str) and custom and custom != "Resque::Job" else entry.class_name
    return queue, name


def enqueue_now(resque: "Resque", entry: Entry) -> str:
    """Enqueue one run of ``entry`` now, as resque-web's "Queue now" does; returns the queue.

    Neither ``last_enqueued_at`` nor the scheduler's next tick changes, as in Ruby.
    Raises :class:`NoQueueError` when the entry has no queue."""
    queue, name = resolve_job(entry, resque.registry)
    if not queue:
        raise NoQueueError(f"schedule {entry.name!r}: {entry.class_name} has no queue: give the entry a queue "
                           "or register the class with one")
    resque.enqueue_to(queue, name, *entry.args)
    return queue


def parse_ruby_time(text: str | None) -> float | None:
    """Epoch seconds of Ruby's ``Time#to_s`` (``2026-01-15 16:28:07 -0500``, as
    ``last_enqueued_at`` holds it), or None when it is not that."""
    if not text:
        return None
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S %z").timestamp()
    except ValueError:
        return None


def ruby_time(epoch_s: float) -> str:
    """Ruby's ``Time#to_s`` of ``epoch_s`` in the local zone: ``2026-01-15 16:28:07 -0500``."""
    return time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(epoch_s))


def last_ticks(ticks: Mapping[Any, Any], last_enqueued_at: Mapping[Any, Any]) -> dict[str, float]:
    """Each schedule's last enqueued tick, epoch seconds: the later of pyresque's
    ``schedule_tick`` record and ``last_enqueued_at``, which Ruby's scheduler
    writes when it enqueues (so in a mixed fleet the latest run counts,
    whoever made it). Values that are neither are ignored."""
    found: dict[str, float] = {}
    for name, value in last_enqueued_at.items():
        when = parse_ruby_time(_text(value))
        if when is not None:
            found[_text(name)] = when
    for name, value in ticks.items():
        try:
            tick = float(value)
        except ValueError:
            continue
        if math.isfinite(tick):
            found[_text(name)] = max(tick, found.get(_text(name), tick))
    return found


@dataclass(frozen=True)
class Missed:
    """The ticks of one entry that came and went while no scheduler was master."""

    ticks: list[float]  # the first ``keep`` of them, oldest first
    count: int  # how many there were (at least, when not ``exact``)
    exact: bool
    first_s: float | None
    last_s: float | None  # the last one counted


# Counting a cron line's missed ticks one by one stops here (~50 us each).
MISSED_COUNT_LIMIT = 10_000


def missed_ticks(entry: Entry, last_tick_s: float, until_s: float, started_s: float, keep: int) -> Missed:
    """The ticks of ``entry`` after ``last_tick_s`` and at or before ``until_s``."""
    first = entry.next_after(last_tick_s, started_s, last_tick_s)
    if first > until_s:
        return Missed([], 0, True, None, None)
    if isinstance(entry.when, Every):
        period = entry.when.period_s
        count = int((until_s - first) // period) + 1
        return Missed([first + i * period for i in range(min(keep, count))], count, True,
                      first, first + (count - 1) * period)
    ticks, count, tick = [first][:keep], 1, first
    while count < MISSED_COUNT_LIMIT:
        nxt = entry.next_after(tick, started_s, tick)
        if nxt > until_s:
            return Missed(ticks, count, True, first, tick)
        count, tick = count + 1, nxt
        if len(ticks) < keep:
            ticks.append(tick)
    return Missed(ticks, count, False, first, tick)


def next_run(entry: Entry, now_s: float, last_run_s: float | None) -> float | None:
    """When ``entry`` next fires after ``now_s``, as far as Redis can tell, or None (unknown).

    A cron line says it by itself. An ``every`` counts from its last run
    (``last_run_s``), or from its ``first_at``; without either it counts
    from when a scheduler process started, which Redis does not record."""
    if isinstance(entry.when, Cron):
        return entry.when.next_after(now_s)
    if last_run_s is None:
        first_at = entry.when.first_at_s
        return first_at if first_at is not None and first_at > now_s else None
    return entry.next_after(now_s, now_s, last_run_s)


@dataclass(frozen=True)
class ScheduleView:
    """One recurring schedule as a dashboard shows it.

    ``source`` is ``"dynamic"`` (``persistent_schedules``, which Ruby's
    ``set_schedule(..., persist: true)`` writes: it can be removed) or
    ``"file"`` (the static schedule file the viewer was given). ``entry`` is
    None when the config does not parse (``problem`` says why). ``digest``
    names the config as shown, so an action can check it did not change."""

    name: str
    source: str
    config: Any
    entry: Entry | None
    problem: str | None
    queue: str | None
    job_class: str | None
    last_enqueued_at: str | None
    next_run_s: float | None
    digest: str

    def to_json(self) -> dict[str, Any]:
        e = self.entry
        return {"name": self.name, "source": self.source, "class": self.job_class, "queue": self.queue,
                "cron": e.when.text if e is not None and isinstance(e.when, Cron) else None,
                "every": e.when.text if e is not None and isinstance(e.when, Every) else None,
                "args": e.args if e is not None else None,
                "description": e.description if e is not None else None,
                "rails_env": list(e.envs) if e is not None else None,
                "last_enqueued_at": self.last_enqueued_at, "next_run_s": self.next_run_s,
                "problem": self.problem, "config": self.config, "digest": self.digest}


@dataclass(frozen=True)
class ScheduleState:
    """Every schedule a viewer can know of, oldest name first, and the scheduler master.

    ``unlisted`` names schedules that ran (``last_enqueued_at``) but are in
    no schedule the viewer knows: a static schedule only its scheduler
    process holds (resque-scheduler 5 keeps it out of Redis), or one removed
    since. ``master`` is the master lock's ``<host>:<pid>`` (None: no
    scheduler is master) and ``master_ttl_s`` its seconds to live."""

    schedules: list[ScheduleView]
    unlisted: dict[str, str]
    master: str | None
    master_ttl_s: int | None
    problems: list[Problem]


def schedule_state(resque: "Resque", static: Mapping[str, Any] | None = None, *, now_s: float | None = None,
                   lock_prefix: str = "") -> ScheduleState:
    """The dynamic schedules in Redis, the ``static`` mapping (a parsed YAML
    schedule file) under them, each with its last and next run, and the master:
    one round trip. A dynamic schedule hides a static one of the same name, as
    in Ruby's ``all_schedules``."""
    client, keys = resque.redis, resque.layout
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(keys.persistent_schedules)
    pipe.hgetall(keys.last_enqueued_at)
    pipe.hgetall(keys.schedule_ticks)
    pipe.get(keys.master_lock(lock_prefix))
    pipe.ttl(keys.master_lock(lock_prefix))
    stored, last_raw, ticks_raw, master, ttl = pipe.execute()
    text = {_text(k): _text(v) for k, v in last_raw.items()}
    last_runs = last_ticks(ticks_raw, last_raw)
    now = time.time() if now_s is None else now_s
    configs = [(name, "file", config) for name, config in (static or {}).items()]
    dynamic = _decode_persistent(stored)
    configs = [c for c in configs if str(c[0]) not in dynamic] + [(n, "dynamic", c) for n, c in dynamic.items()]
    views, problems = [], []
    for name, source, config in sorted(configs, key=lambda c: str(c[0])):
        name = str(name)
        entry, found = parse_entry(name, config) if isinstance(config, dict) else (
            None, [Problem(name, "is not JSON" if isinstance(config, str) else "is not a mapping of settings")])
        problems += found
        fatal = next((p.message for p in found if p.fatal), None)
        queue, job_class, nxt = None, None, None
        if entry is not None:
            queue, job_class = resolve_job(entry, resque.registry)
            try:
                nxt = next_run(entry, now, last_runs.get(name))
            except InvalidSchedule as exc:
                fatal = str(exc)
        elif isinstance(config, dict) and isinstance(config.get("class", name), str):
            job_class = config.get("class", name)
        views.append(ScheduleView(name, source, config, entry, fatal, queue, job_class, text.get(name), nxt,
                                  config_digest(config)))
    known = {v.name for v in views}
    return ScheduleState(views, {n: t for n, t in sorted(text.items()) if n not in known},
                         _text(master) if master is not None else None,
                         int(ttl) if master is not None and int(ttl) >= 0 else None, problems)


def config_digest(config: Any) -> str:
    """The SHA-1 of a schedule's settings, whatever their key order."""
    text = json.dumps(config, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


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
