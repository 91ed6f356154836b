"""Who may see which part of the organisation tree (services layer; dashboards ask it).

A viewer is a name mapped, in a YAML file (``dashboards/access.yaml``), to the top of the
org subtree it may see (``root``) and a role.  Every dashboard scopes its view to
:meth:`Access.allowed_root` and refuses or clamps requests outside it (:meth:`Access.clamp`,
:meth:`Access.check`).  The viewer name comes from the request for now (URL parameter
``viewer`` or header ``X-Carbon-Viewer``, see :func:`requested_viewer`); the security issue
replaces the file and the request-borne identity with real accounts behind this interface.

Example file::

    viewers:
      province-admin: {root: P43, role: manager}
      changsha-county: {root: D430121, role: manager}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from .accounting import views
from .lake import Lake

ROLES = ("manager", "analyst", "public")
VIEWER_HEADER = "X-Carbon-Viewer"


@dataclass(frozen=True)
class Viewer:
    """A dashboard viewer: ``name``, the org ``root`` of its subtree and its ``role``."""

    name: str
    root: str
    role: str


class Access:
    """Viewer → org-subtree rules checked against the org tree of a lake.

    Build it with :meth:`load`; ``tree`` is :func:`carbonlib.accounting.views.org_tree` (org_id, path, ...).
    """

    def __init__(self, viewers: Mapping[str, Viewer], tree: pd.DataFrame, source: str = "access rules"):
        self.viewers = dict(viewers)
        self.tree = tree
        self._paths = dict(zip(tree.org_id, tree.path))
        for v in self.viewers.values():
            if v.root not in self._paths:
                raise ValueError(f"{source}: viewer {v.name!r} has root {v.root!r}, which is not an org in the lake. "
                                 "Fix: use an org_id of table org (e.g. P43, C4301, D430121).")

    @classmethod
    def load(cls, path: str | Path, lake: Lake, tree: pd.DataFrame | None = None) -> "Access":
        """Read the viewers file at ``path`` and check every root against the lake's org tree.

        ``tree``: the lake's :func:`carbonlib.accounting.views.org_tree` when the caller holds it already.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"access file {path} not found. Fix: pass the path of dashboards/access.yaml.")
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            raise ValueError(f"{path} is not valid YAML ({str(error).splitlines()[0]})") from None
        entries = document.get("viewers") if isinstance(document, dict) else None
        if not isinstance(entries, dict) or not entries:
            raise ValueError(f"{path}: needs a 'viewers:' mapping of NAME -> {{root: ORG_ID, role: ROLE}}")
        viewers = {}
        for name, entry in entries.items():
            if not isinstance(entry, dict) or "root" not in entry:
                raise ValueError(f"{path}: viewer {name!r} needs a 'root' org_id, e.g. {{root: P43, role: manager}}")
            role = entry.get("role", "manager")
            if role not in ROLES:
                raise ValueError(f"{path}: viewer {name!r} has role {role!r}; allowed roles: {', '.join(ROLES)}")
            viewers[str(name)] = Viewer(str(name), str(entry["root"]), role)
        return cls(viewers, views.org_tree(lake) if tree is None else tree, source=str(path))

    def viewer(self, name: str | None) -> Viewer:
        """The viewer called ``name``; PermissionError when missing or unknown."""
        if not name:
            raise PermissionError("no viewer given. Fix: open the dashboard with ?viewer=NAME, a viewer of "
                                  "dashboards/access.yaml (ask the platform's administrator for yours).")
        if name not in self.viewers:
            raise PermissionError(f"unknown viewer {str(name)[:40]!r}. Fix: use the viewer name you were given, or ask "
                                  "the administrator to add it to dashboards/access.yaml.")
        return self.viewers[name]

    def allowed_root(self, viewer: str | None) -> str:
        """The org_id at the top of the subtree ``viewer`` may see."""
        return self.viewer(viewer).root

    def may_see(self, viewer: str | None, org_id: str) -> bool:
        """True when ``org_id`` lies in the viewer's subtree (the root itself included)."""
        root = self.allowed_root(viewer)
        path = self._paths.get(org_id)
        return path is not None and root in path.split("/")

    def check(self, viewer: str | None, org_id: str) -> None:
        """Raise PermissionError unless ``viewer`` may see ``org_id``."""
        if org_id not in self._paths:
            raise PermissionError(f"unknown org {str(org_id)[:60]!r}. Fix: use an org_id of table org.")
        if not self.may_see(viewer, org_id):
            raise PermissionError(f"viewer {viewer!r} may not see org {org_id!r}; "
                                  f"its view is limited to {self.allowed_root(viewer)} and below.")

    def clamp(self, viewer: str | None, requested: str | None) -> tuple[str, str | None]:
        """The org to show for a request: ``requested`` when allowed, else the viewer's root.

        Returns (org_id, message); the message says why a request was refused (None if not).
        """
        root = self.allowed_root(viewer)
        if not requested:
            return root, None
        try:
            self.check(viewer, requested)
        except PermissionError as refused:
            return root, f"{refused} Showing {root} instead."
        return requested, None

    def subtree(self, viewer: str | None) -> pd.DataFrame:
        """Rows of the org tree the viewer may see, in tree order."""
        root = self.allowed_root(viewer)
        return self.tree[self.tree.path.str.split("/").map(lambda ids: root in ids)].reset_index(drop=True)


def requested_viewer(params: Mapping[str, str], headers: Mapping[str, str] | None = None) -> str | None:
    """The viewer name a request carries: URL parameter ``viewer``, else header ``X-Carbon-Viewer``.

    Stand-in until the security issue brings authenticated accounts.
    """
    if params.get("viewer"):
        return params["viewer"]
    for key, value in (headers or {}).items():
        if key.lower() == VIEWER_HEADER.lower() and value:
            return value
    return None
