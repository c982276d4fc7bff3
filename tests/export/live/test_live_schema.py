"""The live view's schema: what gatewatch serves fits it, every field of it is documented, and a
reader of untrusted JSON gets a ValueError naming the field, never a crash deep inside."""

from __future__ import annotations

import copy
import json
import random
import re
import types
import typing
from typing import Any

import pytest

from gatewatch import Monitor
from gatewatch.export.live import schema
from gatewatch.export.live.endpoint import live_body
from gatewatch.export.live.schema import SCHEMA, parse_live_view, parse_process_snapshot
from gatewatch.export.live.state import LiveState
from tests.support.traffic import ROOT

pytestmark = pytest.mark.usefixtures("no_snapshot_dir")

DOC = ROOT / "docs" / "live-schema.md"
TYPES: dict[str, Any] = {name: kind for name, kind in vars(schema).items() if typing.is_typeddict(kind)}


# --- the documentation -----------------------------------------------------------------------


def documented() -> dict[str, dict[str, str]]:
    """Type name -> {key: the type column} from the tables of docs/live-schema.md."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in DOC.read_text().splitlines():
        if line.startswith("## "):
            heading = re.fullmatch(r"## `(\w+)`", line)
            current = sections.setdefault(heading[1], {}) if heading else None
        elif current is not None and (row := re.fullmatch(r"\| `(\w+)` \| (.+?) \| (.+) \|", line)):
            assert row[3].strip(), f"{row[1]} has no meaning written"
            current[row[1]] = row[2]
    return sections


def doc_type(hint: Any) -> str:
    """How docs/live-schema.md spells a field's type."""
    if typing.is_typeddict(hint):
        return f"[`{hint.__name__}`](#{hint.__name__.lower()})"
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return doc_type(type(args[0]))
    if origin is types.UnionType:
        [kind] = [arg for arg in args if arg is not type(None)]
        return f"{doc_type(kind)} or null"
    if origin is list:
        return f"array of {doc_type(args[0])}"
    if origin is dict:
        return f"object: string → {doc_type(args[1])}"
    return {int: "integer", float: "number", str: "string", bool: "boolean"}[hint]


def test_every_field_is_documented_with_its_type() -> None:
    sections = documented()
    assert set(sections) == set(TYPES)
    for name, kind in TYPES.items():
        hints = typing.get_type_hints(kind)
        assert list(sections[name]) == list(hints), f"docs/live-schema.md, {name}: keys differ"
        for key, hint in hints.items():
            assert sections[name][key] == doc_type(hint), f"{name}.{key}"


def test_the_document_names_the_current_schema() -> None:
    text = DOC.read_text()
    assert text.startswith(f"# The live view's JSON (schema {SCHEMA})")
    assert f"The schema version, `{SCHEMA}`." in text


# --- the producer ----------------------------------------------------------------------------


def busy_state() -> tuple[Monitor, LiveState]:
    """A live state with something in every list of the schema, and its monitor (which the
    state holds weakly: its part of the view goes with it)."""
    monitor = Monitor()
    state = LiveState(monitor)
    monitor.add_sink(state)
    monitor.start("asgi", "GET", "/waiting")
    finished = monitor.start("wsgi", "POST", "/done")
    finished.route = "/done"
    finished.status = 201
    finished.exception = ValueError("boom")
    finished.response_ended()
    monitor.finish(finished, finished.start + 1.0)
    session = monitor.start_session("/ws")
    session.route = "/ws"
    session.outcome = "accepted"
    session.accepted_at = session.start
    monitor.session_accepted(session)
    closed = monitor.start_session("/ws")
    closed.outcome = "rejected"
    closed.close_by("server", 1008)
    monitor.finish_session(closed)
    monitor.note_server("asgi", "uvicorn")
    monitor.loop_lag(0.002)
    state.loop_block("/blocked", 0.2, ["frame"])
    return monitor, state


def test_what_gatewatch_serves_parses() -> None:
    _monitor, state = busy_state()
    body = live_body(state)
    view = parse_live_view(body)
    assert view == json.loads(body)
    [process] = view["processes"]
    for key in ("in_flight", "recent", "per_second", "loop_lag", "loop_blocks", "in_flight_counts"):
        assert process[key], key
    assert process["websockets"]["open"] and process["websockets"]["recent"]
    assert process["recent"][0]["after_response"] == pytest.approx(1.0, abs=0.1)
    [closed] = process["websockets"]["recent"]
    assert closed["closed_at"] is not None and closed["close_code"] == 1008
    assert process["websockets"]["open"][0]["closed_at"] is None
    assert parse_process_snapshot(json.dumps(process)) == process


# --- untrusted JSON --------------------------------------------------------------------------


def valid_view() -> dict[str, Any]:
    _monitor, state = busy_state()
    view: dict[str, Any] = json.loads(live_body(state))
    return view


