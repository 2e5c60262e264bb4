"""Rate limits: their definition and the shared window counters."""
