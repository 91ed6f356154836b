"""Accounts and roles (Panel app): the system administrator's and the security administrator's page.

Serve with ``carbon dashboards panel`` (behind the login).  The system administrator
creates, disables, enables and unlocks accounts and resets passwords; the security
administrator grants and revokes roles on org subtrees, names the triad and sets the
policy.  Anyone else is refused (and the refusal is audited).
"""

from carbonlib.viz import admin_pages

admin_pages.serve_admin_page("admin", "Carbon accounts")
