#!/usr/bin/env python3
"""Will messages: discarded on a normal DISCONNECT, published when the connection
drops without one."""
from paho_common import PacketTypes, Peer, check, main, parser, props


def scenario(args):
    topic = args.prefix + "/will"
    watcher = Peer(args)
    watcher.connect()
    watcher.subscribe(topic, 1)

    polite = Peer(args, will={"topic": topic, "payload": "normal-bye", "qos": 1})
    polite.connect()
    polite.disconnect()
    marker = Peer(args)
    marker.connect()
    marker.publish(topic, "marker", qos=1)
    marker.disconnect()

    will = {"topic": topic, "payload": "gone", "qos": 1}
    if args.version == 5:
        will["properties"] = props(PacketTypes.WILLMESSAGE, ContentType="text/plain", UserProperty=[("device", "d1")])
    victim = Peer(args, will=will)
    victim.connect()
    victim.drop()
    msgs = watcher.wait_messages(2)
    got = [m.payload.decode() for m in watcher.quiet(0.3)]
    check(got == ["marker", "gone"], "received %s, expected the marker then the will only" % got)
    if args.version == 5:
        p = msgs[1].properties
        check(getattr(p, "ContentType", None) == "text/plain", "will content type lost")
        check(getattr(p, "UserProperty", None) == [("device", "d1")], "will user property lost")
    watcher.disconnect()


if __name__ == "__main__":
    main(scenario, parser(__doc__).parse_args())
