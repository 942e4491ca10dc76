"""The datagrepper stand-in (tests/datagrepper.py) against an independent filtering of the corpus."""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

import datagrepper
from datagrepper import Datagrepper

CORPUS = Path(__file__).parent / "corpus" / "fedmsg.jsonl"
Row = dict[str, Any]


def corpus_rows() -> list[Row]:
    rows = []
    with open(CORPUS, encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            if row.get("timestamp") is not None:
                rows.append(row)
    return rows


def category(topic: str) -> str:
    return topic.split(".")[2 if "VirtualTopic" in topic else 3]


def expected(
    rows: Sequence[Row],
    start: float,
    end: float,
    *,
    order: str = "asc",
    topics: Sequence[str] = (),
    categories: Sequence[str] = (),
    not_topics: Sequence[str] = (),
) -> list[Row]:
    """The rows a query should give, filtered here without the stand-in's code."""
    chosen = [
        row
        for row in rows
        if start <= row["timestamp"] <= end
        and (not topics or row["topic"] in topics)
        and (not categories or category(row["topic"]) in categories)
        and row["topic"] not in not_topics
    ]
    chosen.sort(key=lambda row: row["timestamp"])  # stable: ties stay in corpus order
    return chosen if order == "asc" else chosen[::-1]


def key(row: Row) -> tuple[str, float, str]:
    """What identifies a corpus row (its msg_id may be null, and the stand-in fills it in)."""
    return row["topic"], row["timestamp"], json.dumps(row["msg"], sort_keys=True)


def get(url: str, params: Any = None, **kwargs: Any) -> tuple[int, Any]:
    with requests.get(url, params=params, timeout=kwargs.pop("timeout", 10), **kwargs) as response:
        if response.headers.get("Content-Type", "").startswith("application/json"):
            return response.status_code, response.json()
        return response.status_code, response.text


def walk(url: str, params: dict[str, Any] | list[tuple[str, Any]]) -> tuple[list[Row], list[dict[str, Any]]]:
    """Every page of a query, in order; returns the rows and the envelopes."""
    pairs = list(params.items()) if isinstance(params, dict) else list(params)
    rows: list[Row] = []
    envelopes = []
    page = 1
    while True:
        status, body = get(url, pairs + [("page", page)])
        assert status == 200, body
        envelopes.append(body)
        rows.extend(body["raw_messages"])
        if page >= body["pages"]:
            return rows, envelopes
        page += 1


@pytest.fixture(scope="module")
def rows() -> list[Row]:
    return corpus_rows()


@pytest.fixture
def server(rows: list[Row]) -> Iterator[Datagrepper]:
    with Datagrepper(rows) as standin:
        yield standin


def test_corpus_loads_like_the_helper(rows: list[Row]) -> None:
    assert len(rows) > 500
    assert [key(row) for row in datagrepper.load_jsonl(CORPUS)] == [key(row) for row in rows]


def test_window_is_inclusive_at_both_ends(rows: list[Row]) -> None:
    start, end = 1_400_000_000.25, 1_400_000_100.75
    edges = [
        {"topic": "org.fedoraproject.prod.edge.before", "timestamp": start - 0.001, "msg": {}},
        {"topic": "org.fedoraproject.prod.edge.start", "timestamp": start, "msg": {}},
        {"topic": "org.fedoraproject.prod.edge.end", "timestamp": end, "msg": {}},
        {"topic": "org.fedoraproject.prod.edge.after", "timestamp": end + 0.001, "msg": {}},
    ]
    with Datagrepper(rows + edges) as standin:
        for path in ("raw", "v2/search"):
            status, body = get(standin.url + path, {"start": start, "end": end, "order": "asc", "rows_per_page": 100})
            assert status == 200
            topics = [message["topic"] for message in body["raw_messages"]]
            assert topics[0] == "org.fedoraproject.prod.edge.start"
            assert topics[-1] == "org.fedoraproject.prod.edge.end"
            assert "org.fedoraproject.prod.edge.before" not in topics
            assert "org.fedoraproject.prod.edge.after" not in topics
            assert body["total"] == len(expected(rows + edges, start, end))
        # a window of a single instant still holds the message on it
        status, body = get(standin.url + "raw", {"start": start, "end": start})
        assert [message["topic"] for message in body["raw_messages"]] == ["org.fedoraproject.prod.edge.start"]


def test_order_defaults_to_desc_and_asc_is_oldest_first(server: Datagrepper, rows: list[Row]) -> None:
    start, end = rows[0]["timestamp"], rows[-1]["timestamp"]
    _, default = get(server.url + "raw", {"start": start, "end": end, "rows_per_page": 100})
    _, desc = get(server.url + "raw", {"start": start, "end": end, "rows_per_page": 100, "order": "desc"})
    _, asc = get(server.url + "raw", {"start": start, "end": end, "rows_per_page": 100, "order": "asc"})
    assert default["arguments"]["order"] == "desc"
    assert default["raw_messages"] == desc["raw_messages"]
    assert [key(row) for row in asc["raw_messages"]] == [key(row) for row in expected(rows, start, end)[:100]]
    assert [key(row) for row in desc["raw_messages"]] == [
        key(row) for row in expected(rows, start, end, order="desc")[:100]
    ]
    stamps = [row["timestamp"] for row in asc["raw_messages"]]
    assert stamps == sorted(stamps)


def test_pagination_totals(server: Datagrepper, rows: list[Row]) -> None:
    start, end = rows[0]["timestamp"], rows[-1]["timestamp"]
    total = len(expected(rows, start, end))
    pages = math.ceil(total / 7)
    for page, count in ((1, 7), (pages, total - 7 * (pages - 1)), (pages + 1, 0)):
        status, body = get(server.url + "raw", {"start": start, "end": end, "rows_per_page": 7, "page": page})
        assert status == 200
        assert (body["total"], body["pages"], body["count"]) == (total, pages, count)
        assert len(body["raw_messages"]) == count
        assert body["arguments"]["page"] == page and body["arguments"]["rows_per_page"] == 7
    # the defaults: 25 rows a page, page 1
    _, body = get(server.url + "raw/", {"start": start, "end": end})
    assert body["count"] == 25 and body["pages"] == math.ceil(total / 25)
    assert body["arguments"]["page"] == 1 and body["arguments"]["rows_per_page"] == 25
    # an empty window
    _, body = get(server.url + "raw", {"start": 1, "end": 2})
    assert (body["total"], body["pages"], body["count"], body["raw_messages"]) == (0, 0, 0, [])


@pytest.mark.parametrize("path", ["raw", "v2/search"])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_walking_every_page_gives_exactly_the_window(
    server: Datagrepper, rows: list[Row], path: str, order: str
) -> None:
    chooser = random.Random(f"{path}{order}")
    stamps = sorted({row["timestamp"] for row in rows})
    for _ in range(5):
        start, end = sorted(chooser.sample(stamps, 2))
        rows_per_page = chooser.choice([1, 3, 10, 100])
        walked, envelopes = walk(
            server.url + path, {"start": start, "end": end, "order": order, "rows_per_page": rows_per_page}
        )
        want = expected(rows, start, end, order=order)
        if path == "raw":
            assert [key(row) for row in walked] == [key(row) for row in want]
        else:
            assert [(row["topic"], json.dumps(row["body"], sort_keys=True)) for row in walked] == [
                (row["topic"], json.dumps(row["msg"], sort_keys=True)) for row in want
            ]
        assert all(envelope["total"] == len(want) for envelope in envelopes)
        assert sum(envelope["count"] for envelope in envelopes) == len(want)


def test_filters(server: Datagrepper, rows: list[Row]) -> None:
    start, end = rows[0]["timestamp"], rows[-1]["timestamp"]
    base = {"start": start, "end": end, "order": "asc", "rows_per_page": 100}
    bodhi_topics = sorted({row["topic"] for row in rows if category(row["topic"]) == "bodhi"})
    cases: list[tuple[list[tuple[str, Any]], dict[str, Any]]] = [
        ([("topic", bodhi_topics[0])], {"topics": [bodhi_topics[0]]}),
        ([("topic", bodhi_topics[0]), ("topic", bodhi_topics[1])], {"topics": bodhi_topics[:2]}),
        ([("category", "bodhi")], {"categories": ["bodhi"]}),
        ([("category", "bodhi"), ("category", "buildsys")], {"categories": ["bodhi", "buildsys"]}),
        ([("category", "bodhi"), ("topic", bodhi_topics[1])], {"categories": ["bodhi"], "topics": [bodhi_topics[1]]}),
        (
            [("category", "buildsys"), ("topic", bodhi_topics[1])],
            {"categories": ["buildsys"], "topics": bodhi_topics[1:2]},
        ),
        (
            [("category", "bodhi"), ("not_topic", bodhi_topics[0])],
            {"categories": ["bodhi"], "not_topics": bodhi_topics[:1]},
        ),
    ]
    for filters, independent in cases:
        walked, _ = walk(server.url + "raw", list(base.items()) + filters)
        want = expected(rows, start, end, **independent)
        assert [key(row) for row in walked] == [key(row) for row in want], filters
    assert len(expected(rows, start, end, categories=["bodhi"])) > 1
    _, body = get(server.url + "raw", list(base.items()) + [("category", "bodhi"), ("topic", "x.y")])
    assert body["arguments"]["categories"] == ["bodhi"] and body["arguments"]["topics"] == ["x.y"]


def test_bad_arguments_are_refused_like_datagrepper(server: Datagrepper) -> None:
    for params, status in (
        ({"rows_per_page": 101}, 400),
        ({"rows_per_page": 100}, 200),
        ({"page": 0}, 400),
        ({"order": "sideways"}, 400),
        ({"contains": "ralph"}, 400),  # contains needs a topic or a category
        ({"page": "two"}, 500),  # int() fails outside any handler in datagrepper
        ({"rows_per_page": -1}, 500),  # LIMIT must not be negative, in the database
    ):
        code, body = get(server.url + "raw", params)
        assert code == status, (params, body)
        if status == 400:
            assert "Bad Request" in body
    code, body = get(server.url + "raw", {"rows_per_page": 101})
    assert "rows_per_page must be &lt;= 100" in body
    code, body = get(server.url + "no/such/endpoint")
    assert (code, body) == (404, {"error": "not_found"})


def test_rows_per_page_zero_is_unlimited(server: Datagrepper, rows: list[Row]) -> None:
    # datanommer.models >= 1.2: "if not rows_per_page: pages = 1" and no LIMIT
    _, body = get(server.url + "raw", {"start": 1, "end": 2e9, "rows_per_page": 0})
    assert body["count"] == body["total"] == len(rows) and body["pages"] == 1


def test_time_arguments(rows: list[Row]) -> None:
    now = 1_500_000_000.0
    recent = [
        {"topic": f"org.fedoraproject.prod.clock.t{age}", "timestamp": now - age, "msg": {}} for age in (10, 100, 1000)
    ]
    with Datagrepper(rows + recent, now=lambda: now) as standin:

        def topics(params: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
            code, body = get(standin.url + "raw", {**params, "order": "asc", "rows_per_page": 0})
            assert code == 200, body
            return [row["topic"].rsplit(".", 1)[1] for row in body["raw_messages"]], body["arguments"]

        found, arguments = topics({"delta": 150})  # only a delta: the window ends now
        assert found == ["t100", "t10"]
        assert (arguments["start"], arguments["end"], arguments["delta"]) == (now - 150, now, 150)
        found, arguments = topics({"start": now - 1000, "delta": 900})  # start + delta
        assert found == ["t1000", "t100"] and arguments["end"] == now - 100
        found, arguments = topics({"end": now - 100, "delta": 900})  # end + delta
        assert found == ["t1000", "t100"] and arguments["start"] == now - 1000
        found, arguments = topics({"start": now - 100})  # start only: until now
        assert found == ["t100", "t10"] and arguments["end"] == now
        found, arguments = topics({"start": now - 100, "end": now - 10, "delta": 5})  # delta ignored
        assert found == ["t100", "t10"] and arguments["delta"] == 90
        iso = datetime.fromtimestamp(now - 100, UTC).isoformat()
        found, _ = topics({"start": iso, "end": iso.replace("+00:00", "")})  # date strings, naive = UTC
        assert found == ["t100"]
        _, arguments = topics({})  # no time argument, DEFAULT_QUERY_DELTA 0: no time bound
        assert (arguments["start"], arguments["end"], arguments["delta"]) == (None, None, None)
    with Datagrepper(recent, now=lambda: now, default_query_delta=500) as standin:
        _, body = get(standin.url + "raw", {"order": "asc"})
        assert [row["topic"] for row in body["raw_messages"]][-2:] == [recent[1]["topic"], recent[0]["topic"]]
        assert body["total"] == 2 and body["arguments"]["start"] == now - 500


def test_message_shapes(server: Datagrepper, rows: list[Row]) -> None:
    first = rows[0]
    window = {"start": first["timestamp"], "end": first["timestamp"], "rows_per_page": 100, "order": "asc"}
    _, raw = get(server.url + "raw", window)
    _, v2 = get(server.url + "v2/search", window)
    assert set(raw) == set(v2) == {"raw_messages", "total", "pages", "count", "arguments"}
    row, message = raw["raw_messages"][0], v2["raw_messages"][0]
    assert {"msg_id", "topic", "timestamp", "msg", "i", "headers", "users", "packages"} <= set(row)
    assert (row["topic"], row["timestamp"], row["msg"]) == (first["topic"], first["timestamp"], first["msg"])
    assert first["msg_id"] is None and row["msg_id"]  # datanommer gives every row an id
    assert set(message) == {"body", "headers", "id", "priority", "queue", "topic"}
    assert (message["id"], message["topic"], message["body"]) == (row["msg_id"], first["topic"], first["msg"])
    sent_at = datetime.fromisoformat(message["headers"]["sent-at"])
    assert sent_at.utcoffset() is not None and sent_at.timestamp() == pytest.approx(first["timestamp"], abs=1e-6)
    # /id and /v2/id find a message by the id it was given
    _, by_id = get(server.url + "id", {"id": row["msg_id"]})
    _, by_v2_id = get(server.url + "v2/id", {"id": row["msg_id"]})
    assert by_id == row and by_v2_id == message


def test_whole_second_timestamps_prefix_and_html() -> None:
    row = {"topic": "org.fedoraproject.prod.x.y", "timestamp": 1_400_000_000.75, "msg": {"a": 1}}
    with Datagrepper([row], prefix="/datagrepper", raw_whole_seconds=True) as standin:
        assert standin.url.endswith("/datagrepper/")
        _, body = get(standin.url + "raw", {"start": 1, "end": 2e9})
        assert body["raw_messages"][0]["timestamp"] == 1_400_000_000.0
        code, _ = get(f"http://127.0.0.1:{standin.port}/raw", {"start": 1, "end": 2e9})
        assert code == 404
        code, page = get(standin.url + "raw", {"start": 1, "end": 2e9}, headers={"Accept": "text/html"})
        assert code == 200 and "<html>" in page


def test_duplicates_are_skipped_and_ids_kept(rows: list[Row]) -> None:
    with_id = next(row for row in rows if row["msg_id"])
    with Datagrepper([with_id]) as standin:
        assert standin.add([with_id]) == 0
        assert standin.add([{**with_id, "timestamp": with_id["timestamp"] + 1}]) == 1
        assert [row["msg_id"] for row in standin.messages] == [with_id["msg_id"]] * 2
    with pytest.raises(ValueError):
        Datagrepper([{"topic": "a.b.c.d", "timestamp": None, "msg": {}}])


def test_failures_then_success(server: Datagrepper) -> None:
    server.fail(1, 502)
    assert get(server.url + "raw")[0] == 502
    assert get(server.url + "raw")[0] == 200
    server.fail(2, 504, path="/v2/search", page=2)
    assert get(server.url + "v2/search", {"page": 1})[0] == 200
    assert get(server.url + "raw", {"page": 2})[0] == 200  # another path
    assert get(server.url + "v2/search", {"page": 2})[0] == 504
    assert get(server.url + "v2/search/", {"page": 2})[0] == 504
    assert get(server.url + "v2/search", {"page": 2})[0] == 200
    server.fail(None, 502, match=lambda path, params: params.get("order") == ["asc"])
    assert [get(server.url + "raw", {"order": "asc"})[0] for _ in range(3)] == [502, 502, 502]
    assert get(server.url + "raw", {"order": "desc"})[0] == 200
    server.clear_faults()
    assert get(server.url + "raw", {"order": "asc"})[0] == 200
    server.fail(1, datagrepper.DROP)
    with pytest.raises(requests.ConnectionError):
        get(server.url + "raw")
    assert get(server.url + "raw")[0] == 200
    assert server.requests == 14
    assert [served.status for served in server.log][:2] == [502, 200]


def test_slow_pages_are_slow_and_trip_client_timeouts(server: Datagrepper) -> None:
    server.slow(0.5, 1)
    began = time.monotonic()
    assert get(server.url + "raw")[0] == 200
    assert time.monotonic() - began >= 0.5
    began = time.monotonic()
    assert get(server.url + "raw")[0] == 200
    assert time.monotonic() - began < 0.5
    server.slow(2.0, 1, page=3)
    with pytest.raises(requests.Timeout):
        get(server.url + "raw", {"page": 3}, timeout=0.3)
    assert get(server.url + "raw", {"page": 3}, timeout=2)[0] == 200
    server.slow(5.0, None)
    server.slow(0, times=0)  # replaces the earlier setting: no longer slow
    server.fail(None, 502)
    server.fail(0)
    began = time.monotonic()
    assert get(server.url + "raw", timeout=2)[0] == 200
    assert time.monotonic() - began < 1


def test_stop_wakes_sleeping_requests(rows: list[Row]) -> None:
    standin = Datagrepper(rows).start()
    standin.slow(30, 1)
    codes: list[int] = []
    waiting = threading.Thread(target=lambda: codes.append(get(standin.url + "raw", timeout=60)[0]))
    waiting.start()
    while standin.in_flight == 0:
        time.sleep(0.01)
    began = time.monotonic()
    standin.stop()  # the sleeper wakes up and answers; every serving thread is joined
    waiting.join()
    assert time.monotonic() - began < 5
    assert codes == [200] and standin.in_flight == 0


def test_requests_in_flight_are_counted(server: Datagrepper) -> None:
    server.slow(0.4, None)
    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(lambda page: get(server.url + "raw", {"page": page})[0], range(1, 5)))
    assert codes == [200] * 4
    assert server.requests == 4 and server.max_in_flight == 4 and server.in_flight == 0
    server.clear_faults()
    server.reset_counters()
    for page in range(1, 4):
        get(server.url + "raw", {"page": page})
    assert server.requests == 3 and server.max_in_flight == 1
    assert [served.params["page"] for served in server.log] == [["1"], ["2"], ["3"]]


def test_a_message_added_during_an_ascending_walk_appears_in_a_later_page(rows: list[Row]) -> None:
    start, end = rows[100]["timestamp"], rows[200]["timestamp"]
    before = expected(rows, start, end)
    late = {"topic": "org.fedoraproject.prod.late.arrival", "timestamp": end, "msg": {"late": True}}
    with Datagrepper(rows) as standin:
        seen: list[dict[str, Any]] = []

        def arrive(request: dict[str, Any]) -> None:
            seen.append(request)
            if request["page"] == 2:
                standin.add([late])

        standin.on_page = arrive
        walked, envelopes = walk(standin.url + "raw", {"start": start, "end": end, "order": "asc", "rows_per_page": 10})
    assert envelopes[0]["total"] == len(before) and envelopes[-1]["total"] == len(before) + 1
    assert [key(row) for row in walked] == [key(row) for row in before + [late]]
    assert standin.hook_errors == []
    assert [request["page"] for request in seen] == list(range(1, len(envelopes) + 1))
    assert seen[0] == {
        "endpoint": "/raw",
        "page": 1,
        "rows_per_page": 10,
        "order": "asc",
        "start": start,
        "end": end,
        "params": {"start": [str(start)], "end": [str(end)], "order": ["asc"], "rows_per_page": ["10"], "page": ["1"]},
    }


def test_a_failing_hook_is_a_500_and_is_kept(server: Datagrepper) -> None:
    def broken(request: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    server.on_page = broken
    code, body = get(server.url + "raw")
    assert code == 500 and body["error"] == "internal_error"
    assert [str(error) for error in server.hook_errors] == ["boom"]


def test_a_message_added_during_a_descending_walk_shifts_the_offsets(rows: list[Row]) -> None:
    """Offset paging over a growing window: the newest row pushes every later page back by one."""
    start, end = rows[100]["timestamp"], rows[200]["timestamp"]
    before = expected(rows, start, end, order="desc")
    late = {"topic": "org.fedoraproject.prod.late.arrival", "timestamp": end, "msg": {"late": True}}
    with Datagrepper(rows) as standin:

        def arrive(request: dict[str, Any]) -> None:
            if request["page"] == 2:
                standin.add([late])

        standin.on_page = arrive
        walked, _ = walk(standin.url + "raw", {"start": start, "end": end, "order": "desc", "rows_per_page": 10})
    keys = [key(row) for row in walked]
    assert key(late) not in keys  # it went onto page 1, already read
    assert keys[9] == keys[10] == key(before[9])  # the last row of page 1 comes again
    assert keys == [key(row) for row in before[:10] + before[9:]]


def test_add_from_another_thread_while_walking(rows: list[Row]) -> None:
    start, end = rows[0]["timestamp"], rows[-1]["timestamp"]
    extra = [{"topic": f"org.fedoraproject.prod.more.m{n}", "timestamp": end + n, "msg": {}} for n in range(1, 51)]
    with Datagrepper(rows) as standin:

        def add_slowly() -> None:
            for row in extra:
                standin.add([row])
                time.sleep(0.001)

        adder = threading.Thread(target=add_slowly)
        adder.start()
        walked, _ = walk(standin.url + "raw", {"start": start, "end": end + 100, "order": "asc", "rows_per_page": 50})
        adder.join()
        everything, _ = walk(
            standin.url + "raw", {"start": start, "end": end + 100, "order": "asc", "rows_per_page": 100}
        )
    # ascending, with rows only added at the end: nothing is repeated or lost
    assert [key(row) for row in walked] == [key(row) for row in everything[: len(walked)]]
    assert len(everything) == len(expected(rows, start, end)) + len(extra)


def test_random_tie_order_reshuffles_equal_timestamps() -> None:
    ties: list[Row] = [
        {"topic": f"org.fedoraproject.prod.tie.t{n}", "timestamp": 1_400_000_000.0, "msg": {}} for n in range(20)
    ]
    with Datagrepper(ties, tie_order="random", seed=7) as standin:
        orders: set[tuple[str, ...]] = set()
        for _ in range(5):
            _, body = get(standin.url + "raw", {"start": 1, "end": 2e9})
            orders.add(tuple(row["topic"] for row in body["raw_messages"]))
    assert len(orders) > 1
    assert all(sorted(order) == sorted(row["topic"] for row in ties) for order in orders)
