#!/usr/bin/env python3
"""Kernel-side TCP echo server for the lab: echo.py [HOST] PORT (HOST with a colon: IPv6) (TCP_NODELAY, one thread per
connection). Prints "echo: listening on HOST:PORT" once ready."""
import socket
import sys
import threading


def serve(conn):
    with conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            data = conn.recv(65536)
            if not data:
                return
            conn.sendall(data)


def main():
    host, port = ("0.0.0.0", sys.argv[1]) if len(sys.argv) == 2 else sys.argv[1:3]
    srv = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, int(port)))
    srv.listen(1024)
    print(f"echo: listening on {host}:{port}", flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
