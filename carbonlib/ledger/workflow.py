"""The review workflow of a ledger entry (clause 5.1): which step may follow which status, and who may take it.

An entry's status is the name of its newest review step (table ``activity_review``), or the
status it was entered with.  Steps:

* ``submitted``: by a data officer of the entry's enterprise (a draft, or a returned entry sent again);
* ``approved``, ``returned`` (with a comment), ``rejected`` (with a comment): by a reviewer of
  the enterprise's subtree who neither entered nor submitted the entry (four-eyes);
* ``reversed`` (with a comment): an approved entry taken out of the accounts, by a reviewer who did
  not enter it;
* ``corrected``: taken when the reviewer approves the entry that corrects this one (an approved or
  returned entry), in the same write.

``rejected``, ``reversed`` and ``corrected`` are final: a correction is a new entry.
"""

from __future__ import annotations

#: status -> review steps that may follow it
NEXT_STEPS: dict[str, tuple[str, ...]] = {
    "draft": ("submitted",),
    "submitted": ("approved", "returned", "rejected"),
    "returned": ("submitted", "corrected"),
    "approved": ("reversed", "corrected"),
    "rejected": (),
    "reversed": (),
    "corrected": (),
}
#: step -> the action (carbonlib.security.roles.ACTIONS) it needs
STEP_ACTION = {"submitted": "enter_ledger", "approved": "review_ledger", "returned": "review_ledger",
               "rejected": "review_ledger", "reversed": "review_ledger", "corrected": "review_ledger"}
#: steps that need a comment saying why
NEEDS_COMMENT = frozenset({"returned", "rejected", "reversed"})
#: steps a reviewer takes on someone else's entry (four-eyes)
FOUR_EYES = frozenset({"approved", "returned", "rejected", "reversed"})
#: statuses whose entry still stands for its source and period (a second entry for them is a duplicate)
LIVE_STATUSES = ("draft", "submitted", "returned", "approved")


def review_id(entry_id: str, sequence: int) -> str:
    """Identifier of the ``sequence``-th review step of ``entry_id`` (1-based): two people taking the same step at
    once write the same id, and the lake's key refuses the second."""
    return f"{entry_id}:r{sequence:03d}"


class ReviewRefused(ValueError):
    """A review step the entry's status, the rules or the four-eyes principle do not allow (the message says why)."""


def check_step(entry_id: str, status: str, step: str, *, actor: str, author: str, submitter: str | None,
               comment: str | None) -> None:
    """Refuse ``step`` on entry ``entry_id`` (now ``status``) by ``actor`` unless the workflow allows it.

    ``author``: who entered the entry; ``submitter``: who submitted it last (None if never).
    """
    allowed = NEXT_STEPS.get(status, ())
    if step not in allowed:
        then = f"possible now: {', '.join(allowed)}" if allowed else "it is final; enter a correcting entry instead"
        raise ReviewRefused(f"entry {entry_id} is {status}: it cannot be {step} ({then})")
    if step in FOUR_EYES and actor in {author, submitter}:
        raise ReviewRefused(f"entry {entry_id} was entered or submitted by {actor}: another reviewer must take "
                            f"the step '{step}' (four-eyes principle, clause 5.1)")
    if step in NEEDS_COMMENT and not (comment or "").strip():
        raise ReviewRefused(f"entry {entry_id}: a step '{step}' needs a comment saying why (--comment)")
