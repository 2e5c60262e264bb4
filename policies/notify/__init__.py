"""Security notifications: which audit actions notify, the signed webhooks and where they
may go. The queue's Redis steps are :mod:`policies.operations.notify`.

Design notes: ``docs/architecture.md``.
"""
