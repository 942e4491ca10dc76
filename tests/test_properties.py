"""Results never depend on arrival order, flush interval or batch size (invariant 3)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import all_rows, builtin_classes, replay_messages
from recompute import unique_records
from statscache.message import from_dict
from statscache.pipeline import Settings

CORPUS = Path(__file__).parent / "corpus"
RECORDS = unique_records([CORPUS / "fedmsg.jsonl", CORPUS / "fedora_messaging.jsonl"])
MESSAGES = [from_dict(record) for record in RECORDS]


def reference() -> dict[str, list[dict[str, Any]]]:
    if not hasattr(reference, "rows"):
        store, _ = replay_messages(f"sqlite:////tmp/statscache-ref-{uuid.uuid4().hex}.db", MESSAGES)
        reference.rows = all_rows(store)  # type: ignore[attr-defined]
    return reference.rows  # type: ignore[attr-defined, no-any-return]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    order=st.permutations(range(len(MESSAGES))),
    batch=st.integers(min_value=1, max_value=700),
    repeats=st.lists(st.integers(min_value=0, max_value=len(MESSAGES) - 1), max_size=30),
)
def test_order_batch_and_redelivery_do_not_matter(
    tmp_path_factory: Any, order: list[int], batch: int, repeats: list[int]
) -> None:
    arrivals = [MESSAGES[i] for i in order] + [MESSAGES[i] for i in repeats]
    url = f"sqlite:///{tmp_path_factory.mktemp('prop') / 'p.db'}"
    store, stats = replay_messages(url, arrivals, settings=Settings(flush_interval=3600, max_pending=batch))
    assert stats.accepted == len(MESSAGES)
    assert all_rows(store) == reference()


def test_reference_is_not_empty() -> None:
    rows = reference()
    assert all(rows[cls.ident] for cls in builtin_classes() if not cls.ident.startswith("pagure-")), [
        ident for ident, r in rows.items() if not r
    ]
