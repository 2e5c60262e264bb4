"""Smoke test of the benchmarks: ``python -m bench --quick`` runs and reports every case.

No timing is asserted: numbers on a shared CI machine mean nothing. Only that each case
runs to the end, the table lists it, and the results file is written.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.loadgen import parse_wrk, percentile
from bench.report import BEGIN, END, write_results

ROOT = Path(__file__).resolve().parents[2]
CASES = (
    "1 in-process",
    "2 HTTP uvicorn",
    "3 propagation",
    "4 cold key",
    "5 Redis at steady state",
    "6 memory",
    "7 garbage flood",
    "8 authz behind nginx",
    "9 usage counts",
    "13 restricted key",
)

WRK_OUTPUT = """Running 2s test @ http://127.0.0.1:8000/projects
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.61ms  520.00us  12.03ms   90.12%
    Req/Sec     8.81k   412.11     9.20k    85.00%
  Latency Distribution
     50%    3.52ms
     75%    3.70ms
     90%    4.01ms
     99%  850.00us
  17532 requests in 2.00s, 2.41MB read
  Non-2xx or 3xx responses: 3
Requests/sec:   8766.00
Transfer/sec:      1.20MB
"""


def run_bench(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", "--quick", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.slow
def test_quick_run_reports_every_case(tmp_path: Path) -> None:
    output = tmp_path / "RESULTS.md"
    done = run_bench(tmp_path, "--output", str(output))
    assert done.returncode == 0, done.stderr[-3000:]
    for case in CASES:
        assert case in done.stdout, f"{case} missing from the table"
    assert "(failed)" not in done.stdout
    text = output.read_text()
    assert BEGIN in text and END in text
    assert "| 7 garbage flood |" in text and "**cpu**" in text


@pytest.mark.slow
def test_http_case_runs_with_the_python_load_generator(tmp_path: Path) -> None:
    output = tmp_path / "RESULTS.md"
    done = run_bench(tmp_path, "--only", "2", "--loadgen", "python", "--output", str(output))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 HTTP uvicorn" in done.stdout
    assert "load generator: python" in output.read_text()


def test_wrk_output_is_parsed() -> None:
    result = parse_wrk(WRK_OUTPUT)
    assert (result.requests, result.seconds, result.errors) == (17532, 2.0, 3)
    assert (result.p50_ms, result.p99_ms) == (3.52, 0.85)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile(values, 100)) == (
        50,
        99,
        100,
    )


def test_results_file_keeps_the_note_around_the_generated_block(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    write_results(path, f"{BEGIN}\nfirst\n{END}")
    path.write_text(path.read_text() + "\n## Note\nkept\n")
    write_results(path, f"{BEGIN}\nsecond\n{END}")
    text = path.read_text()
    assert "second" in text and "first" not in text and "kept" in text
