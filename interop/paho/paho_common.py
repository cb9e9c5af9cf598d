"""Shared pieces of the Paho interop scripts (paho-mqtt 1.6): command-line options,
a client wrapper with bounded waits, and failure reporting.

Each script connects to the broker the Catch2 test started, runs one scenario,
prints "OK" and exits 0, or prints "FAIL: why" and exits 1. Every wait is bounded.
"""
import argparse
import socket
import sys
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.subscribeoptions import SubscribeOptions

TIMEOUT = 10.0


class Failure(Exception):
    pass


def check(cond, why):
    if not cond:
        raise Failure(why)


def parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--version", type=int, choices=[3, 5], default=5, help="3 = MQTT 3.1.1, 5 = MQTT 5.0")
    p.add_argument("--transport", choices=["tcp", "websockets"], default="tcp")
    p.add_argument("--ca", help="CA file: connect with TLS")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--prefix", default="paho", help="topic and client id prefix")
    return p


def main(scenario, args):
    try:
        scenario(args)
    except Failure as e:
        print("FAIL: %s" % e)
        sys.exit(1)
    print("OK")
    sys.exit(0)


def props(packet_type, **values):
    p = Properties(packet_type)
    for k, v in values.items():
        setattr(p, k, v)
    return p


class Peer:
    """A Paho client on its own network thread, with what it received kept for checks."""

    def __init__(self, args, client_id="", clean=True, session_expiry=None, will=None, user=None, password=None):
        self.args = args
        self.v5 = args.version == 5
        self.clean = clean
        self.session_expiry = session_expiry
        kw = {} if self.v5 else {"clean_session": clean}
        self.c = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311,
                             transport=args.transport, **kw)
        if args.transport == "websockets":
            self.c.ws_set_options(path="/mqtt")
        if args.ca:
            self.c.tls_set(ca_certs=args.ca)
        user = user if user is not None else args.user
        password = password if password is not None else args.password
        if user is not None:
            self.c.username_pw_set(user, password)
        if will:
            self.c.will_set(**will)
        self.cv = threading.Condition()
        self.connacks = []      # (session_present, reason code as int, properties)
        self.messages = []      # paho MQTTMessage
        self.subacks = {}       # mid -> list of int codes
        self.disconnects = []   # reason codes as int
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.c.on_subscribe = self._on_subscribe
        self.c.on_disconnect = self._on_disconnect

    # Callbacks (network thread).
    def _on_connect(self, c, u, flags, rc, properties=None):
        with self.cv:
            code = rc.value if hasattr(rc, "value") else int(rc)
            self.connacks.append((flags.get("session present", 0), code, properties))
            self.cv.notify_all()

    def _on_message(self, c, u, msg):
        with self.cv:
            self.messages.append(msg)
            self.cv.notify_all()

    def _on_subscribe(self, c, u, mid, granted, properties=None):
        with self.cv:
            self.subacks[mid] = [g.value if hasattr(g, "value") else int(g) for g in granted]
            self.cv.notify_all()

    def _on_disconnect(self, c, u, rc, properties=None):
        with self.cv:
            self.disconnects.append(rc.value if hasattr(rc, "value") else int(rc))
            self.cv.notify_all()

    def wait(self, pred, why, timeout=TIMEOUT):
        with self.cv:
            if not self.cv.wait_for(pred, timeout):
                raise Failure("timed out waiting for " + why)

    def connect(self, expect=0):
        """Connects and waits for CONNACK; returns (session_present, code)."""
        kw = {}
        if self.v5:
            kw["clean_start"] = self.clean
            if self.session_expiry is not None:
                kw["properties"] = props(PacketTypes.CONNECT, SessionExpiryInterval=self.session_expiry)
        self.c.connect(self.args.host, self.args.port, keepalive=30, **kw)
        self.c.loop_start()
        self.wait(lambda: self.connacks, "CONNACK")
        present, code, _ = self.connacks[0]
        check(code == expect, "CONNACK code %d, expected %d" % (code, expect))
        if code != 0:
            self.c.loop_stop()  # paho would retry a refused connection
        return present, code

    def subscribe(self, topic, qos, sub_id=None, expect=None, no_local=False):
        kw = {}
        if self.v5:
            kw["options"] = SubscribeOptions(qos=qos, noLocal=no_local)
            if sub_id is not None:
                kw["properties"] = props(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=sub_id)
            rc, mid = self.c.subscribe(topic, **kw)
        else:
            rc, mid = self.c.subscribe(topic, qos)
        check(rc == mqtt.MQTT_ERR_SUCCESS, "subscribe not sent: %d" % rc)
        self.wait(lambda: mid in self.subacks, "SUBACK")
        codes = self.subacks[mid]
        want = [qos] if expect is None else [expect]
        check(codes == want, "SUBACK %s for %s, expected %s" % (codes, topic, want))
        return codes

    def publish(self, topic, payload, qos=0, retain=False, properties=None):
        info = self.c.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        check(info.rc == mqtt.MQTT_ERR_SUCCESS, "publish not sent: %d" % info.rc)
        info.wait_for_publish(TIMEOUT)
        check(info.is_published(), "publish on %s not acknowledged" % topic)

    def wait_messages(self, n, timeout=TIMEOUT):
        self.wait(lambda: len(self.messages) >= n, "%d messages (have %d)" % (n, len(self.messages)), timeout)
        return list(self.messages)

    def quiet(self, seconds=0.5):
        """Lets late messages arrive (used only before asserting that none came)."""
        time.sleep(seconds)
        with self.cv:
            return list(self.messages)

    def disconnect(self):
        self.c.disconnect()
        self.c.loop_stop()

    def drop(self):
        """Closes the network connection without DISCONNECT (an abnormal end)."""
        self.c.loop_stop()
        sock = self.c.socket()
        if sock is not None:
            raw = getattr(sock, "_socket", sock)  # under a WebSocket wrapper
            try:
                raw.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            raw.close()
