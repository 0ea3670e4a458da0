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
from hccl_tools import valid_ip, write_table  # noqa: E402  (the sibling script)


def check_table(table, name):
    """The upstream schema: server_list of servers with a server_id and devices with device_id, device_ip (IPv4)
    and rank_id, server_count matching.  Raises ValueError naming the first problem."""
    if not isinstance(table, dict) or not isinstance(table.get("server_list"), list) or not table["server_list"]:
        raise ValueError("no server_list")
    if str(table.get("server_count")) != str(len(table["server_list"])):
        raise ValueError(f"server_count {table.get('server_count')!r} but {len(table['server_list'])} server(s) listed")
    for index, server in enumerate(table["server_list"]):
        where = f"server {index + 1}"
        if not isinstance(server, dict) or not isinstance(server.get("server_id"), str) or not server["server_id"]:
            raise ValueError(f"{where} has no server_id")
        where = f"server {server['server_id']}"
        devices = server.get("device")
        if not isinstance(devices, list) or not devices:
            raise ValueError(f"{where} has no device list")
        ids = []
        for device in devices:
            if not isinstance(device, dict) or not {"device_id", "device_ip", "rank_id"} <= set(device):
                raise ValueError(f"{where}: a device entry lacks device_id / device_ip / rank_id")
            if not str(device["device_id"]).isdigit():
                raise ValueError(f"{where}: device_id {device['device_id']!r} is not a number")
            if not valid_ip(device["device_ip"], 4):
                raise ValueError(f"{where}: device_ip {device['device_ip']!r} is not an IPv4 address")
            ids.append(str(device["device_id"]))
        repeated = sorted({d for d in ids if ids.count(d) > 1})
        if repeated:
            raise ValueError(f"{where} lists device {repeated[0]} more than once")
        ips = [str(device["device_ip"]) for device in devices]
        repeated = sorted({ip for ip in ips if ips.count(ip) > 1})
        if repeated:
            raise ValueError(f"{where} lists device_ip {repeated[0]} more than once")


def check_merge(tables, names):
    """The same server must not appear twice across the files (e.g. one file given twice)."""
    servers = {}
    for table, name in zip(tables, names):
        for server in table["server_list"]:
            if server["server_id"] in servers:
                raise ValueError(f"server {server['server_id']} is in {servers[server['server_id']]} and in {name}; "
                                 f"give each server's rank table once")
            servers[server["server_id"]] = name


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
        except OSError as exc:
            parser.error(f"{name}: cannot be read ({exc.strerror})")
        except ValueError as exc:
            parser.error(f"{name}: not JSON ({exc})")
        try:
            check_table(table, name)
        except ValueError as exc:
            parser.error(f"{name}: not a valid rank table: {exc}")
        tables.append(table)
    try:
        check_merge(tables, args.files)
    except ValueError as exc:
        parser.error(str(exc))
    merged, servers, ranks = merge(tables)
    write_table(merged, args.output_dir, f"hccl_{servers}s_{ranks}p.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
