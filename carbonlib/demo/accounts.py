"""The demo province's people: the administrator triad, managers per region, an analyst, reviewers,
data officers, operators and the scheduler's service account.

All passwords are one-time (changed at first login); they and the administrators' TOTP
secrets are written once to ``<lake>-security/demo-credentials.txt`` (owner-only) for the
person trying the demo, and stored only as argon2id hashes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ..security import Security
from ..settings import Settings

CREDENTIALS = "demo-credentials.txt"


def demo_people(tree: pd.DataFrame) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(user name, display name, [(role, org_id)]) of the demo's business accounts, from the org tree."""
    root = tree.org_id.iloc[0]
    people = [("province-manager", "Province manager", [("manager", root)]),
              ("analyst", "Province analyst", [("analyst", root)]),
              ("province-reviewer", "Province reviewer", [("reviewer", root)]),
              ("device-operator", "Device operator", [("device_operator", root)]),
              ("registry-operator", "Registry operator", [("registry_operator", root)])]
    for row in tree[tree.level.isin(["city", "county"])].itertuples():
        people.append((f"manager-{row.org_id.lower()}", f"{row.name_en} manager", [("manager", row.org_id)]))
    for row in tree[tree.level == "county"].itertuples():
        people.append((f"reviewer-{row.org_id.lower()}", f"{row.name_en} reviewer", [("reviewer", row.org_id)]))
    first_county = tree[tree.level == "county"].org_id.iloc[0]
    for row in tree[(tree.level == "enterprise") & (tree.parent_id == first_county)].itertuples():
        people.append((f"officer-{row.org_id.lower()}", f"{row.name_en} data officer", [("data_officer", row.org_id)]))
    return people


def create_demo_accounts(settings: Settings, tree: pd.DataFrame) -> Path:
    """Create the security store with the triad, the demo's people and the scheduler; the credentials file."""
    security, triad = Security.init(settings)
    with security:
        lines = ["# Demo accounts of the Carbon Sink Workbench: ONE-TIME passwords (changed at first login).",
                 "# Administrators also need the code of an authenticator app set up with their TOTP secret.",
                 "# user name, roles, one-time password, TOTP secret (administrators)"]
        for account in triad:
            lines.append(f"{account.username}\t{account.username}\t{account.one_time_password}\t{account.totp_secret}")
        for username, display, grants in demo_people(tree):
            account = security.provision(username, display, grants=grants)
            roles = ", ".join(f"{role}@{org}" for role, org in grants)
            lines.append(f"{account.username}\t{roles}\t{account.one_time_password}\t")
        security.create_service_account(tree.org_id.iloc[0])
        path = security.service_key_path().with_name(CREDENTIALS)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write("\n".join(lines) + "\n")
    return path
