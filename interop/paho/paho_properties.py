#!/usr/bin/env python3
"""MQTT 5.0 properties through the broker: user properties (order kept), content
type, response topic, correlation data, payload format, message expiry; and
subscription identifiers of overlapping subscriptions."""
from paho_common import PacketTypes, Peer, check, main, parser, props


def scenario(args):
    topic = args.prefix + "/props"
    sub, pub = Peer(args), Peer(args)
    sub.connect()
    pub.connect()
    sub.subscribe(topic, 1)
    user = [("k1", "v1"), ("k2", "v2"), ("k1", "v3")]
    p = props(PacketTypes.PUBLISH, UserProperty=user, ContentType="application/json", ResponseTopic=topic + "/reply",
              CorrelationData=b"corr-42", PayloadFormatIndicator=1, MessageExpiryInterval=3600)
    pub.publish(topic, "{}", qos=1, properties=p)
    m = sub.wait_messages(1)[0]
    r = m.properties
    check(getattr(r, "UserProperty", None) == user, "user properties %s" % getattr(r, "UserProperty", None))
    check(getattr(r, "ContentType", None) == "application/json", "content type")
    check(getattr(r, "ResponseTopic", None) == topic + "/reply", "response topic")
    check(getattr(r, "CorrelationData", None) == b"corr-42", "correlation data")
    check(getattr(r, "PayloadFormatIndicator", None) == 1, "payload format indicator")
    expiry = getattr(r, "MessageExpiryInterval", None)
    check(expiry is not None and 3590 <= expiry <= 3600, "message expiry %s" % expiry)

    # Overlapping subscriptions with identifiers 7 and 9: either one PUBLISH with both
    # or one PUBLISH per subscription, each with its own.
    ids = Peer(args)
    ids.connect()
    ids.subscribe(topic + "/sid/#", 1, sub_id=7)
    ids.subscribe(topic + "/sid/+", 1, sub_id=9)
    ids.subscribe(topic + "/other", 1)
    pub.publish(topic + "/sid/x", "both", qos=1)
    pub.publish(topic + "/other", "none", qos=1)
    ids.wait(lambda: any(m.topic == topic + "/other" for m in ids.messages), "the message without identifier")
    seen = []
    for m in ids.quiet(0.3):
        sid = getattr(m.properties, "SubscriptionIdentifier", [])
        seen.append((m.topic, sorted(sid if isinstance(sid, list) else [sid])))
    both = [s for t, s in seen if t == topic + "/sid/x"]
    check(both in ([[7, 9]], [[7], [9]], [[9], [7]]), "identifiers %s" % seen)
    check([s for t, s in seen if t == topic + "/other"] == [[]], "identifier on a subscription without one: %s" % seen)
    for peer in (sub, pub, ids):
        peer.disconnect()


if __name__ == "__main__":
    main(scenario, parser(__doc__).parse_args())
