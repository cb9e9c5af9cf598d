#!/usr/bin/env python3
"""MQTT 5.0 flow limits the client sets in CONNECT, on the wire: with Receive
Maximum 1 the broker keeps one QoS 1 PUBLISH unacknowledged at a time; with
Maximum Packet Size 64 a larger PUBLISH is dropped for that client, not sent."""
import argparse
import sys

from raw_redelivery import Conn, Fail, s16


def connect_with(c, cid, props):
    c.send(0x10, s16(b"MQTT") + bytes([5, 0x02, 0, 60]) + bytes([len(props)]) + props + s16(cid))
    first, body = c.read()
    if first != 0x20 or body[1] != 0:
        raise Fail("CONNACK %x %r" % (first, body))


def until_pingresp(c):
    """Sends PINGREQ; returns the PUBLISH packets that came before PINGRESP."""
    c.send(0xC0, b"")
    seen = []
    while True:
        first, body = c.read()
        if first == 0xD0:
            return seen
        if first >> 4 != 3:
            raise Fail("unexpected packet %x" % first)
        seen.append((first, body))


def publish_all(port, topic, payloads):
    pub = Conn(port, True)
    pub.connect(b"flow-pub", True)
    for i, p in enumerate(payloads, 1):
        pub.publish(topic, p, 1, i)
        pub.expect(0x40, i, "PUBACK")
    pub.close()


def receive_maximum(port):
    sub = Conn(port, True)
    connect_with(sub, b"flow-rm", b"\x21\x00\x01")  # Receive Maximum 1
    sub.subscribe(b"flow/rm", 1)
    publish_all(port, b"flow/rm", [b"m1", b"m2", b"m3"])
    got = []
    for _ in range(3):
        seen = until_pingresp(sub)
        if len(seen) == 0:
            seen = [sub.read()]  # not there yet: it must come
        if len(seen) != 1:
            raise Fail("%d PUBLISH unacknowledged at once with Receive Maximum 1" % len(seen))
        first, body = seen[0]
        tlen = int.from_bytes(body[:2], "big")
        pid = int.from_bytes(body[2 + tlen:4 + tlen], "big")
        rest = body[4 + tlen:]
        got.append(rest[1 + rest[0]:])
        sub.ack(0x40, pid)
    if got != [b"m1", b"m2", b"m3"]:
        raise Fail("received %r" % got)
    sub.close()


def maximum_packet_size(port):
    sub = Conn(port, True)
    connect_with(sub, b"flow-mps", b"\x27\x00\x00\x00\x40")  # Maximum Packet Size 64
    sub.subscribe(b"flow/mps", 1)
    publish_all(port, b"flow/mps", [b"x" * 100, b"small"])
    m = sub.read_publish()
    if m["payload"] != b"small":
        raise Fail("first PUBLISH received: %r (the 100-byte one must be dropped)" % m["payload"][:16])
    sub.ack(0x40, m["pid"])
    if until_pingresp(sub):
        raise Fail("more PUBLISH packets")
    sub.close()


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    a = p.parse_args()
    failed = []
    for f in (receive_maximum, maximum_packet_size):
        try:
            f(a.port)
        except (Fail, OSError) as e:
            failed.append("%s: %s" % (f.__name__, e))
    print("FAIL: " + "; ".join(failed) if failed else "OK")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
