"""Layout with WeasyPrint, fetching nothing. A module of its own so that WeasyPrint (about two seconds of
imports) is loaded by the processes that draw a document, on the first one they draw, and not by every
process that starts the project (`render.render` imports it when called)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import weasyprint
from weasyprint.urls import URLFetcher, URLFetcherResponse

STYLESHEET = Path(__file__).resolve().parent / "templates" / "documents" / "document.css"


class RemoteFetchRefused(ValueError):
    """A document tried to load a resource by URL; documents are drawn from what they are given only."""


class OfflineFetcher(URLFetcher):  # type: ignore[misc]  # WeasyPrint ships no types
    """WeasyPrint's fetcher for documents: `data:` URLs only; every other URL (http, https, file, ftp) is
    refused and noted in `refused`, so a document never reaches the network or reads a local file."""

    def __init__(self) -> None:
        super().__init__(allowed_protocols=("data",), allow_redirects=False)
        self.refused: list[str] = []

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        if not url.lower().startswith("data:"):
            self.refused.append(url)
            raise RemoteFetchRefused(f"Documents load nothing by URL: {url}")
        return super().fetch(url, headers)


def html_to_document(html: str, *, stylesheets: Sequence[str] = (), fetcher: OfflineFetcher | None = None) -> Any:
    """Lay out `html` with the documents' stylesheet and `stylesheets`, fetching nothing (see `OfflineFetcher`)."""
    fetcher = fetcher or OfflineFetcher()
    css = [weasyprint.CSS(string=STYLESHEET.read_text(encoding="utf-8"), url_fetcher=fetcher)]
    css += [weasyprint.CSS(string=sheet, url_fetcher=fetcher) for sheet in stylesheets]
    return weasyprint.HTML(string=html, url_fetcher=fetcher).render(stylesheets=css)
