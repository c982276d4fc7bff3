"""mypyc's class hints, without making mypy a dependency of the installed package.

mypyc reads ``@mypyc_attr(...)`` when it compiles a module (it resolves the name to
``mypy_extensions.mypyc_attr`` through the ``TYPE_CHECKING`` import below); at run time, in the
pure build and in the compiled one alike, the decorator is this module's no-op, so neither
build imports mypy_extensions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

_T = TypeVar("_T")

if TYPE_CHECKING:
    from mypy_extensions import mypyc_attr as mypyc_attr
else:

    def mypyc_attr(*attrs: str, **kwattrs: Any) -> Callable[[_T], _T]:
        def unchanged(cls: _T) -> _T:
            return cls

        return unchanged
