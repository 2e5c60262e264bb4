"""Request counts: how they are stored and read back as reports."""
