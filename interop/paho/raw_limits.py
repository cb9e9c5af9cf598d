#!/usr/bin/env python3
"""MQTT 5.0, broker with max_qos 1 and retain_available false, on the wire: a will
with QoS 2 or with Will Retain is refused in CONNACK (0x9B / 0x9A, Session Present
0); a QoS 2 PUBLISH gets DISCONNECT 0x9B and a retained PUBLISH DISCONNECT 0x9A;
the broker then closes the connection."""
import argparse
import sys

from raw_redelivery import Conn, Fail, s16


def will_connect(c, cid, flags):
    c.send(0x10, s16(b"MQTT") + bytes([5, 0x02 | 0x04 | flags, 0, 60]) + b"\x00" + s16(cid) + b"\x00"
           + s16(b"will/t") + s16(b"will"))
    return c.read()


def closed(c):
    try:
        c.read()
    except Fail:
        return True
    except OSError:
        return True
    return False


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    a = p.parse_args()
    cases = [
        ("will QoS 2", lambda c: will_connect(c, b"w-qos", 2 << 3), (0x20, b"\x00\x9b")),
        ("will retain", lambda c: will_connect(c, b"w-retain", 0x20), (0x20, b"\x00\x9a")),
        ("QoS 2 PUBLISH", lambda c: (c.connect(b"p-qos", True), c.publish(b"t", b"x", 2, 5), c.read())[2], (0xE0, b"\x9b")),
        ("retained PUBLISH", lambda c: (c.connect(b"p-retain", True), c.send(0x31, s16(b"t") + b"\x00x"), c.read())[2],
         (0xE0, b"\x9a")),
    ]
    failed = []
    for name, action, (kind, prefix) in cases:
        c = Conn(a.port, True)
        try:
            first, body = action(c)
            if first != kind or not body.startswith(prefix):
                failed.append("%s: got %x %r" % (name, first, body))
            elif not closed(c):
                failed.append("%s: connection left open" % name)
        except (Fail, OSError) as e:
            failed.append("%s: %s" % (name, e))
        c.close()
    print("FAIL: " + "; ".join(failed) if failed else "OK")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
