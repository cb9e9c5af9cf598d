#!/usr/bin/env python3
"""MQTT 3.1.1 CONNECT refusals checked on the wire (no client library in between):
an empty client id with Clean Session 0 gets CONNACK 0x02, an unsupported protocol
level gets CONNACK 0x01; both with Session Present 0, then the broker closes."""
import argparse
import socket
import sys


def connect_packet(level, client_id, clean):
    name = b"\x00\x04MQTT"
    flags = 0x02 if clean else 0x00
    body = name + bytes([level, flags, 0x00, 0x3C]) + len(client_id).to_bytes(2, "big") + client_id
    return bytes([0x10, len(body)]) + body


def exchange(port, packet):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(packet)
    data = b""
    while True:  # until the broker closes (bounded by the socket timeout)
        chunk = s.recv(64)
        if not chunk:
            break
        data += chunk
    s.close()
    return data


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    a = p.parse_args()
    cases = [
        ("empty client id, clean session 0", connect_packet(4, b"", False), b"\x20\x02\x00\x02"),
        ("protocol level 7", connect_packet(7, b"raw", True), b"\x20\x02\x00\x01"),
    ]
    failed = False
    for name, packet, want in cases:
        try:
            got = exchange(a.port, packet)
        except OSError as e:
            got = ("error: %s" % e).encode()
        if got != want:
            print("FAIL: %s: got %r, expected %r then close" % (name, got, want))
            failed = True
    if not failed:
        print("OK")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
