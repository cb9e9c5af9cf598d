#!/usr/bin/env python3
"""QoS 0, 1 and 2 publish/subscribe through the broker: every message arrives once,
at the QoS of the publish, in order."""
from paho_common import Peer, check, main, parser


def scenario(args):
    sub = Peer(args, client_id=args.prefix + "-sub")
    pub = Peer(args, client_id=args.prefix + "-pub")
    sub.connect()
    pub.connect()
    expected = []
    for q in (0, 1, 2):
        topic = "%s/qos%d" % (args.prefix, q)
        sub.subscribe(topic, q)
        for i in range(3):
            payload = "q%d-m%d" % (q, i)
            pub.publish(topic, payload, qos=q)
            expected.append((topic, payload, q))
        sub.wait_messages(len(expected))
    got = [(m.topic, m.payload.decode(), m.qos) for m in sub.quiet(0.3)]
    check(got == expected, "received %s, expected %s" % (got, expected))
    check(not any(m.retain for m in sub.messages), "a live message arrived with RETAIN 1")
    pub.disconnect()
    sub.disconnect()


if __name__ == "__main__":
    main(scenario, parser(__doc__).parse_args())
