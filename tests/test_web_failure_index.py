"""The failed list's in-process index: filtered pages from it are what a full scan shows,
even when other clients append, remove, clear or retry between two requests."""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from typing import Any

import pytest

from pyresque import Resque
from pyresque.browse import ACTIVEJOB_WRAPPER
from pyresque.failed_admin import FailedAdmin, FailureFilter
from pyresque.failure_index import FailureIndex, load_record

import webseed
from test_web_views import Browser

CLASSES = ["Archive", "Mailer", "Reports::Monthly"]
EXCEPTIONS = ["Errno::ENOENT", "Net::ReadTimeout", "RuntimeError"]


def seed(resque: Resque, n: int, queues: tuple[str, ...] = ("a", "b", "c")) -> None:
    for i in range(n):
        queue = queues[i % len(queues)]
        if i % 7 == 3:
            webseed.add_failure(resque, queue, ACTIVEJOB_WRAPPER, webseed.activejob_args(CLASSES[i % 3], [i]),
                                "ActiveJob::DeserializationError", f"Record {i} GONE")
        else:
            webseed.add_failure(resque, queue, CLASSES[i % 3], [i], EXCEPTIONS[i % 3],
                                f"Failure number {i}: No Such File")


def admins(resque: Resque) -> tuple[FailedAdmin, FailedAdmin]:
    def make(indexed: bool) -> FailedAdmin:
        return FailedAdmin(resque.redis, resque.layout, resque.failure_backend, indexed=indexed)
    return make(True), make(False)


FILTERS = [
    FailureFilter(queue="a"), FailureFilter(job_class="Archive"), FailureFilter(job_class=ACTIVEJOB_WRAPPER),
    FailureFilter(job_class="Mailer", queue="b"), FailureFilter(exception="RuntimeError"),
    FailureFilter(text="no such"), FailureFilter(text="GONE", queue="c"), FailureFilter(retried=True),
    FailureFilter(retried=False, job_class="Archive"), FailureFilter(queue="nowhere"), FailureFilter(text="{"),
]


def same_pages(indexed: FailedAdmin, scan: FailedAdmin, only: str | None = None) -> None:
    for flt, newest, start in itertools.product(FILTERS, (True, False), (0, 7)):
        a = indexed.page(start, 5, only=only, flt=flt, newest_first=newest)
        b = scan.page(start, 5, only=only, flt=flt, newest_first=newest)
        assert (a.total, [(v.list, v.index, v.digest) for v in a.items]) == \
               (b.total, [(v.list, v.index, v.digest) for v in b.items]), (flt, newest, start)


def test_indexed_pages_are_what_a_scan_shows_odd_records_included(resque: Resque) -> None:
    seed(resque, 60)
    key = resque.layout.failed
    resque.redis.rpush(key, b"not json", b"[1, 2]", b'{"queue": "a", "error": "\xff bad utf-8"}',
                       b' {"queue": "a", "error": "no such blanks", "payload": {"class": "Archive"}} ')
    resque.failures.requeue(4)  # retried in place
    indexed, scan = admins(resque)
    same_pages(indexed, scan)
    assert indexed.index is not None and indexed.index.rebuilds >= 1


def test_indexed_pages_over_the_multi_queue_backend(redis_server: str, r: Any) -> None:
    resque = Resque(redis_server, failure_backend="redis_multi_queue")
    seed(resque, 30)
    indexed, scan = admins(resque)
    same_pages(indexed, scan)
    same_pages(indexed, scan, only="b_failed")
    seed(resque, 5, queues=("d",))  # a new list appears
    same_pages(indexed, scan)


def test_load_record_reads_what_json_loads_reads() -> None:
    for raw in [b'{"a": 1}', b' {"a": 1} ', b'{"a": 1} x', b"\xef\xbb\xbf{}", b"[]", b"\xff", b"",
                '{"a": "\u00e9"}'.encode("utf-16"), b'{"a": NaN}']:
        try:
            want = json.loads(raw)
            want = want if isinstance(want, dict) else None
        except ValueError:
            want = None
        got = load_record(raw)
        assert got == want or (got is not None and want is not None and repr(got) == repr(want)), raw


def test_appends_are_read_alone_and_anything_else_reads_the_list_again(resque: Resque) -> None:
    seed(resque, 20)
    indexed, scan = admins(resque)
    index = indexed.index
    assert index is not None
    flt = FailureFilter(job_class="Archive")
    indexed.page(flt=flt)
    assert index.rebuilds == 1
    seed(resque, 5)
    assert indexed.page(flt=flt).total == scan.page(flt=flt).total == 9
    assert index.rebuilds == 1  # only the five new records were read
    resque.failures.remove(3)
    assert indexed.page(flt=flt).total == scan.page(flt=flt).total
    assert index.rebuilds == 2
    indexed.page(flt=FailureFilter(retried=True))  # reads (and checks) everything, every time
    assert index.rebuilds == 3


def test_over_the_memory_bound_filters_scan_and_stay_right(resque: Resque) -> None:
    seed(resque, 20)
    indexed, scan = admins(resque)
    indexed.index = FailureIndex(resque.redis, resque.layout, max_records=10)
    same_pages(indexed, scan)
    indexed.index = FailureIndex(resque.redis, resque.layout, max_message_chars=100)
    same_pages(indexed, scan)


