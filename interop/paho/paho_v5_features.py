#!/usr/bin/env python3
"""MQTT 5.0 features through the broker, one per --case: will delay, message
expiry of queued messages, retain handling and retain as published, no local,
session expiry, assigned client identifier, topic aliases."""
import time

from paho_common import PacketTypes, Peer, SubscribeOptions, check, main, parser, props


def subscribe_opts(peer, topic, **options):
    """SUBSCRIBE with explicit subscription options; returns the reason codes."""
    rc, mid = peer.c.subscribe(topic, options=SubscribeOptions(**options))
    check(rc == 0, "subscribe not sent")
    peer.wait(lambda: mid in peer.subacks, "SUBACK")
    return peer.subacks[mid]


def first_after(peer, action, marker_pub, marker_topic):
    """Runs action(), then publishes a marker the peer also subscribed to; returns
    the payloads that arrived up to and including the marker."""
    before = len(peer.messages)
    action()
    marker_pub.publish(marker_topic, "marker", qos=1)
    peer.wait(lambda: any(m.payload == b"marker" for m in peer.messages[before:]), "the marker")
    out = []
    for m in peer.messages[before:]:
        out.append((m.payload.decode(), bool(m.retain)))
        if m.payload == b"marker":
            break
    return out


def will_delay(args):
    topic = args.prefix + "/will-delay"
    watcher = Peer(args)
    watcher.connect()
    watcher.subscribe(topic, 1)
    will = {"topic": topic, "payload": "late", "qos": 1,
            "properties": props(PacketTypes.WILLMESSAGE, WillDelayInterval=2)}
    # Back within the delay: no will.
    first = Peer(args, client_id=args.prefix + "-wd", session_expiry=60, will=will)
    first.connect()
    first.drop()
    back = Peer(args, client_id=args.prefix + "-wd", clean=False, session_expiry=60)
    present, _ = back.connect()
    check(present == 1, "session not resumed")
    check(watcher.quiet(3.0) == [], "will sent although the client came back within the delay")
    back.disconnect()
    # Not back: the will comes once the delay has passed.
    gone = Peer(args, client_id=args.prefix + "-wd2", session_expiry=60,
                will={"topic": topic, "payload": "late", "qos": 1,
                      "properties": props(PacketTypes.WILLMESSAGE, WillDelayInterval=1)})
    gone.connect()
    gone.drop()
    msgs = watcher.wait_messages(1, timeout=8)
    check([m.payload for m in msgs] == [b"late"], "will after the delay: %s" % [m.payload for m in msgs])


def message_expiry(args):
    topic = args.prefix + "/expiry"
    cid = args.prefix + "-exp"
    sub = Peer(args, client_id=cid, session_expiry=60)
    sub.connect()
    sub.subscribe(topic, 1)
    sub.disconnect()
    pub = Peer(args)
    pub.connect()
    pub.publish(topic, "short", qos=1, properties=props(PacketTypes.PUBLISH, MessageExpiryInterval=1))
    pub.publish(topic, "long", qos=1, properties=props(PacketTypes.PUBLISH, MessageExpiryInterval=30))
    pub.publish(topic, "forever", qos=1)
    time.sleep(2.5)
    back = Peer(args, client_id=cid, clean=False, session_expiry=60)
    present, _ = back.connect()
    check(present == 1, "session not resumed")
    back.wait_messages(2)
    got = back.quiet(0.5)
    check([m.payload for m in got] == [b"long", b"forever"], "after expiry got %s" % [m.payload for m in got])
    left = getattr(got[0].properties, "MessageExpiryInterval", None)
    check(left is not None and left <= 28, "expiry not reduced by the time queued: %s" % left)
    check(getattr(got[1].properties, "MessageExpiryInterval", None) is None, "expiry added to a message without one")
    back.disconnect()


