"""`make bench` (all, full size) and `make bench-smoke` (tiny sizes, for CI): runs the benchmarks,
writes bench/results/<name>.json and .png, and bench/results/SUMMARY.md (the table README shows)."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
import time

from bench import common
from bench.common import RESULTS

BENCHMARKS = ("gateway", "saturation", "vlm", "detection", "documents", "fanout", "upload", "ocr_accuracy",
              "cpu_documents", "rest", "replicas")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the suite runs, measures nothing")
    parser.add_argument("--only", nargs="*", choices=BENCHMARKS, default=list(BENCHMARKS))
    args = parser.parse_args()
    if args.smoke:
        common.OUTPUT = RESULTS / "smoke"
    failed = []
    for name in args.only:
        module = importlib.import_module(f"bench.{name}")
        started = time.monotonic()
        print(f"== {name}{' (smoke)' if args.smoke else ''}", flush=True)
        try:
            result = asyncio.run(module.run(smoke=args.smoke))
        except Exception as exc:  # noqa: BLE001 - report every benchmark, then fail
            print(f"!! {name} failed: {exc!r}", flush=True)
            failed.append(name)
            continue
        print(json.dumps(result.get("targets", {}), indent=2), f"({time.monotonic() - started:.0f} s)", flush=True)
    if not args.smoke:
        write_summary()
    sys.exit(1 if failed else 0)


def write_summary() -> None:
    rows = ["| benchmark | target | measured | met |", "|---|---|---|---|"]
    for name in BENCHMARKS:
        path = RESULTS / f"{name}.json"
        if not path.exists():
            continue
        data = json.loads(path.read_text())
        for target in data.get("targets", {}).values():
            met = "—" if target["met"] is None else "yes" if target["met"] else "**no**"  # None: reported only
            rows.append(f"| {name} | {target['target']} | {target['measured']} | {met} |")
    (RESULTS / "SUMMARY.md").write_text("\n".join(rows) + "\n")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
