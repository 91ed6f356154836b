"""The emission ledger (台账): entries, their four-eyes review and derived status (clause 5.1).

:mod:`carbonlib.ledger.service` enters and reviews entries as a principal;
:mod:`carbonlib.ledger.workflow` says which review step may follow which status.
"""
