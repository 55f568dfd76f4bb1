"""The catalog site (数据资源目录网站): a static, searchable Chinese HTML site of the catalog's entries —
an index with a search box, one page per dataset with its fields, grade, quality, owner, freshness
and a lineage graph. Self-contained: CSS, the search index (JSON) and its script are inline, the
graph is inline SVG; no request leaves a page. Metadata only, never a value of a table.
"""

from citylake.catalog.site.render import render_site

__all__ = ["render_site"]
