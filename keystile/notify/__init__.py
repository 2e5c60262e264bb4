"""The notification worker (``keystile notify run``) and its ``[notify]`` settings."""
