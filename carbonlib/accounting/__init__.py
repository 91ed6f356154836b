"""Accounting (services): periodic accounts, cap checks, tower sinks and the derived views they read.

Modules: :mod:`.accounts` (materialised accounts per org and period), :mod:`.caps` (cap
projection and offsets), :mod:`.tower_sinks` (flux-tower removals), :mod:`.views` (SQL views:
org tree, effective ledger, telemetry roll-ups).
"""
