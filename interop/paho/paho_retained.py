#!/usr/bin/env python3
"""Retained messages: set, replace, not replaced by a non-retained publish, cleared
by an empty retained publish; RETAIN 1 only for messages sent because of a new
subscription."""
from paho_common import Peer, check, main, parser


def first_message(args, topic, marker_from):
    """Subscribes a new client to `topic`, then publishes a live marker; returns
    (payload, retain) of what came first."""
    late = Peer(args)
    late.connect()
    late.subscribe(topic, 1)
    marker_from.publish(topic, "marker", qos=1)
    msgs = late.wait_messages(1)
    late.disconnect()
    return msgs[0].payload.decode(), bool(msgs[0].retain)


def scenario(args):
    topic = args.prefix + "/retained"
    pub = Peer(args)
    pub.connect()
    live = Peer(args)
    live.connect()
    live.subscribe(topic, 1)

    pub.publish(topic, "one", qos=1, retain=True)
    m = live.wait_messages(1)[0]
    check(not m.retain, "an established subscription got RETAIN 1")
    check(first_message(args, topic, pub) == ("one", True), "retained 'one' not delivered with RETAIN 1")

    pub.publish(topic, "two", qos=0, retain=True)  # replaces, even at QoS 0
    check(first_message(args, topic, pub) == ("two", True), "retained message not replaced by 'two'")

    pub.publish(topic, "three", qos=1, retain=False)  # does not touch the retained one
    check(first_message(args, topic, pub) == ("two", True), "a non-retained publish replaced the retained message")

    pub.publish(topic, "", qos=1, retain=True)  # clears it
    # live: one, marker, two, marker, three, marker, then the empty message as usual.
    last = live.wait_messages(7)[6]
    check(last.payload == b"" and not last.retain, "the empty retained publish was not forwarded as usual")
    check(first_message(args, topic, pub) == ("marker", False), "retained message not cleared by an empty payload")
    pub.disconnect()
    live.disconnect()


if __name__ == "__main__":
    main(scenario, parser(__doc__).parse_args())
