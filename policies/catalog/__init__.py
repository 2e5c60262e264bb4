"""The API's catalog (modules, functionalities, routes) and blacklist rules."""
