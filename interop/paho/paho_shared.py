#!/usr/bin/env python3
"""MQTT 5.0 shared subscription $share/g/TOPIC: each message goes to exactly one of
two subscribers, alternating between them, at the QoS granted to the subscription
(QoS 2 publishes, QoS 1 subscriptions)."""
from paho_common import Peer, check, main, parser


def scenario(args):
    topic = args.prefix + "/shared"
    a, b, pub = Peer(args), Peer(args), Peer(args)
    for p in (a, b, pub):
        p.connect()
    a.subscribe("$share/g/" + topic, 1)
    b.subscribe("$share/g/" + topic, 1)
    sent = ["m%d" % i for i in range(10)]
    for s in sent:
        pub.publish(topic, s, qos=2)
    a.wait(lambda: len(a.messages) + len(b.messages) >= 10, "10 messages in all")
    got_a = [m.payload.decode() for m in a.quiet(0.3)]
    got_b = [m.payload.decode() for m in b.messages]
    check(sorted(got_a + got_b) == sorted(sent), "a got %s, b got %s" % (got_a, got_b))
    check(len(got_a) == 5 and len(got_b) == 5, "not round robin: a got %s, b got %s" % (got_a, got_b))
    check(all(m.topic == topic for m in a.messages + b.messages), "topic name changed")
    check(all(m.qos == 1 for m in a.messages + b.messages), "not delivered at the granted QoS 1")
    for p in (a, b, pub):
        p.disconnect()


if __name__ == "__main__":
    main(scenario, parser(__doc__).parse_args())
