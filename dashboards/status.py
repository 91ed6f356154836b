"""Platform status (Panel app): the system administrator's view of the platform's health.

Serve with ``carbon dashboards panel`` (behind the login).  One row per check of
``carbon health`` (catalog, disk, ingest, scheduler and each job, backup, audit log,
snapshots, small files, dashboard servers) with its message and fix, looked at again every
minute.  Anyone but the system administrator is refused (and the refusal is audited).
"""

from carbonlib.viz import admin_pages

admin_pages.serve_admin_page("status", "Carbon platform status")
