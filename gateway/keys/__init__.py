"""Presented keys: resolving one (cache, then Redis), the cached decision, invalidation."""
