"""Workspace backups: the signed document and its sections."""
