#!/usr/bin/env python3
"""MQTT over WebSocket on the wire: the broker selects the "mqtt" sub-protocol,
accepts several MQTT packets in one binary frame and one packet split over
several frames, and closes the connection on a text frame."""
import argparse
import base64
import os
import socket
import sys


class Fail(Exception):
    pass


def ws_connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
               % (port, key)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            raise Fail("closed during the handshake")
        head += chunk
    lines = head.decode("latin-1").split("\r\n")
    if " 101 " not in lines[0]:
        raise Fail("handshake refused: %s" % lines[0])
    protocol = [l.split(":", 1)[1].strip() for l in lines if l.lower().startswith("sec-websocket-protocol:")]
    if protocol != ["mqtt"]:
        raise Fail("sub-protocol selected: %r" % protocol)
    return s


def frame(opcode, payload, fin=True):
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    else:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def read_frame(s):
    def exactly(n):
        data = b""
        while len(data) < n:
            chunk = s.recv(n - len(data))
            if not chunk:
                raise EOFError()
            data += chunk
        return data
    b0, b1 = exactly(2)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(exactly(2), "big")
    elif n == 127:
        n = int.from_bytes(exactly(8), "big")
    return b0 & 0x0F, exactly(n)


def mqtt_bytes(s, want):
    """Reads binary frames until `want` bytes of MQTT data arrived."""
    data = b""
    while len(data) < want:
        op, payload = read_frame(s)
        if op not in (0, 2):
            raise Fail("unexpected frame opcode %d" % op)
        data += payload
    return data


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    a = p.parse_args()
    try:
        s = ws_connect(a.port)
        connect = b"\x10\x0e\x00\x04MQTT\x04\x02\x00\x3c\x00\x02ws"
        subscribe = b"\x82\x08\x00\x01\x00\x03w/t\x01"
        s.sendall(frame(2, connect + subscribe))  # two packets, one frame
        got = mqtt_bytes(s, 4 + 5)
        if got != b"\x20\x02\x00\x00" + b"\x90\x03\x00\x01\x01":
            raise Fail("CONNACK + SUBACK: %r" % got)
        publish = b"\x30\x0a\x00\x03w/thello"
        s.sendall(frame(2, publish[:3], fin=False) + frame(0, publish[3:7], fin=False) + frame(0, publish[7:]))
        got = mqtt_bytes(s, len(publish))
        if got != publish:
            raise Fail("PUBLISH split over frames came back as %r" % got)
        s.sendall(frame(1, b"\xc0\x00"))  # a PINGREQ in a text frame [MQTT-6.0.0-1]
        s.settimeout(5)
        try:
            while True:
                op, _ = read_frame(s)
                if op == 8:  # close frame: the broker closes
                    break
                if op == 2:
                    raise Fail("answered MQTT data sent in a text frame")
        except socket.timeout:
            raise Fail("connection still open 5 s after a text frame")
        except (EOFError, ConnectionError):
            pass
        s.close()
    except (Fail, OSError, EOFError) as e:
        print("FAIL: %s" % (e or type(e).__name__))
        sys.exit(1)
    print("OK")


if __name__ == "__main__":
    main()
