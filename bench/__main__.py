"""Run benchmarks and print their figures as one JSON document."""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time

from bench import MODULES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {MODULES})")
    args = parser.parse_args(argv)
    names = args.names or list(MODULES)
    out: dict[str, object] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    for name in names:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"bench.{name}":
                out[name] = {"skipped": "no such benchmark"}
                continue
            raise
        out[name] = module.run()
        print(f"bench {name}: done", file=sys.stderr)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
