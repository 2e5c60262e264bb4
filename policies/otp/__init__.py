"""One-time passwords that unlock an admin action."""
