"""The audit log (Panel app): the auditor searches, exports (CSV) and verifies it.

Serve with ``carbon dashboards panel`` (behind the login).  Anyone but the auditor is
refused, the system administrator included (三员分立); the refusal is audited.
"""

from carbonlib.viz import admin_pages

admin_pages.serve_admin_page("audit", "Carbon audit log")
