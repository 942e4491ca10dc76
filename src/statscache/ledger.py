"""The ledger of counted messages: which plugin has counted which message id.

Every registered plugin owns a *slot*: bit ``slot % BITS`` of mask word
``slot // BITS`` in ``statscache_seen_messages``. A flush reads the masks of
its messages, routes each message to the plugins whose bit is unset, and sets
those bits in the same transaction as the plugins' deltas. Ids older than a
horizon are forgotten by :func:`prune`; a plugin that had counted messages that
old is *closed* before the horizon and treats older messages as counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
import time
from dataclasses import dataclass, field
from typing import cast

from sqlalchemy import Connection, case, func, or_, select, update

from statscache import schema
from statscache.message import Message
from statscache.models import chunks, dialect_insert, executemany
from statscache.plugin import Plugin

Masks = dict[tuple[str, int], int]  # (msg_id, word) -> mask


@dataclass
class Slot:
    """A plugin with its place in the ledger and the messages routed to it."""

    plugin: Plugin
    word: int
    bit: int
    closed_before: float
    batch: list[Message] = field(default_factory=list)
    low: float = float("inf")  # span of the batch's message times
    high: float = float("-inf")

    def take(self, message: Message) -> None:
        """Route one more message to this plugin."""
        self.batch.append(message)
        self.low, self.high = min(self.low, message.epoch), max(self.high, message.epoch)


def slots(connection: Connection, plugins: Sequence[Plugin]) -> list[Slot]:
    """The ledger places of ``plugins`` (registered by the store beforehand)."""
    table = schema.plugins
    rows = cast(
        Iterable[tuple[str, int, float | None]],
        connection.execute(select(table.c.ident, table.c.slot, table.c.closed_before)),
    )
    state = {ident: (slot, closed) for ident, slot, closed in rows}
    missing = [plugin.ident for plugin in plugins if plugin.ident not in state]
    if missing:
        raise LookupError(f"plugins not registered: {', '.join(missing)}")
    out = []
    for plugin in plugins:
        slot, closed = state[plugin.ident]
        word, bit = divmod(slot, schema.BITS)
        out.append(Slot(plugin, word, 1 << bit, float("-inf") if closed is None else closed))
    return out


def read_masks(connection: Connection, ids: Sequence[str], words: set[int]) -> Masks:
    """The recorded masks of these message ids."""
    seen = schema.seen_messages
    found: Masks = {}
    for batch in chunks(sorted(set(ids)), 500):
        query = select(seen.c.msg_id, seen.c.word, seen.c.mask).where(
            seen.c.msg_id.in_(batch), seen.c.word.in_(sorted(words))
        )
        for msg_id, word, mask in cast(Iterable[tuple[str, int, int]], connection.execute(query)):
            found[msg_id, word] = mask
    return found


def route(messages: Sequence[Message], places: list[Slot], masks: Masks) -> tuple[int, Masks]:
    """Fill each slot's batch with the messages it has not counted.

    Returns how many messages went to at least one plugin, and the new masks
    (recorded bits included) to write back.
    """
    recorded = {msg_id for msg_id, _ in masks}
    floor = max(place.closed_before for place in places)
    full: dict[int, int] = {}
    for place in places:
        full[place.word] = full.get(place.word, 0) | place.bit
    fresh: list[Message] = []
    rest: list[Message] = []
    handled: set[str] = set()
    for message in messages:
        if message.id in handled:
            continue
        handled.add(message.id)
        (fresh if message.id not in recorded and message.epoch >= floor else rest).append(message)
    marks: Masks = {(m.id, word): mask for m in fresh for word, mask in full.items()}
    low = min((m.epoch for m in fresh), default=float("inf"))
    high = max((m.epoch for m in fresh), default=float("-inf"))
    for place in places:
        place.batch, place.low, place.high = list(fresh), low, high
    accepted = len(fresh) + sum(_route_one(message, places, masks, marks) for message in rest)
    return accepted, marks


def _route_one(message: Message, places: list[Slot], masks: Masks, marks: Masks) -> int:
    """Route a message some plugins may have counted; 1 if any plugin takes it."""
    fed = 0
    for place in places:
        key = (message.id, place.word)
        held = marks.get(key, masks.get(key, 0))
        if held & place.bit or message.epoch < place.closed_before:
            continue
        place.take(message)
        marks[key] = held | place.bit
        fed = 1
    return fed


def write_marks(connection: Connection, marks: Masks, epochs: dict[str, float]) -> None:
    """Record the new masks (OR-ed into what is there: concurrent flushes never clear a bit)."""
    table = schema.seen_messages
    insert = dialect_insert(connection, table)
    upsert = insert.on_conflict_do_update(
        index_elements=["msg_id", "word"], set_={"mask": table.c.mask.op("|")(insert.excluded.mask)}
    )
    rows = [(msg_id, word, mask, epochs[msg_id]) for (msg_id, word), mask in marks.items()]
    executemany(connection, upsert, ["msg_id", "word", "mask", "epoch"], rows)


def widen_spans(connection: Connection, places: list[Slot]) -> None:
    """Widen each plugin's [oldest, newest] span of counted message times; stamp the change."""
    table = schema.plugins
    now = time.time()
    oldest, newest = table.c.oldest, table.c.newest
    for place in places:
        if not place.batch:
            continue
        low, high = place.low, place.high
        connection.execute(
            update(table)
            .where(table.c.ident == place.plugin.ident)
            .values(
                oldest=case((or_(oldest.is_(None), oldest > low), low), else_=oldest),
                newest=case((or_(newest.is_(None), newest < high), high), else_=newest),
                updated_at=now,
            )
        )


def prune(connection: Connection, keep_seconds: float) -> tuple[float, int] | None:
    """Forget ids older than the newest recorded message minus ``keep_seconds``.

    The horizon never passes the lowest checkpoint: a back-fill still walking
    older history must keep recognising what it counts. Returns the horizon and
    how many records were forgotten, or None when empty.
    """
    seen, table = schema.seen_messages, schema.plugins
    newest = connection.execute(select(func.max(seen.c.epoch))).scalar()
    if newest is None:
        return None
    horizon = float(newest) - keep_seconds
    lowest = connection.execute(select(func.min(table.c.checkpoint))).scalar()
    if lowest is not None:
        horizon = min(horizon, float(lowest))
    forgotten = connection.execute(seen.delete().where(seen.c.epoch < horizon)).rowcount
    connection.execute(
        update(table)
        .where(table.c.oldest < horizon, or_(table.c.closed_before.is_(None), table.c.closed_before < horizon))
        .values(closed_before=horizon)
    )
    return horizon, forgotten
