#!/usr/bin/env python3
"""Redelivery on session resumption, checked on the wire: the broker re-sends an
unacknowledged QoS 1 and QoS 2 PUBLISH with DUP 1 and the original Packet
Identifier, in the original order, and an unacknowledged PUBREL; a QoS 2 PUBLISH
re-sent by a publisher before PUBREL is delivered once."""
import argparse
import socket
import sys


class Fail(Exception):
    pass


def varint(n):
    out = b""
    while True:
        b, n = n % 128, n // 128
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def s16(b):
    return len(b).to_bytes(2, "big") + b


class Conn:
    def __init__(self, port, v5):
        self.v5 = v5
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)

    def send(self, first, body):
        self.s.sendall(bytes([first]) + varint(len(body)) + body)

    def read(self):
        def exactly(n):
            data = b""
            while len(data) < n:
                chunk = self.s.recv(n - len(data))
                if not chunk:
                    raise Fail("connection closed")
                data += chunk
            return data
        first = exactly(1)[0]
        length, shift = 0, 0
        while True:
            b = exactly(1)[0]
            length += (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        return first, exactly(length)

    def props(self):
        return b"\x00" if self.v5 else b""

    def connect(self, client_id, clean):
        flags = 0x02 if clean else 0x00
        props = b"\x05\x11\x00\x00\x01\x2c" if self.v5 else b""  # Session Expiry 300
        self.send(0x10, s16(b"MQTT") + bytes([5 if self.v5 else 4, flags, 0, 60]) + props + s16(client_id))
        first, body = self.read()
        if first != 0x20 or body[1] != 0:
            raise Fail("CONNACK %x %r" % (first, body))
        return body[0] & 1  # session present

    def subscribe(self, topic, qos):
        self.send(0x82, b"\x00\x01" + self.props() + s16(topic) + bytes([qos]))
        first, body = self.read()
        if first != 0x90:
            raise Fail("no SUBACK: %x" % first)

    def publish(self, topic, payload, qos, pid, dup=False):
        self.send(0x30 | (0x08 if dup else 0) | (qos << 1), s16(topic) + pid.to_bytes(2, "big") + self.props() + payload)

    def ack(self, kind, pid):
        self.send(kind, pid.to_bytes(2, "big"))

    def read_publish(self):
        first, body = self.read()
        if first >> 4 != 3:
            raise Fail("expected PUBLISH, got packet type %d" % (first >> 4))
        tlen = int.from_bytes(body[:2], "big")
        topic = body[2:2 + tlen]
        pid = int.from_bytes(body[2 + tlen:4 + tlen], "big")
        rest = body[4 + tlen:]
        if self.v5:
            rest = rest[1 + rest[0]:]  # short property lengths only
        return {"dup": bool(first & 0x08), "qos": (first >> 1) & 3, "topic": topic, "pid": pid, "payload": rest}

    def expect(self, kind, pid, what):
        first, body = self.read()
        if first != kind or int.from_bytes(body[:2], "big") != pid:
            raise Fail("expected %s for %d, got %x %r" % (what, pid, first, body))

    def quiet(self):
        """Nothing else is pending: the next packet after PINGREQ is PINGRESP."""
        self.send(0xC0, b"")
        first, body = self.read()
        if first != 0xD0:
            raise Fail("unexpected packet %x %r before PINGRESP" % (first, body))

    def close(self):
        self.s.close()


def scenario(port, v5, prefix):
    topic = prefix.encode() + b"/redelivery"
    cid = prefix.encode() + b"-sub"
    sub = Conn(port, v5)
    sub.connect(cid, True)
    sub.close()
    sub = Conn(port, v5)
    sub.connect(cid, False)
    sub.subscribe(topic, 2)

    pub = Conn(port, v5)
    pub.connect(prefix.encode() + b"-pub", True)
    pub.publish(topic, b"one", 1, 1)
    pub.expect(0x40, 1, "PUBACK")
    pub.publish(topic, b"two", 2, 2)
    pub.expect(0x50, 2, "PUBREC")
    # The publisher re-sends its QoS 2 PUBLISH (as after a lost PUBREC): one delivery only.
    pub.publish(topic, b"two", 2, 2, dup=True)
    pub.expect(0x50, 2, "PUBREC")
    pub.ack(0x62, 2)
    pub.expect(0x70, 2, "PUBCOMP")

    first = [sub.read_publish(), sub.read_publish()]
    if [(m["payload"], m["qos"], m["dup"]) for m in first] != [(b"one", 1, False), (b"two", 2, False)]:
        raise Fail("first delivery %r" % first)
    sub.quiet()  # the re-sent QoS 2 PUBLISH was not delivered again
    sub.close()  # neither acknowledged

    sub = Conn(port, v5)
    if sub.connect(cid, False) != 1:
        raise Fail("session present 0")
    again = [sub.read_publish(), sub.read_publish()]
    want = [(b"one", 1, True, first[0]["pid"]), (b"two", 2, True, first[1]["pid"])]
    got = [(m["payload"], m["qos"], m["dup"], m["pid"]) for m in again]
    if got != want:
        raise Fail("re-sent %r, expected %r" % (got, want))
    sub.ack(0x40, first[0]["pid"])
    sub.ack(0x50, first[1]["pid"])  # PUBREC
    sub.expect(0x62, first[1]["pid"], "PUBREL")
    sub.close()  # PUBREL not completed

    sub = Conn(port, v5)
    if sub.connect(cid, False) != 1:
        raise Fail("session present 0 (second resumption)")
    sub.expect(0x62, first[1]["pid"], "re-sent PUBREL")
    sub.ack(0x70, first[1]["pid"])
    sub.quiet()
    sub.close()
    pub.close()


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--version", type=int, choices=[3, 5], default=5)
    p.add_argument("--prefix", default="raw")
    a = p.parse_args()
    try:
        scenario(a.port, a.version == 5, a.prefix)
    except (Fail, OSError) as e:
        print("FAIL: %s" % e)
        sys.exit(1)
    print("OK")


if __name__ == "__main__":
    main()
