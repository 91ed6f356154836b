"""Reporting (services): the report notebooks' content and batch runner, and the scheduled jobs.

Modules: :mod:`.reports` (what a report shows, papermill batches, exports) and
:mod:`.pipelines` (the schedule of jobs, APScheduler and crontab).
"""
