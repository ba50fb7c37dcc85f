"""Framework-free core of erp_ops.

Nothing under this package imports frappe: it receives connections, names and paths as
arguments and returns pydantic models, so it runs inside a bench and standalone alike.
"""
