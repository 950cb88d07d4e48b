#!/usr/bin/env python3
"""Kernel-side client for dispatch_echo: dispatch_probe.py HOST BASE PROCS CONNS.

For each process q < PROCS, opens CONNS connections (fresh source ports, so the device spreads
them over its queues) to HOST:BASE+q, expects the greeting "proc=q", sends 100 patterned bytes
and expects them back. Prints one line per port; exits 1 at the first difference."""
import socket
import sys


def main():
    host, base, procs, conns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    for q in range(procs):
        port = base + q
        for i in range(conns):
            with socket.create_connection((host, port), timeout=5) as s:
                f = s.makefile("rb")
                greeting = f.readline().decode().strip()
                if greeting != f"proc={q}":
                    print(f"dispatch_probe: port {port} connection {i}: greeting {greeting!r}, expected 'proc={q}'")
                    sys.exit(1)
                data = bytes((i * 7 + k + q) % 256 for k in range(100))
                s.sendall(data)
                got = f.read(100)
                if got != data:
                    print(f"dispatch_probe: port {port} connection {i}: echo differs ({len(got)} bytes)")
                    sys.exit(1)
        print(f"dispatch_probe: {conns} connections to port {port} answered by proc={q}, echoes exact", flush=True)


main()
