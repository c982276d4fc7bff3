"""``gatewatch.set_route``: the one way an application names its route template by hand.

It stays out of the compiled modules (setup.py's ``COMPILED_MODULES``) on purpose: compiled,
mypyc checks the ``str`` annotation itself at the call and raises its own "str object expected;
got int", before the clear message below could say which call was wrong and why.
"""

from __future__ import annotations

from gatewatch.record import current_record


def set_route(template: str) -> None:
    """Name the route template of the request being served, from any framework integration.

    Call it from inside the application (a view, a hook, an inner middleware) with the
    template, never the raw path: ``set_route("/items/{id}")``. Outside a request, or
    under an application not wrapped by gatewatch, it does nothing.
    """
    if not isinstance(template, str):
        raise TypeError(f"set_route() takes the route template as a str, got {type(template).__name__}")
    record = current_record.get()
    if record is not None:
        record.route = template
