#!/usr/bin/env python3
"""Kernel-side UDP echo server for the lab: udp_echo.py [HOST] PORT. Sends every datagram back
to its sender unchanged. Prints "udp_echo: listening on HOST:PORT" once bound."""
import socket
import sys


def main():
    host, port = ("0.0.0.0", sys.argv[1]) if len(sys.argv) == 2 else sys.argv[1:3]
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, int(port)))
    print(f"udp_echo: listening on {host}:{port}", flush=True)
    while True:
        data, peer = sock.recvfrom(65536)
        sock.sendto(data, peer)


if __name__ == "__main__":
    main()
