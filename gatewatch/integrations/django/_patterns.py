"""Django's URL patterns as route labels: ``path()`` routes as they are, ``re_path()`` regexes
made readable.

A ``re_path`` regex is the template Django declares, so it is the label, with two changes that
keep it short and in the style of ``path()``: the anchors go (``^`` and a final ``$`` or
``\\Z``) and each named group becomes its name in angle brackets
(``^articles/(?P<year>[0-9]{4})/$`` is ``/articles/<year>/``). Unnamed groups and the rest of
the regex stay as written: still a template, never what a client sent. A regex longer than
labels may be is counted under ``<other>`` (:mod:`gatewatch._labels`).
"""

from __future__ import annotations

# Django's joined routes of one URLconf: bounded by the URLconf, and by this by construction.
_MAX_ROUTES = 10_000
_labels: dict[str, str] = {}


def route_label(route: str) -> str:
    """``route`` (Django's ``ResolverMatch.route``, or Channels' joined patterns) as a label,
    with a leading ``/`` so that it reads like the paths it matches."""
    label = _labels.get(route)
    if label is None:
        label = "/" + readable(route)
        if len(_labels) < _MAX_ROUTES:
            _labels[route] = label
    return label


def join(prefix: str, pattern: str) -> str:
    """Two patterns of nested routers, joined as Django joins an ``include()``'s: the second
    one's ``^`` is dropped."""
    return prefix + pattern.removeprefix("^") if prefix else pattern


def readable(pattern: str) -> str:
    if "(?P<" not in pattern and not pattern.startswith("^") and not pattern.endswith(("$", "\\Z")):
        return pattern  # a path() route
    pattern = pattern.removeprefix("^")
    if pattern.endswith("\\Z") and not pattern.endswith("\\\\Z"):
        pattern = pattern[:-2]
    elif pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1]
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            out.append(pattern[index : index + 2])
            index += 2
        elif pattern.startswith("(?P<", index):
            close = pattern.find(">", index)
            end = _group_end(pattern, index)
            if close < 0 or end < 0:
                out.append(pattern[index:])
                break
            out.append("<" + pattern[index + 4 : close] + ">")
            index = end + 1
        else:
            out.append(char)
            index += 1
    return "".join(out)


def _group_end(pattern: str, start: int) -> int:
    """The index of the ``)`` closing the group opened at ``start``; -1 if it is not closed."""
    depth = 0
    in_class = False
    index = start
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            # "[]...]" and "[^]...]": a "]" first in a class is a literal.
            if pattern.startswith("]", index + 1):
                index += 1
            elif pattern.startswith("^]", index + 1):
                index += 2
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    return -1
