"""Roles and what each may do.

The administrator triad (三员: system, security and audit administrators) is mutually
exclusive and sees no business data.  Business roles are granted on an org subtree
(clause 4.2.1: province, city, county, enterprise/site) and act only inside it.  The
public (no login) sees the disclosure only.
"""

from __future__ import annotations

from .store import ADMIN_ROLES, BUSINESS_ROLES

PUBLIC = "public"
ROLES = (*ADMIN_ROLES, *BUSINESS_ROLES)

#: What each role is for (shown in the admin pages and `carbon security roles`).
DESCRIPTIONS = {
    "sysadmin": "system administrator: accounts (create, disable, unlock), system operation; no business data, no audit",
    "secadmin": "security administrator: grants roles and scopes, sets the policy; no business data",
    "auditor": "audit administrator: reads and verifies the audit log; nothing else",
    "manager": "dashboards and reports of its org subtree",
    "analyst": "notebooks, catalog and exports of its org subtree",
    "data_officer": "enters its enterprise's ledger",
    "reviewer": "approves ledger entries and reviews reports in its subtree, never its own; keeps its orgs' master data; on the whole tree, also the factor library",
    "registry_operator": "operates the credit registry in its subtree",
    "device_operator": "registers devices, watches the monitor and acknowledges alerts in its subtree",
    "scheduler": "the account scheduled jobs run as (accounts, roll-ups, reports, maintenance, alerts)",
}

#: action -> roles that may do it.  Scoped actions need an org inside one of the role's subtrees.
ACTIONS: dict[str, tuple[str, ...]] = {
    # administrator triad (no org)
    "manage_accounts": ("sysadmin",),
    "operate_system": ("sysadmin",),
    "grant_roles": ("secadmin",),
    "set_policy": ("secadmin",),
    "read_audit": ("auditor",),
    # business (scoped to an org subtree)
    "view_figures": ("manager", "analyst", "reviewer", "data_officer", "registry_operator"),
    "view_telemetry": ("manager", "analyst", "device_operator"),
    "export_figures": ("manager", "analyst"),
    "run_reports": ("manager", "analyst", "scheduler"),
    "compute_accounts": ("analyst", "scheduler"),
    "enter_ledger": ("data_officer",),
    "review_ledger": ("reviewer",),
    "review_reports": ("reviewer",),
    "manage_factors": ("reviewer",),  # on the root of the tree: a factor changes every org's figures
    "manage_orgs": ("reviewer",),  # create, rename, move, close orgs in the subtree (carbonlib.ledger.orgs)
    "operate_registry": ("registry_operator",),
    "operate_devices": ("device_operator",),
    "ingest_telemetry": ("device_operator", "scheduler"),
    "maintain_lake": ("scheduler",),
    "evaluate_alerts": ("scheduler",),
    "acknowledge_alerts": ("device_operator", "manager"),
    # everyone
    "view_disclosure": (PUBLIC, *ROLES),
}
#: Actions of the administrator triad: not scoped to an org.
UNSCOPED = frozenset({"manage_accounts", "operate_system", "grant_roles", "set_policy", "read_audit", "view_disclosure"})
