#!/usr/bin/env python3
"""Kernel-side TCP sink for the lab: sink.py PORT. Reads and discards; prints
"sink: N bytes from HOST:PORT" when a connection ends."""
import socket
import sys
import threading


def serve(conn, peer):
    total = 0
    with conn:
        while True:
            data = conn.recv(1 << 20)
            if not data:
                break
            total += len(data)
    print(f"sink: {total} bytes from {peer[0]}:{peer[1]}", flush=True)


def main():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", int(sys.argv[1])))
    srv.listen(16)
    print(f"sink: listening on port {sys.argv[1]}", flush=True)
    while True:
        conn, peer = srv.accept()
        threading.Thread(target=serve, args=(conn, peer), daemon=True).start()


main()
