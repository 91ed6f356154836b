"""Alerts (clause 9.3.10 monitoring and early warning; 5.5.2 status monitoring): rules in a file, checks against the
wall clock, a lifecycle in the lake (active -> acknowledged -> cleared, with escalation), notices by e-mail and webhook.
"""

from .lifecycle import alerts
from .rules import RULES_FILE, RuleSet, RulesError, load_rules
from .service import AlertsError, Evaluation, acknowledge, evaluate, open_alerts, run_rules

__all__ = ["RULES_FILE", "AlertsError", "Evaluation", "RuleSet", "RulesError", "acknowledge", "alerts", "evaluate",
           "load_rules", "open_alerts", "run_rules"]
