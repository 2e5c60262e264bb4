"""The gateway's life on an event loop: Redis client, background tasks, scheduler."""
