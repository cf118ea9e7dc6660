"""The environment's outside world: sites, their languages, search results, fetched documents,
and the hidden regularities that past runs reveal.

Everything here is a pure function of its arguments (no randomness): the same query always
finds the same pages, so expert plans and replays can name them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

SITES: dict[str, tuple[str, ...]] = {
    "news": ("www.reuters.com", "www.ft.com", "techcrunch.com", "www.bloomberg.com"),
    "reference": ("en.wikipedia.org", "ourworldindata.org", "www.iea.org", "www.oecd.org"),
    "papers": ("arxiv.org", "www.nature.com", "papers.ssrn.com", "scholar.archive.org"),
}
SITE_LANGUAGE: dict[str, str] = {
    "www.heise.de": "German",
    "www.lemonde.fr": "French",
    "www.nikkei.com": "Japanese",
    "www.chosun.com": "Korean",
    "elpais.com": "Spanish",
    "www.publico.pt": "Portuguese",
    "www.caixin.com": "Chinese",
    "www.corriere.it": "Italian",
    "www.nrc.nl": "Dutch",
    "www.gazeta.pl": "Polish",
}
LANGUAGE_SITE = {lang: site for site, lang in SITE_LANGUAGE.items()}
ENGLISH = "English"

# Hidden regularities. They hold for every task; which families meet them follows from the
# sites and languages those families use (news searches meet the blocked and flaky sites,
# multilingual briefs meet the long-document languages).
BLOCKED_SITES = frozenset({"www.bloomberg.com", "papers.ssrn.com", "www.caixin.com"})
"""Refuse every live fetch with HTTP 403: only an archive fetcher gets the page."""
FLAKY_SITES = frozenset({"www.ft.com", "www.nature.com", "www.lemonde.fr"})
"""Refuse the first fetch of an episode with a transient HTTP 403; a retry gets the page."""
LONG_DOCUMENT_LANGUAGES = frozenset({"Japanese", "Chinese", "Korean"})
"""Documents long enough that a translator without the `chunking` capability times out."""

_NON_SLUG = re.compile(r"[^a-z0-9]+")
_URL_RE = re.compile(r"^https://([a-z0-9.-]+)/([a-z0-9-]+?)(?:-(\d{3,5}))?$")


def slug(text: str) -> str:
    return _NON_SLUG.sub("-", text.lower()).strip("-")


def _pick(key: str, n: int) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % n


@dataclass(frozen=True)
class Page:
    url: str
    site: str
    topic_slug: str
    language: str


def search(query: str, site_kind: str = "news", language: str | None = None) -> list[str]:
    """Three result URLs for a query: pages about the query's slug on sites of the wanted kind
    (or the site of the wanted language)."""
    s = slug(query)
    if language and language != ENGLISH:
        site = LANGUAGE_SITE.get(language)
        sites = (site,) if site else ()
    else:
        pool = SITES.get(site_kind, SITES["news"])
        start = _pick(f"{s}|{site_kind}", len(pool))
        sites = tuple(pool[(start + i) % len(pool)] for i in range(3))
    return [
        f"https://{site}/{s}-{1000 + _pick(f'{s}|{site}|{i}', 9000)}"
        for i, site in enumerate(sites)
    ]


def parse_url(url: str) -> Page | None:
    m = _URL_RE.match(url)
    if not m:
        return None
    site, page_slug = m.group(1), m.group(2)
    return Page(url, site, page_slug, SITE_LANGUAGE.get(site, ENGLISH))


def fetch_refusal(site: str, live: bool, first_visit: bool) -> str | None:
    """Why a fetch of `site` fails regardless of chance: None when it does not."""
    if live and site in BLOCKED_SITES:
        return "blocked"
    if live and first_visit and site in FLAKY_SITES:
        return "flaky"
    return None


def translation_needs_chunking(language: str) -> bool:
    return language in LONG_DOCUMENT_LANGUAGES
