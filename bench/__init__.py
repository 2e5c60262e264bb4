"""Keystile's benchmarks (issue 6): ``python -m bench`` runs every case and prints one table.

``python -m bench --output bench/RESULTS.md`` also writes the results file (machine details,
the table, each case's details); ``--quick`` is the CI smoke run (tiny counts, seconds).
Everything runs on loopback against a throwaway redis-server; every load step is bounded in
requests and in seconds. One case per module:

======================  ==============================================================
:mod:`bench.inprocess`   1. decision cost through ASGI: bare, gateway, BaseHTTPMiddleware
:mod:`bench.http_load`   2. the same three apps under uvicorn, driven by wrk (or Python)
:mod:`bench.propagation` 3. revocation reaching 4 gateway processes, with and without pub/sub
:mod:`bench.cold_key`    4. a key's first request: latency and Redis round trips
:mod:`bench.redis_load`  5. Redis commands per 10,000 requests with a warm cache
:mod:`bench.memory`      6. RSS per cached key
:mod:`bench.flood`       7. 10,000 garbage keys: Redis commands, p99 of good requests
======================  ==============================================================

Shared pieces: :mod:`bench.setup` (Redis, secrets, store, workspace, bulk tokens),
:mod:`bench.apps` (the minimal app and its three variants), :mod:`bench.servers` (uvicorn
subprocesses), :mod:`bench.httpclient` and :mod:`bench.loadgen` (a small HTTP/1.1 client),
:mod:`bench.redisstats` (INFO commandstats), :mod:`bench.report` (the table and the file).
"""
