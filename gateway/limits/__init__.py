"""Rate limits, enforced in process and synced through Redis."""