def retain_options(args):
    topic = args.prefix + "/rh"
    marker = args.prefix + "/rh-marker"
    pub = Peer(args)
    pub.connect()
    pub.publish(topic, "kept", qos=1, retain=True)
    s = Peer(args)
    s.connect()
    s.subscribe(marker, 1)
    sub = lambda **o: (lambda: subscribe_opts(s, topic, qos=1, **o))
    check(first_after(s, sub(retainHandling=2), pub, marker) == [("marker", False)], "retain handling 2 sent retained")
    s.c.unsubscribe(topic)
    time.sleep(0.2)
    check(first_after(s, sub(retainHandling=1), pub, marker) == [("kept", True), ("marker", False)],
          "retain handling 1, new subscription: no retained message")
    check(first_after(s, sub(retainHandling=1), pub, marker) == [("marker", False)],
          "retain handling 1, existing subscription: retained message sent again")
    check(first_after(s, sub(retainHandling=0), pub, marker) == [("kept", True), ("marker", False)],
          "retain handling 0, existing subscription: retained message not re-sent")
    # Retain As Published: a live retained publish keeps RETAIN 1 for this subscriber only.
    rap = Peer(args)
    rap.connect()
    subscribe_opts(rap, topic, qos=1, retainAsPublished=True, retainHandling=2)
    plain = Peer(args)
    plain.connect()
    subscribe_opts(plain, topic, qos=1, retainHandling=2)
    pub.publish(topic, "live", qos=1, retain=True)
    check([(m.payload, bool(m.retain)) for m in rap.wait_messages(1)] == [(b"live", True)], "retain as published 1")
    check([(m.payload, bool(m.retain)) for m in plain.wait_messages(1)] == [(b"live", False)], "retain as published 0")
    pub.publish(topic, "", qos=1, retain=True)


def no_local(args):
    topic = args.prefix + "/nolocal"
    me = Peer(args, client_id=args.prefix + "-me")
    me.connect()
    subscribe_opts(me, topic, qos=1, noLocal=True)
    subscribe_opts(me, topic + "/echo", qos=1)
    other = Peer(args)
    other.connect()
    other.subscribe(topic, 1)
    me.publish(topic, "mine", qos=1)
    me.publish(topic + "/echo", "echo", qos=1)
    other.wait_messages(1)
    got = [m.payload for m in me.wait_messages(1)]
    check(me.quiet(0.3)[0].payload == b"echo" and len(me.messages) == 1, "no local ignored: %s" % got)


def session_expiry(args):
    cid = args.prefix + "-sx"
    s = Peer(args, client_id=cid, session_expiry=1)
    s.connect()
    s.subscribe(args.prefix + "/sx", 1)
    s.disconnect()
    kept = Peer(args, client_id=cid + "-long", session_expiry=60)
    kept.connect()
    kept.disconnect()
    time.sleep(2.5)
    back = Peer(args, client_id=cid, clean=False, session_expiry=1)
    present, _ = back.connect()
    check(present == 0, "session kept after its expiry interval")
    back.disconnect()
    again = Peer(args, client_id=cid + "-long", clean=False, session_expiry=60)
    present, _ = again.connect()
    check(present == 1, "session with a long expiry interval lost")
    again.disconnect()


def assigned_id(args):
    ids = []
    for _ in range(2):
        p = Peer(args, client_id="")
        p.connect()
        assigned = getattr(p.connacks[0][2], "AssignedClientIdentifier", None)
        check(assigned, "no Assigned Client Identifier in CONNACK")
        ids.append(assigned)
    check(ids[0] != ids[1], "the same identifier assigned twice: %s" % ids)


def topic_alias(args):
    topic = args.prefix + "/alias"
    sub, pub = Peer(args), Peer(args)
    sub.connect()
    pub.connect()
    maximum = getattr(pub.connacks[0][2], "TopicAliasMaximum", 0)
    check(maximum >= 1, "broker allows no topic alias")
    sub.subscribe(topic, 1)
    pub.publish(topic, "set", qos=1, properties=props(PacketTypes.PUBLISH, TopicAlias=1))
    pub.publish("", "used", qos=1, properties=props(PacketTypes.PUBLISH, TopicAlias=1))
    got = [(m.topic, m.payload) for m in sub.wait_messages(2)]
    check(got == [(topic, b"set"), (topic, b"used")], "received %s" % got)


