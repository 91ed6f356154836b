"""The part of the org tree a principal may see on a page, for one action.

Built from the principal's grants (:meth:`carbonlib.security.Principal.roots`) and the lake's
org tree; every dashboard view scopes itself with it and clamps or refuses requests outside
it.  The principal comes from the session, never from the request's parameters.
"""

from __future__ import annotations

import pandas as pd

from ..security import PermissionDenied, Principal


class Scope:
    """The orgs ``principal`` may ``action`` on: the union of its grants' subtrees in ``tree``.

    ``tree`` is :func:`carbonlib.accounting.views.org_tree` (org_id, parent_id, path, ...).
    Raises PermissionDenied when the principal has no grant for the action.
    """

    def __init__(self, principal: Principal, tree: pd.DataFrame, action: str):
        self.principal = principal
        self.action = action
        paths = dict(zip(tree.org_id, tree.path))
        self.roots = [r for r in principal.roots(action) if r in paths]
        if not self.roots:
            raise PermissionDenied(f"{principal.username} may not {action.replace('_', ' ')} on any org: "
                                   "ask the security administrator for a role on your org")
        inside = tree.path.str.split("/").map(lambda ids: any(root in ids for root in self.roots))
        self.tree = tree[inside].reset_index(drop=True)
        self.paths = paths
        self._inside = set(self.tree.org_id)

    @property
    def root(self) -> str:
        """The first root (where a page opens)."""
        return self.roots[0]

    def contains(self, org_id: str | None) -> bool:
        return org_id in self._inside

    def clamp(self, requested: str | None) -> tuple[str, str | None]:
        """The org to show: ``requested`` when inside the scope, else the first root and why."""
        if not requested:
            return self.root, None
        if requested not in self.paths:
            return self.root, f"unknown org {str(requested)[:60]!r}. Showing {self.root} instead."
        if not self.contains(requested):
            return self.root, (f"{self.principal.username} may not see org {requested!r}; the view is limited to "
                               f"{', '.join(self.roots)} and below. Showing {self.root} instead.")
        return requested, None
