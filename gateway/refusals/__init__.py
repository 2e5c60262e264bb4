"""Refusing a request: problem documents, close codes, the CORS preflight."""