def retained_expiry(args):
    topic = args.prefix + "/retained-expiry"
    pub = Peer(args)
    pub.connect()
    pub.publish(topic + "/short", "short", qos=1, retain=True,
                properties=props(PacketTypes.PUBLISH, MessageExpiryInterval=1))
    pub.publish(topic + "/long", "long", qos=1, retain=True,
                properties=props(PacketTypes.PUBLISH, MessageExpiryInterval=60))
    time.sleep(2.5)
    s = Peer(args)
    s.connect()
    s.subscribe(topic + "/marker", 1)
    got = first_after(s, lambda: s.subscribe(topic + "/+", 1), pub, topic + "/marker")
    check(got == [("long", True), ("marker", False)], "retained after expiry: %s" % got)
    for t in ("/short", "/long"):
        pub.publish(topic + t, "", qos=1, retain=True)


def unsubscribe(args):
    """Both versions: UNSUBSCRIBE compares filters literally, handles several
    filters, always gets UNSUBACK (5.0: one reason code per filter)."""
    topic = args.prefix + "/unsub"
    s, pub = Peer(args), Peer(args)
    s.connect()
    pub.connect()
    s.subscribe(topic + "/a", 1)
    s.subscribe(topic + "/b", 1)
    acks = {}
    done = []

    def on_unsubscribe(c, u, mid, properties=None, reasons=None):
        with s.cv:
            if reasons is not None:
                reasons = reasons if isinstance(reasons, list) else [reasons]
                acks[mid] = [r.value for r in reasons]
            else:
                acks[mid] = None
            done.append(mid)
            s.cv.notify_all()
    s.c.on_unsubscribe = on_unsubscribe
    rc, mid = s.c.unsubscribe([topic + "/+", topic + "/a"])
    check(rc == 0, "unsubscribe not sent")
    s.wait(lambda: mid in done, "UNSUBACK")
    if args.version == 5:
        check(acks[mid] == [0x11, 0x00], "UNSUBACK reason codes %s" % acks[mid])
    pub.publish(topic + "/a", "gone", qos=1)
    pub.publish(topic + "/b", "kept", qos=1)
    s.wait_messages(1)
    got = [(m.topic, m.payload) for m in s.quiet(0.3)]
    check(got == [(topic + "/b", b"kept")], "after UNSUBSCRIBE got %s" % got)


def takeover(args):
    """Both versions: a second connection with the same client id and Clean Start 0
    closes the first and continues its session (subscription kept)."""
    cid = args.prefix + "-takeover"
    expiry = 60 if args.version == 5 else None
    first = Peer(args, client_id=cid, clean=False, session_expiry=expiry)
    first.connect()
    first.subscribe(args.prefix + "/takeover", 1)
    second = Peer(args, client_id=cid, clean=False, session_expiry=expiry)
    present, _ = second.connect()
    check(present == 1, "session not continued by the new connection")
    first.wait(lambda: first.disconnects, "the first connection to be closed")
    first.c.loop_stop()
    pub = Peer(args)
    pub.connect()
    pub.publish(args.prefix + "/takeover", "after", qos=1)
    got = [m.payload for m in second.wait_messages(1)]
    check(got == [b"after"], "after takeover got %s" % got)
    check(first.messages == [], "the old connection still received messages")
    second.disconnect()
    pub.disconnect()


CASES = {f.__name__: f for f in (will_delay, message_expiry, retain_options, no_local, session_expiry, assigned_id,
                                  topic_alias, retained_expiry, unsubscribe, takeover)}

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--case", choices=sorted(CASES), required=True)
    a = p.parse_args()
    main(CASES[a.case], a)
