"""How :mod:`gatewatch.export.live.schema`'s reader checks untrusted JSON against its types: one
checking function per type, built once from its annotations, naming the first field that does not
fit. Standard library only, as the schema module."""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable
from typing import Any, NotRequired, cast


class _Invalid(Exception):
    """A value that does not fit; ``where`` is filled in on the way out, innermost last."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.where: list[str] = []


Check = Callable[[object], None]


def checked(kind: type, data: object, name: str, schema_number: int) -> object:
    """``data`` (JSON text, or decoded) checked against the TypedDict ``kind``; raises
    ``ValueError`` naming the first field that does not fit, or a schema other than
    ``schema_number``."""
    if isinstance(data, bytes | bytearray | str):
        try:
            data = json.loads(data)
        except (ValueError, RecursionError) as exc:
            # RecursionError: deeply nested arrays, which json.loads does not bound.
            raise ValueError(f"not a gatewatch {name}: not JSON ({exc})") from None
    if isinstance(data, dict):
        schema = data.get("schema")
        if schema != schema_number and isinstance(schema, int) and not isinstance(schema, bool):
            raise ValueError(
                f"gatewatch {name} of schema {schema}; this reader understands schema {schema_number} "
                "(use the same gatewatch version on both sides)"
            )
    try:
        _checker(kind)(data)
    except _Invalid as invalid:
        where = "".join(reversed(invalid.where)).lstrip(".") or "the document"
        raise ValueError(f"not a gatewatch {name}: {where}: {invalid.message}") from None
    return data


def _describe(value: object) -> str:
    return "null" if value is None else type(value).__name__


# Scalar types by the exact Python types json.loads gives them, so that a field is checked
# with one set lookup, not a call: a view can hold tens of thousands of fields, and the worker
# merging other workers' files does it on its event loop. A number may be written as an
# integer (JSON does not tell 1 from 1.0); true and false are not integers here.
_SCALARS: dict[object, tuple[frozenset[type], str]] = {
    int: (frozenset({int}), "an integer"),
    float: (frozenset({int, float}), "a number"),
    str: (frozenset({str}), "a string"),
    bool: (frozenset({bool}), "true or false"),
    type(None): (frozenset({type(None)}), "null"),
}


def _scalar(kind: object) -> tuple[frozenset[type], str] | None:
    """The exact types of a scalar or optional scalar type and how to name them; else None."""
    found = _SCALARS.get(kind)
    if found is not None:
        return found
    if typing.get_origin(kind) in (types.UnionType, typing.Union):
        parts = [_scalar(option) for option in typing.get_args(kind)]
        if all(part is not None for part in parts):
            known = cast(list[tuple[frozenset[type], str]], parts)
            return frozenset().union(*(allowed for allowed, _ in known)), " or ".join(n for _, n in known)
    return None


_checkers: dict[object, Check] = {}


def _checker(kind: object) -> Check:
    """A function checking a decoded JSON value against the type ``kind``, built once per type."""
    check = _checkers.get(kind)
    if check is None:
        check = _checkers[kind] = _build(kind)
    return check


def _build(kind: object) -> Check:
    scalar = _scalar(kind)
    if scalar is not None:
        return _scalar_check(*scalar)
    if typing.is_typeddict(kind):
        return _typed_dict(cast(type, kind))
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is typing.Literal:
        return _literal(args)
    if origin is list:
        return _list(args[0])
    if origin is dict and args[0] is str:
        return _dict(_checker(args[1]))
    if origin in (types.UnionType, typing.Union) and type(None) in args and len(args) == 2:
        [inner] = [arg for arg in args if arg is not type(None)]
        return _optional(_checker(inner))
    raise TypeError(f"the live schema uses a type its reader cannot check: {kind!r}")


def _scalar_check(allowed: frozenset[type], expected: str) -> Check:
    def check(value: object) -> None:
        if type(value) not in allowed:
            raise _Invalid(f"expected {expected}, got {_describe(value)}")

    return check


def _typed_dict(kind: type) -> Check:
    # Built on first use, when every type the annotations name exists.
    hints: dict[str, Any] = typing.get_type_hints(kind, include_extras=True)
    # NotRequired keys: fields added without a schema bump, absent from an older producer's
    # view. Read from the hints: under postponed annotations __optional_keys__ misses them.
    optional = frozenset(key for key, hint in hints.items() if typing.get_origin(hint) is NotRequired)
    hints = {key: typing.get_args(hint)[0] if key in optional else hint for key, hint in hints.items()}
    # (key, exact types of a scalar field or None, the check of any other field, a scalar's name)
    fields: list[tuple[str, frozenset[type] | None, Check | None, str]] = []
    for key, hint in hints.items():
        scalar = _scalar(hint)
        if scalar is not None:
            fields.append((key, scalar[0], None, scalar[1]))
        else:
            fields.append((key, None, _checker(hint), ""))
    name = kind.__name__

    def check(value: object) -> None:
        if not isinstance(value, dict):
            raise _Invalid(f"expected an object ({name}), got {_describe(value)}")
        for key, allowed, nested, expected in fields:
            try:
                field = value[key]
            except KeyError:
                if key in optional:
                    continue
                raise _Invalid(f"missing key {key!r} ({name})") from None
            if allowed is not None:
                if type(field) not in allowed:
                    invalid = _Invalid(f"expected {expected}, got {_describe(field)}")
                    invalid.where.append(f".{key}")
                    raise invalid
            elif nested is not None:
                try:
                    nested(field)
                except _Invalid as invalid:
                    invalid.where.append(f".{key}")
                    raise

    return check


def _optional(inner: Check) -> Check:
    def check(value: object) -> None:
        if value is not None:
            inner(value)

    return check


def _literal(values: tuple[Any, ...]) -> Check:
    def check(value: object) -> None:
        # 1 == 1.0 == True in Python; JSON's 1.0 and true are not schema 1.
        if not any(type(value) is type(wanted) and value == wanted for wanted in values):
            got = json.dumps(value) if type(value) is int else _describe(value)
            raise _Invalid(f"expected {' or '.join(json.dumps(v) for v in values)}, got {got}")

    return check


def _list(kind: object) -> Check:
    item = _checker(kind)

    def check(value: object) -> None:
        if not isinstance(value, list):
            raise _Invalid(f"expected an array, got {_describe(value)}")
        for index, entry in enumerate(value):
            try:
                item(entry)
            except _Invalid as invalid:
                invalid.where.append(f"[{index}]")
                raise

    return check


def _dict(item: Check) -> Check:
    def check(value: object) -> None:
        if not isinstance(value, dict):
            raise _Invalid(f"expected an object, got {_describe(value)}")
        for key, entry in value.items():
            try:
                item(entry)
            except _Invalid as invalid:
                invalid.where.append(f"[{json.dumps(key)}]")
                raise

    return check
