"""Which catalogued action a request runs: the app's own router decides."""
