"""How an option is declared: the metadata its ``Options`` field carries, and what derives from it.

An option is one field of :class:`gatewatch.options.Options`, declared with :func:`option`:
its name and type are the field's, and the field's metadata holds the rest (its doc line,
whether the environment may set it, its check). From that one declaration come the
``GATEWATCH_<NAME>`` variable and how its text is parsed (from the field's type), the Django
key (``<NAME>``), the runtime type check, the error messages and the reference table.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

T = TypeVar("T")

_METADATA_KEY: Final = "gatewatch"
ENVIRONMENT_PREFIX: Final = "GATEWATCH_"
_NONE = type(None)
_OFF = frozenset({"", "none", "off"})
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_WORDS: Final[dict[type, str]] = {
    int: "an int",
    str: "a str",
    bool: "a bool",
    float: "a number",
    _NONE: "None",
}


class OptionError(ValueError):
    """A bad option value, found when the middleware is built; the message is one line naming
    the option (or the variable, or the setting, it came from) and the value."""


class OptionTypeError(OptionError, TypeError):
    """A value of the wrong type: a :class:`ValueError` as every bad option is, and a
    ``TypeError`` as Python's own checks raise for one."""


@dataclass(frozen=True)
class OptionSpec:
    """What an option's field carries besides its name, type and default."""

    doc: str
    # GATEWATCH_<NAME> may set it (False: code only, such as a registry or a provider).
    environment: bool = True
    # The accepted values in words, for messages (None: said from the field's type).
    expects: str | None = None
    # Raises ValueError (or TypeError) naming the option (its first argument) and the value.
    check: Callable[[str, Any], None] | None = None
    # Turns what a user passes (a list, a dict) into what the frozen dataclass holds.
    convert: Callable[[Any], Any] | None = None
    # The default in words, when its value alone would mislead (None: the value).
    default_doc: str | None = None
    # Never repeat the value in a message (a token ends up in logs).
    secret: bool = False


def option(
    default: T,
    *,
    doc: str,
    environment: bool = True,
    expects: str | None = None,
    check: Callable[[str, T], None] | None = None,
    convert: Callable[[Any], Any] | None = None,
    default_doc: str | None = None,
    secret: bool = False,
) -> T:
    """An ``Options`` field declaring one option (its type is the annotation beside it)."""
    spec = OptionSpec(doc, environment, expects, check, convert, default_doc, secret)
    return dataclasses.field(default=default, metadata={_METADATA_KEY: spec})


@dataclass(frozen=True)
class Declared:
    """One option as declared: its field's name, type and default with the field's spec."""

    name: str
    spec: OptionSpec
    default: Any
    # The classes a value may be an instance of, from the field's type.
    types: tuple[type, ...]

    @property
    def environment_variable(self) -> str | None:
        return ENVIRONMENT_PREFIX + self.name.upper() if self.spec.environment else None

    @property
    def django_key(self) -> str:
        return self.name.upper()

    @property
    def expects(self) -> str:
        if self.spec.expects is not None:
            return self.spec.expects
        # A float option takes an int too: that int is no separate choice.
        shown = [t for t in self.types if not (t is int and float in self.types)]
        return " or ".join(_WORDS.get(t, f"a {t.__name__}") for t in shown)

    def normalise(self, value: Any) -> Any:
        return value if self.spec.convert is None else self.spec.convert(value)

    def validate(self, value: Any) -> None:
        """:class:`OptionError` naming the option and ``value`` when it is not one it takes."""
        if not _is_instance(value, self.types):
            shown = type(value).__name__ if self.spec.secret else f"{_short(value)} ({type(value).__name__})"
            raise OptionTypeError(f"{self.name} must be {self.expects}, got {shown}")
        if self.spec.check is not None:
            try:
                self.spec.check(self.name, value)
            except OptionError:
                raise
            except TypeError as exc:
                raise OptionTypeError(str(exc)) from None
            except ValueError as exc:
                raise OptionError(str(exc)) from None

    def parse(self, text: str) -> Any:
        """The value a ``GATEWATCH_*`` variable's ``text`` sets, read as the field's type says."""
        lowered = text.lower()
        if bool in self.types:
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError("must be true or false")
        if _NONE in self.types and lowered in _OFF:
            return None
        if float in self.types:
            try:
                return float(text)
            except ValueError:
                raise ValueError("must be a number of seconds, or off") from None
        if int in self.types:
            try:
                return int(text)
            except ValueError:
                raise ValueError("must be a whole number") from None
        if tuple in self.types or frozenset in self.types:
            parts = [part.strip() for part in text.split(",") if part.strip()]
            return tuple(parts) if tuple in self.types else frozenset(parts)
        return text


def declared(options_class: type) -> tuple[Declared, ...]:
    """Every option of ``options_class`` (a dataclass of :func:`option` fields), in field order."""
    hints = typing.get_type_hints(options_class)
    found = []
    for field in dataclasses.fields(options_class):
        spec = field.metadata.get(_METADATA_KEY)
        if not isinstance(spec, OptionSpec):
            raise TypeError(f"{options_class.__name__}.{field.name} is not declared with option()")
        found.append(Declared(field.name, spec, field.default, _runtime_types(hints[field.name])))
    return tuple(found)


def _runtime_types(hint: Any) -> tuple[type, ...]:
    if hint is Any:
        return (object,)
    members = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    found: list[type] = []
    for member in members:
        if typing.get_origin(member) is typing.Literal:
            # The values' types; the check names the values allowed.
            found += {type(value) for value in typing.get_args(member)}
            continue
        found.append(typing.get_origin(member) or member)
        # As a type checker does, a float option takes an int.
        if member is float:
            found.append(int)
    return tuple(found)


def _is_instance(value: object, expected: tuple[type, ...]) -> bool:
    # bool is an int, but True is no route cap and no number of seconds.
    if isinstance(value, bool) and bool not in expected:
        return False
    if not isinstance(value, expected):
        return False
    # NaN or infinity is no number of seconds.
    return not (isinstance(value, float) and not math.isfinite(value))


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."
