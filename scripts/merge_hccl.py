"""Merge the rank tables of several servers into one, as the upstream ``merge_hccl.py``.

    python scripts/merge_hccl.py hccl_8p_01234567_10.0.0.1.json hccl_8p_01234567_10.0.0.2.json [--output_dir DIR]

The server lists are concatenated in the order of the files, ``rank_id`` is renumbered 0..P-1 across them,
``server_count`` is the sum, and the result is written to ``hccl_<S>s_<P>p.json`` (S servers, P devices).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hccl_tools import write_table  # noqa: E402  (the sibling script)


def merge(tables):
    servers, count = [], 0
    for table in tables:
        count += int(table["server_count"])
        servers.extend(table["server_list"])
    rank = 0
    for server in servers:
        for device in server["device"]:
            device["rank_id"] = str(rank)
            rank += 1
    return {"version": "1.0", "server_count": str(count), "server_list": servers, "status": "completed"}, count, rank


def main(argv=None):
    parser = argparse.ArgumentParser(description="merge per-server HCCL rank tables")
    parser.add_argument("files", nargs="+", help="rank tables written by hccl_tools.py, in server order")
    parser.add_argument("--output_dir", default=".")
    args = parser.parse_args(argv)
    tables = []
    for name in args.files:
        try:
            with open(name, encoding="utf-8") as handle:
                table = json.load(handle)
            table["server_list"], table["server_count"]  # noqa: B018  (the keys must exist)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            parser.error(f"{name}: not a rank table ({exc.__class__.__name__}: {exc})")
        tables.append(table)
    merged, servers, ranks = merge(tables)
    write_table(merged, args.output_dir, f"hccl_{servers}s_{ranks}p.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
