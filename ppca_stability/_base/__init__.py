"""Shared foundations: input validation, the round-off rule and tolerances, optional imports,
objective protocols.
"""
