#!/usr/bin/env python3
"""Persistent session: QoS 1 and 2 messages published while the subscriber is away
are delivered when it comes back with Clean Session 0 / Clean Start 0; Clean
Start 1 discards the session."""
from paho_common import Peer, check, main, parser


def scenario(args):
    cid = args.prefix + "-persistent"
    topic = args.prefix + "/session"
    expiry = 300 if args.version == 5 else None
    first = Peer(args, client_id=cid, clean=False, session_expiry=expiry)
    present, _ = first.connect()
    check(present == 0, "session present on the very first connection")
    first.subscribe(topic + "/+", 2)
    first.disconnect()

    pub = Peer(args)
    pub.connect()
    for i, q in enumerate((1, 2, 1, 2)):
        pub.publish("%s/q%d" % (topic, q), "while-away-%d" % i, qos=q)
    pub.disconnect()

    back = Peer(args, client_id=cid, clean=False, session_expiry=expiry)
    present, _ = back.connect()
    check(present == 1, "session present 0 on return")
    back.wait_messages(4)
    # Order is kept per topic only (Paho hands QoS 2 messages over at PUBREL, after
    # QoS 1 messages that arrived later).
    got = sorted(((m.topic, m.payload.decode(), m.qos) for m in back.quiet(0.3)), key=lambda t: t[0])
    want = sorted((("%s/q%d" % (topic, q), "while-away-%d" % i, q) for i, q in enumerate((1, 2, 1, 2))), key=lambda t: t[0])
    check(got == want, "received %s, expected %s" % (got, want))
    back.disconnect()

    fresh = Peer(args, client_id=cid, clean=True)
    present, _ = fresh.connect()
    check(present == 0, "session present 1 after a clean start")
    fresh.disconnect()


if __name__ == "__main__":
    main(scenario, parser(__doc__).parse_args())
