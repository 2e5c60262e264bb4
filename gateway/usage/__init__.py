"""What the gateway records about allowed requests: last-used times and request counts."""
