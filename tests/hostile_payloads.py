"""Hostile and malformed Resque payloads, with what a worker must make of each.

Not a test module: tests/test_payload_fuzz.py drives it. Every payload is
made by construction, so its expected outcome is known without asking
pyresque:

* ``ran``: a valid job of :data:`RAN_CLASS`, which records its run under
  ``key`` (its first argument, or :data:`NO_ARGS`);
* ``failed``: a valid job that fails (:data:`FAIL_CLASS` raises, or nobody
  registered the class); ``kept`` when its record must keep the payload
  as queued because writing it again would not give it back (a number
  read as infinity, nesting that puts the record past Ruby's 100 levels);
* ``malformed``: not a job at all; its record always keeps the bytes.

Payloads are full size: nesting of 100,000 levels, megabytes of string,
integers of thousands of digits. :func:`payloads` mixes them at random,
from a seeded ``random.Random``, so a failing run can be replayed.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any, Callable

RAN_CLASS = "FuzzOk"
FAIL_CLASS = "FuzzFail"
NO_ARGS = "<no args>"

# Ruby reads 100 levels; a record holds the payload one level down, so a
# payload whose args nest this deep (payload object + args + this) is too
# deep for a record.
RECORD_TOO_DEEP = 98
# pyresque reads up to this many levels (payload.MAX_DECODE_NESTING).
DECODE_LIMIT = 512


@dataclass(frozen=True)
class Fuzzed:
    raw: bytes
    outcome: str  # "ran", "failed" or "malformed"
    kind: str
    key: str | None = None
    kept: bool = False


class Raw:
    """Text written into the JSON as it is (a number JSON can hold but Python's json cannot write)."""

    def __init__(self, text: str) -> None:
        self.text = text


CLASS_NAMES = [
    "os.system('rm -rf /')", "__import__('os').system('id')", "../../etc/passwd", "/bin/sh", "C:\\Windows\\cmd.exe",
    "Kernel#exit!", "`reboot`", "$(reboot)", "%s%s%s%n", "%(x)s", "{{7*7}}", "${jndi:ldap://x/a}", "<script>", "'; DROP",
    "Nul\0Job", "\0", "Line\nBreak", "\r\n", "Tab\tJob", "\u202eevil", "😀::Job", "Object", "Resque::Job",
    "FuzzOk ", " FuzzOk", "fuzzok", "FuzzOk\0", "::", "a" * 100_000,
]


class Generator:
    def __init__(self, rng: random.Random, big_left: int) -> None:
        self.rng = rng
        self.big_left = big_left
        self.serial = 0

    # Values and text -----------------------------------------------------------
    def key(self) -> str:
        self.serial += 1
        return f"job-{self.serial}"

    def string(self) -> str:
        rng = self.rng
        pools = ["abc xyz", "é☃日本語", "😀👍🏽", "\u2028\u2029", "\x00\x01\x1f\x7f", '"\\/', "\ufeff", "%s{}[]"]
        return "".join(rng.choice(rng.choice(pools)) for _ in range(rng.randrange(0, 40)))

    def value(self, depth: int = 0) -> Any:
        rng = self.rng
        pick = rng.randrange(10 if depth < 4 else 7)
        if pick == 0:
            return rng.randrange(-(2**70), 2**70)
        if pick == 1:
            return rng.choice([0.0, -0.0, 1.5, 1e20, 5e-324, 1.7976931348623157e308, rng.uniform(-1e9, 1e9)])
        if pick == 2:
            return Raw(rng.choice("123456789") + "".join(rng.choice("0123456789") for _ in range(rng.randrange(20, 4000))))
        if pick in (3, 4):
            return self.string()
        if pick == 5:
            return rng.choice([None, True, False])
        if pick == 6:
            return Raw(rng.choice(["1E2", "-0", "1.0e-400", "0.1e1", "12345678901234567890.5"]))
        if pick in (7, 8):
            return [self.value(depth + 1) for _ in range(rng.randrange(0, 5))]
        return {self.string(): self.value(depth + 1) for _ in range(rng.randrange(0, 5))}

    def dump(self, value: Any) -> str:
        """JSON text with random, valid spacing and escaping."""
        rng = self.rng
        sep = rng.choice(["", "", "", " ", "\n", " \t "])
        if isinstance(value, Raw):
            return value.text
        if isinstance(value, dict):
            items = [f"{sep}{self.string_text(k)}{sep}:{sep}{self.dump(v)}" for k, v in value.items()]
            return "{" + ",".join(items) + sep + "}"
        if isinstance(value, list):
            return "[" + ",".join(sep + self.dump(v) for v in value) + sep + "]"
        if isinstance(value, str):
            return self.string_text(value)
        return json.dumps(value)

    def string_text(self, text: str) -> str:
        return json.dumps(text, ensure_ascii=self.rng.random() < 0.3)

    def job(self, class_name: str, args: Any, extra: dict[str, Any] | None = None, args_text: str | None = None) -> bytes:
        fields = [("class", self.string_text(class_name)), ("args", args_text if args_text is not None else self.dump(args))]
        for k, v in (extra or {}).items():
            fields.append((k, self.dump(v)))
        if self.rng.random() < 0.2:
            self.rng.shuffle(fields)
        sep = self.rng.choice(["", "", " "])
        return ("{" + ",".join(f"{sep}{json.dumps(k)}{sep}:{sep}{v}" for k, v in fields) + "}").encode()

    @staticmethod
    def nested(levels: int, leaf: str = "1") -> str:
        return "[" * levels + leaf + "]" * levels

    def big_string(self) -> str | None:
        if self.big_left <= 0:
            return None
        self.big_left -= 1
        return "é😀ab\u2028" * (self.rng.randrange(2, 5) * 1024 * 1024 // 10)

    # Jobs that run ---------------------------------------------------------------
    def ran_plain(self) -> Fuzzed:
        key = self.key()
        extra = {"id": self.string(), "queue_time": 1.5} if self.rng.random() < 0.2 else None
        raw = self.job(RAN_CLASS, [key] + [self.value() for _ in range(self.rng.randrange(0, 6))], extra)
        if self.rng.random() < 0.1:
            raw = b" \n\t" + raw + b"\r\n "
        return Fuzzed(raw, "ran", "ran_plain", key)

    def ran_no_args(self) -> Fuzzed:
        raw = self.rng.choice([b'{"class":"FuzzOk"}', b'{"class":"FuzzOk","args":null}', b'{"args":null,"class":"FuzzOk"}'])
        return Fuzzed(raw, "ran", "ran_no_args", NO_ARGS)

    def ran_hostile_args(self) -> Fuzzed:
        key = self.key()
        rng = self.rng
        kind, args_tail = rng.choice([
            ("deep", lambda: self.nested(rng.randrange(RECORD_TOO_DEEP, DECODE_LIMIT - 2))),
            ("infinity", lambda: rng.choice(["1e400", "-1e400", "1" + "0" * 400, "1e99999999999"])),
            ("huge int", lambda: "9" * rng.randrange(4301, 60_000)),
            ("deep objects", lambda: '{"k":' * 300 + "null" + "}" * 300),
        ])
        args_text = "[" + self.string_text(key) + "," + args_tail() + "]"
        return Fuzzed(self.job(RAN_CLASS, None, args_text=args_text), "ran", f"ran {kind}", key)

    def ran_big(self) -> Fuzzed:
        big = self.big_string()
        if big is None:
            return self.ran_plain()
        key = self.key()
        return Fuzzed(self.job(RAN_CLASS, [key, big]), "ran", "ran big string", key)

    # Jobs that fail ----------------------------------------------------------------
    def failed(self) -> Fuzzed:
        rng = self.rng
        name = FAIL_CLASS if rng.random() < 0.5 else rng.choice(CLASS_NAMES)
        shape = rng.randrange(5)
        if shape == 0:
            return Fuzzed(self.job(name, [self.value() for _ in range(rng.randrange(0, 4))]), "failed", "failed plain")
        if shape == 1:
            depth = rng.randrange(2, DECODE_LIMIT - 2)
            return Fuzzed(self.job(name, None, args_text="[" + self.nested(depth) + "]"), "failed", "failed deep",
                          kept=depth >= RECORD_TOO_DEEP)
        if shape == 2:
            number = rng.choice(["1e400", "-2e308", "1" + "0" * 310 + ".0"])
            return Fuzzed(self.job(name, None, args_text=f'["x",{number}]'), "failed", "failed infinity", kept=True)
        if shape == 3:
            big = self.big_string()
            if big is not None:
                return Fuzzed(self.job(name, [big]), "failed", "failed big string")
        return Fuzzed(self.job(name, [1], {"id": "x"}), "failed", "failed extra field")

    # Not jobs ------------------------------------------------------------------------
    def malformed(self) -> Fuzzed:
        rng = self.rng
        makers: list[Callable[[], bytes]] = [
            self.truncated, self.bad_json, self.not_finite, self.too_deep, self.not_utf8, self.lone_surrogate,
            self.not_object, self.bad_class, self.bad_args, self.raw_control, self.big_truncated,
        ]
        maker = rng.choice(makers)
        return Fuzzed(maker(), "malformed", maker.__name__)

    def truncated(self) -> bytes:
        whole = self.job(RAN_CLASS, [self.key()] + [self.value() for _ in range(3)])
        return whole[: self.rng.randrange(0, len(whole))]

    def big_truncated(self) -> bytes:
        big = self.big_string()
        if big is None:
            return self.truncated()
        whole = self.job(RAN_CLASS, [self.key(), big])
        return whole[: self.rng.randrange(len(whole) // 2, len(whole))]

    def bad_json(self) -> bytes:
        return self.rng.choice([
            b"", b"   ", b"not json", b"{'class':'FuzzOk','args':[]}", b'{"class":"FuzzOk","args":[1,]}',
            b'{"class":"FuzzOk" "args":[]}', b'{class:"FuzzOk",args:[]}', b'{"class":"FuzzOk","args":[]}/*x*/',
            b'// c\n{"class":"FuzzOk","args":[]}', b'{"class":"FuzzOk","args":["\\x"]}', b'{"class":"FuzzOk","args":[01]}',
            b'{"class":"FuzzOk","args":[.5]}', b'{"class":"FuzzOk","args":[0x10]}', b'\xef\xbb\xbf{"class":"FuzzOk"}',
            b'{"class":"FuzzOk","args":[]}{"class":"FuzzOk","args":[]}', b'{"class":"FuzzOk","args":[]}x',
            bytes(self.rng.randrange(32, 127) for _ in range(self.rng.randrange(1, 200))),
        ]) or b""

    def not_finite(self) -> bytes:
        word = self.rng.choice(["NaN", "Infinity", "-Infinity", "nan", "inf"])
        return self.job(RAN_CLASS, None, args_text=f'["{self.key()}",{word}]')

    def too_deep(self) -> bytes:
        rng = self.rng
        levels = rng.choice([100_000, rng.randrange(DECODE_LIMIT - 1, 5000)])
        return rng.choice([
            lambda: b"[" * levels,
            lambda: self.job(RAN_CLASS, None, args_text="[" * levels),
            lambda: self.job(RAN_CLASS, None, args_text="[" + self.nested(levels) + "]"),
            lambda: b'{"a":' * levels + b"1" + b"}" * levels,
        ])()

    def not_utf8(self) -> bytes:
        bad = self.rng.choice([b"\xff", b"\xfe\xff", b"caf\xe9", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf",
                               b"\xf4\x90\x80\x80", b"\x80"])
        whole = self.job(RAN_CLASS, [self.key(), "MARK"])
        return whole.replace(b"MARK", bad) if self.rng.random() < 0.8 else bad + whole

    def lone_surrogate(self) -> bytes:
        return self.job(RAN_CLASS, None, args_text=f'["{self.key()}","\\ud800"]')

    def not_object(self) -> bytes:
        return self.dump(self.rng.choice([[RAN_CLASS, [1]], "FuzzOk", 42, 1.5, None, True, [], "", Raw("1e400")])).encode()

    def bad_class(self) -> bytes:
        cls = self.rng.choice(["", 7, None, True, [RAN_CLASS], {"name": RAN_CLASS}, Raw("9" * 5000)])
        if self.rng.random() < 0.2:
            return self.dump({"args": [self.key()]}).encode()
        return ("{" + '"class":' + self.dump(cls) + ',"args":' + self.dump([self.key()]) + "}").encode()

    def bad_args(self) -> bytes:
        args = self.rng.choice([{"a": 1}, "x", 1, 1.5, True, False, {}, Raw("1e400")])
        return self.job(RAN_CLASS, args)

    def raw_control(self) -> bytes:
        char = self.rng.choice([b"\x00", b"\n", b"\t", b"\x1f"])
        return b'{"class":"Fuzz' + char + b'Ok","args":["' + self.key().encode() + b'"]}'


def payloads(rng: random.Random, n: int, big: int) -> list[Fuzzed]:
    """``n`` payloads: about 30% jobs that run, 20% that fail, 50% not jobs.

    At most ``big`` of them carry megabytes of string.
    """
    gen = Generator(rng, big)
    choices = [
        (gen.ran_plain, 18), (gen.ran_no_args, 2), (gen.ran_hostile_args, 8), (gen.ran_big, 2),
        (gen.failed, 20), (gen.malformed, 50),
    ]
    makers = [m for m, _ in choices]
    weights = [w for _, w in choices]
    return [rng.choices(makers, weights)[0]() for _ in range(n)]
