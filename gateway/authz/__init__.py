"""The authz service: the gateway's decision for reverse proxies (auth_request, forward_auth,
ext_authz)."""
