#!/usr/bin/env python3
"""Kernel-side UDP client for the lab: udp_probe.py HOST PORT COUNT. Sends COUNT datagrams of
sizes cycling through 1, 64, 1472 (one Ethernet frame), 1473 and 8000 (IP fragments) and 0 bytes,
one at a time, and checks that each comes back whole and byte for byte. Prints
"udp_probe: N datagrams echoed byte-exact (B bytes)" and exits 0, or says what differed and
exits 1."""
import os
import socket
import sys

SIZES = [1, 64, 1472, 1473, 8000, 0]


def main():
    host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2.0)
    sock.connect((host, port))
    total = 0
    for i in range(count):
        data = os.urandom(SIZES[i % len(SIZES)])
        sock.send(data)
        try:
            echo = sock.recv(65536)
        except socket.timeout:
            print(f"udp_probe: no echo of datagram {i} ({len(data)} bytes) within 2 s")
            return 1
        if echo != data:
            print(f"udp_probe: echo of datagram {i} differs: sent {len(data)} bytes, got {len(echo)}")
            return 1
        total += len(data)
    print(f"udp_probe: {count} datagrams echoed byte-exact ({total} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
