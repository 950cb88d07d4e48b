#!/usr/bin/env python3
"""Kernel-side multicast sender for the lab:
    mcast_send.py GROUP PORT IFACE_ADDR SEQ[:LEN]...
Sends one datagram per SEQ to GROUP:PORT out of the interface with address IFACE_ADDR
(IP_MULTICAST_IF), each starting with SEQ as an 8-byte big-endian number and LEN bytes long
(default 64), 2 ms apart. Prints "mcast_send: sent N datagrams to GROUP:PORT"."""
import socket
import struct
import sys
import time


def main():
    group, port, iface = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(iface))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    n = 0
    for spec in sys.argv[4:]:
        seq, _, length = spec.partition(":")
        length = int(length or 64)
        head = struct.pack(">Q", int(seq))
        sock.sendto((head + bytes(range(256)) * 256)[:length], (group, port))
        n += 1
        time.sleep(0.002)
    print(f"mcast_send: sent {n} datagrams to {group}:{port}", flush=True)


if __name__ == "__main__":
    main()
