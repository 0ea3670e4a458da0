"""Write an Ascend rank table (HCCL JSON) for one server, in the upstream ModelZoo format.

    python scripts/hccl_tools.py --device_num "[0,8)" [--visible_devices "0,1,2,3,4,5,6,7"] [--server_ip IP]
        [--hccn_conf /etc/hccn.conf] [--device_ips "0:192.98.92.100,1:..." | "192.98.92.100,..."] [--output_dir DIR]

Device IPs come from ``--device_ips`` when given, else ``hccn_tool -i <id> -ip -g`` when that tool is installed,
else the ``address_<id>=<ip>`` lines of ``/etc/hccn.conf`` (``--hccn_conf``).  ``--device_num "[a,b)"`` takes the
devices a..b-1; as upstream the range must lie within [0,4) or [4,8), or be exactly [0,8).  The table is written
to ``hccl_<N>p_<ids>_<server_ip>.json`` (e.g. ``hccl_8p_01234567_10.0.0.1.json``) and its path printed; feed it
to ``scripts/run_distribute_train.sh RANK_TABLE_FILE DATA_PATH`` (several servers: ``merge_hccl.py``).
"""
import argparse
import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="write an HCCL rank table for the devices of this server")
    parser.add_argument("--device_num", default="[0,8)", help="devices [start,end), e.g. \"[0,8)\" or \"[4,8)\"")
    parser.add_argument("--visible_devices", default="0,1,2,3,4,5,6,7", help="physical ids of the devices 0..7")
    parser.add_argument("--server_ip", default="", help="server_id of this server (default: this host's IP)")
    parser.add_argument("--hccn_conf", default="/etc/hccn.conf", help="file with address_<id>=<ip> lines")
    parser.add_argument("--device_ips", default="", help="'id:ip,...' or 'ip,...' (in device order) instead")
    parser.add_argument("--output_dir", default=".", help="where to write the JSON (default: here)")
    args = parser.parse_args(argv)
    match = re.fullmatch(r"\s*\[\s*(\d+)\s*,\s*(\d+)\s*\)\s*", args.device_num)
    if not match:
        parser.error(f"--device_num {args.device_num!r}: expected a range like \"[0,8)\"")
    first, last = int(match.group(1)), int(match.group(2))
    if first < 0 or last > 8:
        parser.error(f"--device_num {args.device_num}: must lie in [0,8]")
    if first >= last:
        parser.error(f"--device_num {args.device_num}: start must be smaller than end")
    if first < 4 < last and (first, last) != (0, 8):
        parser.error(f"--device_num {args.device_num}: must lie within [0,4) or [4,8), or be exactly [0,8)")
    args.devices = list(range(first, last))
    args.visible = [d.strip() for d in args.visible_devices.split(",") if d.strip()]
    bad = [d for d in args.visible if not d.isdigit()]
    if bad:
        parser.error(f"--visible_devices {args.visible_devices!r}: {bad[0]!r} is not a device id (0-7)")
    repeated = sorted({d for d in args.visible if args.visible.count(d) > 1})
    if repeated:
        parser.error(f"--visible_devices {args.visible_devices!r} lists device {repeated[0]} more than once")
    if args.server_ip and not valid_ip(args.server_ip):
        parser.error(f"--server_ip {args.server_ip!r} is not an IP address (the server_id of the rank table, "
                     f"e.g. 10.0.0.1)")
    if len(args.visible) < last:
        parser.error(f"--visible_devices {args.visible_devices!r} lists {len(args.visible)} device(s); "
                     f"--device_num needs {last}")
    return args, parser


def valid_ip(text, version=None):
    """True for an IP address (of ``version`` 4 or 6 when given)."""
    try:
        address = ipaddress.ip_address(str(text).strip())
    except ValueError:
        return False
    return version is None or address.version == version


def ips_from_option(text, ids):
    items = [item.strip() for item in text.split(",") if item.strip()]
    if all(":" in item for item in items) and not all(valid_ip(item) for item in items):  # id:ip (not IPv6)
        pairs = [item.split(":", 1) for item in items]
        seen = [device for device, _ in pairs]
        repeated = sorted({d for d in seen if seen.count(d) > 1})
        if repeated:
            raise ValueError(f"device {repeated[0]} is given more than once")
        return {device.strip(): ip.strip() for device, ip in pairs}
    if len(items) < len(ids):
        raise ValueError(f"{len(items)} IP(s) for {len(ids)} device(s)")
    return dict(zip(ids, items))


def check_device_ips(ips, ids):
    """Device IPs must be IPv4 addresses, one per device, none shared: else a ValueError naming the first."""
    for device in ids:
        if not valid_ip(ips[device], 4):
            raise ValueError(f"device {device}: {ips[device]!r} is not an IPv4 address")
    chosen = [ips[device] for device in ids]
    repeated = sorted({ip for ip in chosen if chosen.count(ip) > 1})
    if repeated:
        raise ValueError(f"{repeated[0]} is the IP of more than one device")


def ips_from_hccn_tool(ids):
    if not shutil.which("hccn_tool"):
        return {}
    found = {}
    for device_id in ids:
        out = subprocess.run(["hccn_tool", "-i", str(device_id), "-ip", "-g"], capture_output=True, text=True)
        for line in out.stdout.splitlines():
            if line.strip().startswith("ipaddr"):
                found[str(device_id)] = line.split(":", 1)[1].strip()
    return found


def ips_from_hccn_conf(path):
    found = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if line.startswith("address_") and "=" in line:
                key, value = line.split("=", 1)
                found[key[len("address_"):].strip()] = value.strip()
    return found


def host_ip():
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def build_table(server_id, device_ids, device_ips):
    devices = [{"device_id": str(d), "device_ip": device_ips[str(d)], "rank_id": str(rank)}
               for rank, d in enumerate(device_ids)]
    return {"version": "1.0", "server_count": "1",
            "server_list": [{"server_id": server_id, "device": devices, "host_nic_ip": "reserve"}],
            "status": "completed"}


def write_table(table, output_dir, name):
    """Write a rank table as upstream (JSON, indent 4) and print its path."""
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, name)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(table, handle, indent=4)
    print(path)
    return path


def main(argv=None):
    args, parser = parse_args(argv)
    ids = [args.visible[i] for i in args.devices]
    if args.device_ips:
        try:
            ips = ips_from_option(args.device_ips, ids)
        except ValueError as exc:
            parser.error(f"--device_ips: {exc}")
    else:
        ips = ips_from_hccn_tool(ids)
        if not all(i in ips for i in ids):
            try:
                ips = ips_from_hccn_conf(args.hccn_conf)
            except OSError as exc:
                parser.error(f"no device IPs: hccn_tool is not available and {args.hccn_conf} cannot be read "
                             f"({exc.strerror}); pass --hccn_conf FILE or --device_ips")
    missing = [i for i in ids if i not in ips]
    if missing:
        parser.error(f"no IP for device(s) {', '.join(missing)} (looked in "
                     f"{'--device_ips' if args.device_ips else args.hccn_conf})")
    try:
        check_device_ips(ips, ids)
    except ValueError as exc:
        parser.error(f"{'--device_ips' if args.device_ips else args.hccn_conf}: {exc}")
    server_id = args.server_ip or host_ip()
    write_table(build_table(server_id, ids, ips), args.output_dir, f"hccl_{len(ids)}p_{''.join(ids)}_{server_id}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
