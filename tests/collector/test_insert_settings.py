"""F32: the collector refuses to start when the session it inserts through would acknowledge a batch
before writing it, or would not deduplicate a retried batch everywhere it is counted.

The settings come from outside routeledger (a ClickHouse user's profile, the connection URL's query
parameters, the engine's defaults: chDB 26 turned `async_insert` on by default), so the tests set them
on the real chDB writer session with `SET`, as a profile would, and run the start-up check on it.
"""

from __future__ import annotations

import pytest

from routeledger.attempt import rows_to_arrow
from routeledger.collector.app import refuse_unguarded, refuse_unsafe_insert_settings
from routeledger.errors import RouteledgerError
from routeledger.store.embedded import ChdbAttemptStore
from routeledger.store.schema import INSERT_SESSION_SETTINGS, unsafe_insert_settings
from tests.routeledger.store.test_embedded import row


def test_the_default_chdb_session_is_accepted(store: ChdbAttemptStore) -> None:
    settings = store.session_settings(INSERT_SESSION_SETTINGS)
    assert settings["async_insert"] in {"0", "1"} and settings["wait_for_async_insert"] == "1"
    refuse_unguarded(store)
    refuse_unsafe_insert_settings(store)  # the start-up checks pass: the collector starts


def test_async_inserts_that_wait_are_accepted(store: ChdbAttemptStore) -> None:
    store.execute("SET async_insert = 1")
    store.execute("SET wait_for_async_insert = 1")
    refuse_unsafe_insert_settings(store)


def test_async_inserts_that_do_not_wait_are_refused(store: ChdbAttemptStore) -> None:
    store.execute("SET async_insert = 1")
    store.execute("SET wait_for_async_insert = 0")
    with pytest.raises(RouteledgerError) as refused:
        refuse_unsafe_insert_settings(store)
    message = str(refused.value)
    assert message.startswith("refusing to start: ")
    assert "async_insert=1 with wait_for_async_insert=0" in message
    assert "fix: wait_for_async_insert=1" in message
    # Synchronous inserts never wait on a queue: the same setting is then harmless.
    store.execute("SET async_insert = 0")
    refuse_unsafe_insert_settings(store)


def test_async_insert_deduplication_is_refused_while_llm_attempts_feeds_views(store: ChdbAttemptStore) -> None:
    store.execute("SET async_insert = 1")
    store.execute("SET async_insert_deduplicate = 1")
    with pytest.raises(RouteledgerError) as refused:
        refuse_unsafe_insert_settings(store)
    message = str(refused.value)
    assert "async_insert_deduplicate=1" in message
    [views] = store.query(
        "SELECT dependencies_table AS v FROM system.tables WHERE database = currentDatabase() AND name = 'llm_attempts'"
    ).column("v")
    assert len(views) >= 2  # the roll-ups and the chain copy read llm_attempts
    for view in views:
        assert str(view) in message


def test_async_insert_deduplication_without_views_is_not_a_problem() -> None:
    on = {"async_insert": "1", "wait_for_async_insert": "1", "async_insert_deduplicate": "1"}
    assert unsafe_insert_settings(on, []) == []
    assert [name for name, _ in unsafe_insert_settings(on, ["llm_rollup_hour_mv"])] == ["async_insert_deduplicate"]
    assert unsafe_insert_settings({**on, "async_insert": "0"}, ["llm_rollup_hour_mv"]) == []


def test_disabled_deduplication_is_refused_and_would_really_count_a_retry_twice(store: ChdbAttemptStore) -> None:
    """The refusal is not caution for its own sake: under this session a retried batch is stored twice."""
    store.execute("SET deduplicate_insert = 'disable'")
    with pytest.raises(RouteledgerError, match="deduplicate_insert='disable'"):
        refuse_unsafe_insert_settings(store)
    batch = rows_to_arrow([row(0), row(1)])
    store.insert_attempts(batch, "retried")
    store.insert_attempts(batch, "retried")  # the writer's retry after an ambiguous failure
    assert stored_rows(store) == 4
    store.execute("SET deduplicate_insert = 'enable'")
    refuse_unsafe_insert_settings(store)
    store.insert_attempts(batch, "again")
    store.insert_attempts(batch, "again")
    assert stored_rows(store) == 6


def test_insert_deduplicate_off_is_refused_where_it_decides() -> None:
    off = {"async_insert": "0", "insert_deduplicate": "0"}
    assert [name for name, _ in unsafe_insert_settings(off, [])] == ["insert_deduplicate"]  # before 26.1
    legacy = {**off, "deduplicate_insert": "backward_compatible_choice"}
    assert [name for name, _ in unsafe_insert_settings(legacy, [])] == ["insert_deduplicate"]
    assert unsafe_insert_settings({**off, "deduplicate_insert": "enable"}, []) == []  # 26.1+: superseded


def stored_rows(store: ChdbAttemptStore) -> int:
    return int(store.query("SELECT count() AS n FROM llm_attempts").column("n")[0].as_py())