# Through the dashboard, with another client changing the list between requests ------------------
def rows(web: Browser, query: str) -> tuple[int, list[dict[str, Any]]]:
    data = web.get("/api/failed" + query).get_json()
    return data["total"], data["items"]


def assert_rows_true(resque: Resque, items: list[dict[str, Any]], flt: FailureFilter) -> None:
    """Every row shown is the record now at its position, and it matches the filter."""
    for item in items:
        raw = resque.redis.lindex(resque.layout.failed_list(item["list"]), item["index"])
        assert raw is not None and hashlib.sha1(raw).hexdigest() == item["digest"], item
        assert flt.matches_data(load_record(raw)), item


def archive_args(resque: Resque) -> list[Any]:
    """What a scan says the Archive failures are, newest first."""
    _, scan = admins(resque)
    return [v.job.args for v in scan.page(0, 1000, flt=FailureFilter(job_class="Archive")).items]


def test_a_stale_index_never_shows_a_wrong_row_nor_misses_a_new_one(resque: Resque) -> None:
    seed(resque, 30)
    web = Browser(resque)
    other = resque.failures  # another client: the library straight on Redis
    flt = FailureFilter(job_class="Archive")
    total, items = rows(web, "?class=Archive&count=100")
    assert total == 10 and [i["args"] for i in items] == archive_args(resque)

    webseed.add_failure(resque, "a", "Archive", ["new"])  # appended
    total, items = rows(web, "?class=Archive&count=100")
    assert total == 11 and items[0]["args"] == ["new"]
    assert_rows_true(resque, items, flt)

    other.remove(items[3]["index"])  # removed from the middle
    webseed.add_failure(resque, "b", "Mailer", ["other"])  # and one appended: the length is as before
    total, items = rows(web, "?class=Archive&count=100")
    assert total == 10 and [i["args"] for i in items] == archive_args(resque)
    assert_rows_true(resque, items, flt)

    # Rewritten in place, away from the ends, into a record the filter no longer matches.
    middle = items[4]["index"]
    data = load_record(resque.redis.lindex(resque.layout.failed, middle))
    assert data is not None
    data["payload"]["class"] = "Mailer"
    resque.redis.lset(resque.layout.failed, middle, json.dumps(data))
    total, items = rows(web, "?class=Archive&count=100")
    assert total == 9 and [i["args"] for i in items] == archive_args(resque)
    assert_rows_true(resque, items, flt)

    resque.redis.delete(resque.layout.failed)  # cleared
    assert rows(web, "?class=Archive") == (0, [])
    webseed.add_failure(resque, "a", "Archive", ["after clear"])
    total, items = rows(web, "?class=Archive")
    assert total == 1 and items[0]["args"] == ["after clear"] and items[0]["index"] == 0


def test_a_retry_by_another_client_shows_under_retried_at_once(resque: Resque) -> None:
    seed(resque, 30)
    web = Browser(resque)
    assert rows(web, "?retried=yes")[0] == 0
    total_no, _ = rows(web, "?retried=no&class=Archive")
    assert total_no == 10
    resque.failures.requeue(10)  # Ruby's Retry: LSET of the record with retried_at, in the middle
    total, items = rows(web, "?retried=yes")
    assert total == 1 and items[0]["index"] == 10
    assert_rows_true(resque, items, FailureFilter(retried=True))
    _, scan = admins(resque)
    assert rows(web, "?retried=no&class=Mailer")[0] == \
        scan.page(flt=FailureFilter(retried=False, job_class="Mailer")).total == 9  # 10 was one
    total, items = rows(web, "?retried=no&count=100")
    assert total == 29 and all(i["index"] != 10 for i in items)


def test_the_html_page_follows_the_list_too(resque: Resque) -> None:
    seed(resque, 12)
    web = Browser(resque)
    assert web.text("/failed?exception=Net::ReadTimeout").count('name="selected"') == 3  # i % 3 == 1, but 10 is ActiveJob's
    webseed.add_failure(resque, "a", "X", ["late"], "Net::ReadTimeout", "late one")
    page = web.text("/failed?exception=Net::ReadTimeout")
    assert page.count('name="selected"') == 4 and "late one" in page


def test_concurrent_requests_while_failures_arrive(resque: Resque) -> None:
    seed(resque, 40)
    web = Browser(resque)
    flt = FailureFilter(queue="a")
    problems: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        client = web.app.test_client()
        try:
            while not stop.is_set():
                data = client.get("/api/failed?queue=a&count=50").get_json()
                for item in data["items"]:
                    if item["queue"] != "a":
                        problems.append(f"wrong row {item}")
        except Exception as exc:  # pragma: no cover - reported below
            problems.append(repr(exc))

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(60):
        webseed.add_failure(resque, "ab"[i % 2], "Archive", [i])
    stop.set()
    for t in threads:
        t.join(30)
    assert not problems
    total, items = rows(web, "?queue=a&count=100")
    assert total == 14 + 30
    assert_rows_true(resque, items, flt)


@pytest.mark.parametrize("newest", [True, False])
def test_paging_a_filter_walks_every_match_once(resque: Resque, newest: bool) -> None:
    seed(resque, 45)
    indexed, scan = admins(resque)
    flt = FailureFilter(text="no such")
    seen = []
    for start in range(0, 60, 8):
        seen += [v.index for v in indexed.page(start, 8, flt=flt, newest_first=newest).items]
    assert seen == [v.index for v in scan.page(0, 100, flt=flt, newest_first=newest).items]
