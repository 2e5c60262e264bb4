"""The Redis store: calls and scripts, the layout, connections, both drivers."""
