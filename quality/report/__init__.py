"""部门数据质量报告: one self-contained Chinese HTML report per department (scores on the GB/T 36344
indicators, their trend, the rules failing most and sample records to fix), and an index of all
departments. Jinja2 templates with autoescape, inline CSS and inline SVG charts: a report opens from
a file share or an e-mail attachment without any network access.
"""

from citylake.quality.report.render import render_all_reports, render_department_report

__all__ = ["render_all_reports", "render_department_report"]
