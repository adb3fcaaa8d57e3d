"""Worklist server CPU per C-FIND, two code trees interleaved on one database (issue 19).

Each tree (a checkout, e.g. ``git archive <commit> | tar -x -C /tmp/base``) serves the
same database with ``worklist.server.start_server`` in a process of its own; the
rounds alternate between them: ``findscu --repeat R`` minus ``findscu`` once (the
association's own cost), divided by R - 1, for wall time and for the server process's
CPU from /proc (every thread: handler, DUL, association, accept loop). Medians over the
rounds; the load average is printed per round. The database is one that
``dicom_mwl.py`` builds (``--keep`` there, or ``mkdb`` here); it is only read (and the
read audit written).

    .venv/bin/python benchmarks/mwl_cpu.py mkdb 10000 sqlite:////tmp/mwl-10000.sqlite
    .venv/bin/python benchmarks/mwl_cpu.py compare sqlite:////tmp/mwl-10000.sqlite \\
        /tmp/base /path/to/checkout --rounds 4 --repeat 200
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = str(Path(__file__).resolve().parent.parent)


def serve(url: str) -> None:
    """Serve ``url`` with the worklist SCP of the tree on PYTHONPATH; print the port."""
    from benchmarks.dicom_mwl import make_app
    from worklist.server import start_server

    server = start_server(make_app(url), "127.0.0.1", 0)
    gc.freeze()
    print(server.port, flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        server.stop()


def compare(url: str, trees: list[str], rounds: int, repeat: int) -> None:
    from benchmarks.dicom_mwl import findscu, per_query_sample, process_cpu

    servers = []
    for tree in trees:
        proc = subprocess.Popen(
            # This script, but the tree's code: its PYTHONPATH comes first for "serve".
            [sys.executable, str(Path(__file__).resolve()), "serve", url],
            cwd=tree,
            env={**os.environ, "PYTHONPATH": tree},
            stdout=subprocess.PIPE,
            text=True,
        )
        port = int(proc.stdout.readline())
        servers.append((tree, proc, port))
    samples: dict[str, list[tuple[float, float]]] = {tree: [] for tree in trees}
    try:
        for _, _, port in servers:
            findscu(port, "RADBOOK", 20)  # warm-up
        for round_no in range(rounds):
            for tree, proc, port in servers:
                samples[tree].append(
                    per_query_sample(port, "RADBOOK", process_cpu(proc.pid), repeat)
                )
            print(f"round {round_no + 1}/{rounds}; load average {os.getloadavg()}", flush=True)
    finally:
        for _, proc, _ in servers:
            proc.terminate()
            proc.wait(timeout=30)
    for tree in trees:
        walls = [w * 1000 for w, _ in samples[tree]]
        cpus = [c * 1000 for _, c in samples[tree]]
        print(
            f"{tree}: server CPU ms/query median {statistics.median(cpus):.2f} "
            f"({' '.join(f'{c:.2f}' for c in cpus)}); wall ms/query median "
            f"{statistics.median(walls):.2f} ({' '.join(f'{w:.2f}' for w in walls)})"
        )


def mkdb(n: int, url: str) -> None:
    from benchmarks.dicom_mwl import (
        Plan,
        add_steps,
        load_network,
        make_app,
        pg_database,
        reset_and_migrate,
    )

    if url.startswith("postgresql"):
        url = pg_database(url, n)  # <name>_<n>, emptied
    app = make_app(url)
    reset_and_migrate(app)
    add_steps(app, load_network(app), Plan(), 0, n)
    print(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve")
    p.add_argument("url")
    p = sub.add_parser("compare")
    p.add_argument("url")
    p.add_argument("trees", nargs="+")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--repeat", type=int, default=200)
    p = sub.add_parser("mkdb")
    p.add_argument("n", type=int)
    p.add_argument("url")
    args = parser.parse_args()
    if args.command != "serve":
        sys.path.insert(0, ROOT)
    if args.command == "serve":
        serve(args.url)
    elif args.command == "compare":
        compare(args.url, args.trees, args.rounds, args.repeat)
    else:
        mkdb(args.n, args.url)


if __name__ == "__main__":
    main()
