"""Leak reports: what a workspace does when a scanner reports one of its keys in public."""
