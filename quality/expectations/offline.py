"""Make the rendered GX Data Docs site work offline (离线可用): no request leaves the page.

GX's page templates load Bootstrap, jQuery, Popper, Font Awesome, bootstrap-table, a date picker,
Vega and a dark theme from CDNs, and its logo from an S3 bucket (with the data context's id in the
query string). Without the internet the index then lists nothing (bootstrap-table never loads).
:func:`make_site_offline` runs after GX has rendered the site (:mod:`citylake.quality.expectations.docs`):

- the libraries that a pinned PyPI package ships (the XStatic wheels) are copied into
  ``static/vendor/`` of the site and the links rewritten to relative paths (:data:`VENDORED`);
- bootstrap-table is on no package index: its one use, the index's two tables, is served by
  ``citylake-table.js`` (this package's ``static/``), which implements the calls GX makes;
- assets a page can do without are removed, each for a stated reason (:data:`DROPPED`); one whose
  feature the page does use (a Vega chart) is not removed but reported;
- anything external that is left raises :class:`OfflineAssetError` naming the page and the URL.

Rules are data: a new GX release that adds a CDN link fails the build until it is listed here.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

log = logging.getLogger(__name__)

VENDOR = "static/vendor"
OWN_STATIC = Path(__file__).parent / "static"


@dataclass(frozen=True)
class Vendored:
    """A URL (prefix) served from a file of an XStatic package (``module``: ``xstatic.pkg.<name>``)
    or of this package's ``static/`` (``module`` None); ``tree``: folders copied along (fonts)."""

    module: str | None
    file: str
    tree: tuple[str, ...] = ()


# GX 1.24's templates (render/view/templates/page.j2, index_page.j2, js_script_imports.j2) → local files.
# Bootstrap 4.5.3 and Font Awesome 6.2.1 are the XStatic releases nearest the 4.3.1 and 6.6.0 GX asks
# for (same major line, same class names); jQuery is the same 3.7.1.
VENDORED: dict[str, Vendored] = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css":
        Vendored("xstatic.pkg.bootstrap", "css/bootstrap.min.css"),
    # The bundle carries Popper 1.x, which Bootstrap 4's dropdowns and tooltips need (see DROPPED).
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js":
        Vendored("xstatic.pkg.bootstrap", "js/bootstrap.bundle.min.js"),
    "https://code.jquery.com/jquery-3.7.1.min.js": Vendored("xstatic.pkg.jquery", "jquery.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css":
        Vendored("xstatic.pkg.font_awesome", "css/all.min.css", tree=("webfonts",)),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": Vendored(None, "citylake-table.js"),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": Vendored(None, "citylake-table.css"),
}

# Site files GX itself copies into static/: its logo, which the pages fetch from S3 instead.
SITE_FILES: dict[str, str] = {
    "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png": "static/images/logo-long.png",
    "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/full_logo_dark.png":
        "static/images/logo-long.png",
}


@dataclass(frozen=True)
class Dropped:
    """An asset removed from the pages; ``used_by``: text in a page that shows it needs the asset
    after all (then the build fails instead)."""

    reason: str
    used_by: str | None = None


DROPPED: dict[str, Dropped] = {
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js":
        Dropped("Popper is inside Bootstrap's bundle (static/vendor/bootstrap)"),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        Dropped("the column filters of bootstrap-table: citylake-table.js has a search box instead"),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        Dropped("styles of the column filters, not used"),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        Dropped("styles of the column filters, not used"),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        Dropped("the date picker of the column filters, not used", used_by=".datepicker("),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        Dropped("styles of the date picker, not used"),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        Dropped("a dark theme no package ships: the pages keep the light one"),
    # Charts appear on profiling pages, which citylake does not render; a page with one fails the build.
    "https://cdn.jsdelivr.net/npm/vega@5": Dropped("Vega charts, not on validation pages", used_by="vegaEmbed"),
    "https://cdn.jsdelivr.net/npm/vega-lite@5": Dropped("Vega charts, not on validation pages", used_by="vegaEmbed"),
    "https://cdn.jsdelivr.net/npm/vega-embed@6": Dropped("Vega charts, not on validation pages", used_by="vegaEmbed"),
}

# Elements whose URL the browser fetches by itself (an <a href> is only followed when clicked).
# A <script> is matched with its (empty) closing tag, so that dropping it leaves nothing behind.
_LOADING_TAG = re.compile(r"<script\b[^>]*>(?:\s*</script>)?|<(?:link|img|iframe|source|audio|video|embed|object|input)\b[^>]*>",
                          re.I)
_URL_ATTRIBUTE = re.compile(r"""\b(src|href|data|poster|srcset)\s*=\s*(["'])(.*?)\2""", re.I | re.S)
_CSS_URL = re.compile(r"""url\(\s*(["']?)([^)"']+)\1\s*\)|@import\s+(["'])([^"']+)\3""", re.I)
_EXTERNAL = re.compile(r"^(?:https?:)?//", re.I)
# Subresource-integrity hashes name the CDN's file; a vendored file of another release fails them.
_INTEGRITY = re.compile(r"""\s+(?:integrity|crossorigin)\s*=\s*(["']).*?\1""", re.I | re.S)


class OfflineAssetError(RuntimeError):
    """A Data Docs page still loads something from outside the site."""


