"""Services: plain functions taking a session and keyword-only arguments.

They raise domain errors and never commit; the HTTP routes own the transaction.
"""
