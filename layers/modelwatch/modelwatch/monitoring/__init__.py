"""The monitoring engine: profiles, drift, data quality, performance, and their reports.

Pure computation over columns and profiles: ``profile`` (computing and merging
``DatasetProfile``), ``object_profile`` (one delivered events object against each
version's reference), ``drift/`` (the tests and the decision rule), ``quality``,
``performance``, ``datasets`` (reading files and events into columns),
``html_report`` and ``report_page`` (the HTML reports).
"""
