"""MkDocs hooks: the metrics and options references, rendered from the code at build time.

A page holding a marker gets the reference in its place (``gatewatch.catalogue_docs``); a
marker left over, or a reference with no page, fails the build, so nothing generated is ever
committed or missing.
"""

from __future__ import annotations

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

from gatewatch.catalogue_docs import METRICS_MARKER, OPTIONS_MARKER, metrics_reference_markdown
from gatewatch.options_docs import options_table_markdown

RENDERERS = {METRICS_MARKER: metrics_reference_markdown, OPTIONS_MARKER: options_table_markdown}
_rendered: set[str] = set()


def on_pre_build(config: MkDocsConfig) -> None:
    _rendered.clear()


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    for marker, render in RENDERERS.items():
        if marker in markdown:
            if marker in _rendered:
                raise PluginError(f"{page.file.src_uri}: {marker} is on another page already")
            markdown = markdown.replace(marker, render())
            _rendered.add(marker)
    return markdown


def on_post_build(config: MkDocsConfig) -> None:
    missing = set(RENDERERS) - _rendered
    if missing:
        raise PluginError(f"no page holds {', '.join(sorted(missing))}")