def broken(change: Any) -> dict[str, Any]:
    view = valid_view()
    change(view)
    return view


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{not json", r"^not a gatewatch live view: not JSON"),
        ("[" * 100_000, r"^not a gatewatch live view: not JSON"),
        (b"\xff\xfe", r"^not a gatewatch live view: not JSON"),
        ([], r"^not a gatewatch live view: the document: expected an object \(LiveView\), got list$"),
        (None, r"expected an object \(LiveView\), got null"),
        ({}, r"the document: missing key 'schema' \(LiveView\)$"),
        ({"schema": 2, "time": 1, "processes": []}, r"schema 2; this reader understands schema 1"),
        (
            {"schema": "1", "time": 1, "processes": []},
            r"^not a gatewatch live view: schema: expected 1, got str$",
        ),
        ({"schema": True, "time": 1, "processes": []}, r"schema: expected 1, got bool$"),
        ({"schema": 1.0, "time": 1, "processes": []}, r"schema: expected 1, got float$"),
        ({"schema": 1, "time": "now", "processes": []}, r"time: expected a number, got str$"),
        ({"schema": 1, "time": 1, "processes": {}}, r"processes: expected an array, got dict$"),
        (
            broken(lambda v: v["processes"][0]["in_flight"][0].update(age="old")),
            r"processes\[0\]\.in_flight\[0\]\.age: expected a number, got str$",
        ),
        (
            broken(lambda v: v["processes"][0]["in_flight"][0].pop("route")),
            r"processes\[0\]\.in_flight\[0\]: missing key 'route' \(InFlightRequest\)$",
        ),
        (
            broken(lambda v: v["processes"][0]["in_flight"][0].update(route=7)),
            r"in_flight\[0\]\.route: expected a string or null, got int$",
        ),
        (
            broken(lambda v: v["processes"][0].update(pid=1.5)),
            r"processes\[0\]\.pid: expected an integer, got float$",
        ),
        (
            broken(lambda v: v["processes"][0].update(in_flight_unlisted=True)),
            r"in_flight_unlisted: expected an integer, got bool$",
        ),
        (broken(lambda v: v["processes"][0].update(schema=2)), r"processes\[0\]\.schema: expected 1, got 2$"),
        (
            broken(lambda v: v["processes"][0]["servers"].update(asgi=None)),
            r'processes\[0\]\.servers\["asgi"\]: expected a string, got null$',
        ),
        (
            broken(lambda v: v["processes"][0]["recent"][0].update(disconnected=0)),
            r"recent\[0\]\.disconnected: expected true or false, got int$",
        ),
        (
            broken(lambda v: v["processes"][0]["loop_blocks"][0]["stack"].append(None)),
            r"loop_blocks\[0\]\.stack\[1\]: expected a string, got null$",
        ),
        (
            broken(lambda v: v["processes"][0]["websockets"]["recent"][0]["sent"].pop("bytes")),
            r"websockets\.recent\[0\]\.sent: missing key 'bytes' \(MessageCounts\)$",
        ),
    ],
)
def test_bad_json_is_a_value_error_naming_the_field(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_live_view(data)


def test_unknown_keys_are_kept() -> None:
    view = valid_view()
    view["future"] = {"anything": [1]}
    view["processes"][0]["in_flight"][0]["waiting_on"] = "db"
    assert parse_live_view(view)["processes"][0]["in_flight"][0]["waiting_on"] == "db"  # type: ignore[typeddict-item]


JUNK: list[object] = [None, True, 0, -1, 1.5, "", "x", [], [None], {}, {"a": None}, 10**30]


def paths(value: object, at: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    found = [at]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*at, index))
    return found


def test_any_damage_is_a_value_error_or_still_valid() -> None:
    """Random damage anywhere in a real view: deleted keys, values of every wrong kind."""
    rng = random.Random(18)
    original = valid_view()
    every_path = paths(original)[1:]
    refused = 0
    for _ in range(3000):
        view = copy.deepcopy(original)
        for _ in range(rng.randint(1, 3)):
            path = rng.choice(every_path)
            parent: Any = view
            try:
                for step in path[:-1]:
                    parent = parent[step]
                if rng.random() < 0.3 and isinstance(parent, dict):
                    del parent[path[-1]]
                else:
                    parent[path[-1]] = copy.deepcopy(rng.choice(JUNK))
            except (KeyError, IndexError, TypeError):
                continue  # an earlier change removed or replaced this path
        try:
            parse_live_view(view)
        except ValueError as exc:
            refused += 1
            assert str(exc).startswith(("not a gatewatch live view: ", "gatewatch live view of schema"))
    # Almost every change breaks the schema (an empty list or an int for a number does not).
    assert refused > 2500