def make_site_offline(site: Path) -> dict[str, int]:
    """Vendor the libraries into ``site``/static/vendor and rewrite every page; returns counts."""
    _copy_vendored(site)
    pages = sorted(site.rglob("*.html"))
    rewritten = dropped = 0
    for page in pages:
        text = page.read_text(encoding="utf-8")
        new, removed = rewrite_page(text, page, site)
        dropped += removed
        if new != text:
            page.write_text(new, encoding="utf-8")
            rewritten += 1
    for sheet in (site / "static" / "styles").glob("*.css"):
        text = sheet.read_text(encoding="utf-8")
        new = _CSS_URL.sub(lambda m, sheet=sheet: _css_url(m, sheet, site), text)
        if new != text:
            sheet.write_text(new, encoding="utf-8")
    check_offline(site)
    log.info("Data Docs offline: %d of %d pages rewritten, %d external assets dropped", rewritten, len(pages),
             dropped)
    return {"pages": len(pages), "rewritten": rewritten, "dropped": dropped}


def rewrite_page(text: str, page: Path, site: Path) -> tuple[str, int]:
    """``text`` (the page at ``page``) with vendored links made relative and dropped assets removed."""
    removed = 0

    def tag(match: re.Match[str]) -> str:
        nonlocal removed
        element = match.group(0)
        attribute = _URL_ATTRIBUTE.search(element)
        if attribute is None or not _EXTERNAL.match(attribute.group(3)):
            return element
        url = attribute.group(3)
        local = _local_file(url, site)
        if local is not None:
            element = _INTEGRITY.sub("", element)
            relative = os.path.relpath(local, page.parent).replace(os.sep, "/")
            return element.replace(url, relative, 1)
        drop = DROPPED.get(url)
        if drop is None:
            return element  # reported by check_offline
        if drop.used_by and drop.used_by in text:
            raise OfflineAssetError(f"Data Docs page {page.relative_to(site)} uses {url} ({drop.used_by!r}), "
                                    "which is not vendored: add it to citylake.quality.expectations.offline")
        removed += 1
        return ""

    text = _LOADING_TAG.sub(tag, text)
    return _inline_styles(text, page, site), removed


def _inline_styles(text: str, page: Path, site: Path) -> str:
    """``url()`` in ``<style>`` blocks and ``style=""`` attributes, rewritten like a stylesheet's."""
    def style(match: re.Match[str]) -> str:
        return _CSS_URL.sub(lambda m: _css_url(m, page, site), match.group(0))

    text = re.sub(r"<style\b[^>]*>.*?</style>", style, text, flags=re.I | re.S)
    return re.sub(r"""\bstyle\s*=\s*(["']).*?\1""", style, text, flags=re.I | re.S)


def _css_url(match: re.Match[str], sheet: Path, site: Path) -> str:
    url = match.group(2) or match.group(4)
    if not _EXTERNAL.match(url):
        return match.group(0)
    local = _local_file(url, site)
    if local is None:
        return match.group(0)  # reported by check_offline
    return match.group(0).replace(url, os.path.relpath(local, sheet.parent).replace(os.sep, "/"))


def _local_file(url: str, site: Path) -> Path | None:
    """The file in the site that serves ``url``, if one does (a query string is ignored for GX's logo)."""
    if url in VENDORED:
        return site / VENDOR / _vendor_path(VENDORED[url])
    base = url.split("?", 1)[0]
    if base in SITE_FILES and (site / SITE_FILES[base]).is_file():
        return site / SITE_FILES[base]
    return None


def _vendor_path(entry: Vendored) -> str:
    return f"{_package_name(entry)}/{entry.file}"


def _package_name(entry: Vendored) -> str:
    return entry.module.rsplit(".", 1)[1] if entry.module else "citylake"


def _source_dir(entry: Vendored) -> Path:
    if entry.module is None:
        return OWN_STATIC
    return Path(import_module(entry.module).BASE_DIR)


def _copy_vendored(site: Path) -> None:
    for entry in VENDORED.values():
        source = _source_dir(entry)
        target = site / VENDOR / _package_name(entry)
        (target / entry.file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / entry.file, target / entry.file)
        for tree in entry.tree:
            shutil.copytree(source / tree, target / tree, dirs_exist_ok=True)


def external_assets(site: Path) -> list[tuple[str, str]]:
    """Every (file, URL) in the site's pages and stylesheets that the browser would fetch from outside."""
    found = []
    for path in sorted(site.rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        for element in _LOADING_TAG.findall(text):
            found += [(str(path.relative_to(site)), m.group(3)) for m in _URL_ATTRIBUTE.finditer(element)
                      if _EXTERNAL.match(m.group(3))]
        found += [(str(path.relative_to(site)), url) for url in _css_urls(text) if _EXTERNAL.match(url)]
    for path in sorted(site.rglob("*.css")):
        found += [(str(path.relative_to(site)), url) for url in _css_urls(path.read_text(encoding="utf-8"))
                  if _EXTERNAL.match(url)]
    return found


def _css_urls(text: str) -> list[str]:
    return [m.group(2) or m.group(4) for m in _CSS_URL.finditer(text)]


def check_offline(site: Path) -> None:
    """Raise :class:`OfflineAssetError` naming the first page (and the count) still loading from outside."""
    found = external_assets(site)
    if found:
        page, url = found[0]
        raise OfflineAssetError(f"Data Docs page {page} loads {url} from outside the site ({len(found)} external "
                                "asset(s) in all): vendor or drop it in citylake.quality.expectations.offline")
