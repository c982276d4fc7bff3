"""A URLconf whose route templates look like markup: an ordinary Django ``re_path`` (its
character class ``[a-z-]`` reads as a markup tag) and a few hostile ones, for the tests that
every string from the app is shown as data (tests/test_untrusted_text.py)."""

from __future__ import annotations

import time

from django.http import HttpRequest, HttpResponse
from django.urls import include, path, re_path


def item(request: HttpRequest, *args: str, **kwargs: str) -> HttpResponse:
    return HttpResponse("item\n")


async def blocking(request: HttpRequest, **kwargs: str) -> HttpResponse:
    time.sleep(0.08)  # holds the event loop: gatewatch logs the block with its route and stack
    return HttpResponse("blocked\n")


# Seen in issue 26: Django's template of an re_path route is its regular expression. This one
# lost "[a-z-]" (read as a style tag), the next one crashed `gatewatch top` ("[/...]" read as a
# closing tag that closes nothing: MarkupError). Their groups are unnamed, so the label keeps
# them as written (a named group would read "<slug>": gatewatch.integrations.django._patterns).
ITEM_PATTERN = r"^items/([a-z-]+)/$"
FILE_PATTERN = r"^files/([/\w.-]+)$"
ITEM_LABEL = r"/items/([a-z-]+)/"
FILE_LABEL = r"/files/([/\w.-]+)"
# Route templates that would act on a terminal or forge a log line if written raw (a path
# reaches them percent-encoded: /clear%1B%5B2J/).
CLEAR_PATTERN = "^clear\x1b\\[2J/$"
FORGED_PATTERN = "^forged\r\nCRITICAL gatewatch: forged/$"

urlpatterns = [
    re_path(ITEM_PATTERN, item),
    re_path(FILE_PATTERN, item),
    re_path(CLEAR_PATTERN, blocking),
    re_path(FORGED_PATTERN, blocking),
    path("", include("gatewatch.integrations.django.urls")),
]
