"""Profile the gateway's hot path: case 1 (b), a cached key, called through ASGI in a loop.

    python -m bench.profile                    # pyinstrument, if installed: text report
    python -m bench.profile --tool cprofile    # the standard library's profiler
    py-spy record -o gateway.svg -- python -m bench.profile --tool none --seconds 10

Profilers are not project dependencies: ``pip install pyinstrument py-spy`` to use them.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys

from bench.inprocess import main_loop
from bench.setup import bench_env, cpu_plan, pinned


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tool", choices=("pyinstrument", "cprofile", "none"), default="pyinstrument"
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with bench_env() as env, pinned(cpu_plan()[0]):
        if args.tool == "none":
            main_loop(env, args.seconds)
        elif args.tool == "cprofile":
            profiler = cProfile.Profile()
            profiler.runcall(main_loop, env, args.seconds)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        else:
            try:
                from pyinstrument import Profiler
            except ImportError:
                sys.exit(
                    "pyinstrument is not installed: pip install pyinstrument (or --tool cprofile)"
                )
            sampler = Profiler(interval=0.0001)
            sampler.start()
            main_loop(env, args.seconds)
            sampler.stop()
            print(sampler.output_text(unicode=True, color=False, show_all=False))


if __name__ == "__main__":
    main()
