#!/usr/bin/env python3
"""Keep alive on the wire: a client that connects with Keep Alive 1 s, answers
one PINGREQ, then stays silent is disconnected by the broker (bounded wait)."""
import argparse
import socket
import sys
import time


def connect_packet(v5):
    body = b"\x00\x04MQTT" + bytes([5 if v5 else 4, 0x02, 0x00, 0x01])
    if v5:
        body += b"\x00"  # no properties
    body += b"\x00\x02ka"
    return bytes([0x10, len(body)]) + body


def read_exactly(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise EOFError("closed after %r" % data)
        data += chunk
    return data


def scenario(port, v5):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(connect_packet(v5))
    head = read_exactly(s, 2)
    ack = read_exactly(s, head[1])
    if head[0] != 0x20 or ack[1] != 0:
        return "CONNACK %r %r" % (head, ack)
    s.sendall(b"\xc0\x00")  # PINGREQ
    if read_exactly(s, 2) != b"\xd0\x00":
        return "no PINGRESP"
    deadline = time.monotonic() + 6  # 1.5 x keep alive is 1.5 s; generous bound
    s.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(64)
        except socket.timeout:
            continue
        except OSError:
            return None  # reset: closed
        if not chunk:
            return None  # closed (5.0 may send DISCONNECT 0x8D first)
        if not v5 or chunk[0] != 0xE0:
            return "unexpected bytes %r" % chunk
    return "still connected after 6 s of silence with Keep Alive 1"


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--version", type=int, choices=[3, 5], default=5)
    a = p.parse_args()
    why = scenario(a.port, a.version == 5)
    print("FAIL: " + why if why else "OK")
    sys.exit(1 if why else 0)


if __name__ == "__main__":
    main()
