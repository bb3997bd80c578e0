"""Safeguards (P10.1–P10.3): who may see a case and how much of it (need to know), and who may change its marking.

The pure decisions live here (`rules.py`); the domains that own the data apply them: `assistance.selectors`
turns `rules.case_access` into the one query every list, count, search and notification of cases goes through,
and into the object rule every screen, API operation and service checks (docs/safeguards.md, "Who sees what").
"""
