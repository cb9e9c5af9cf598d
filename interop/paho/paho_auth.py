#!/usr/bin/env python3
"""CONNACK codes on a password listener: right credentials 0; wrong password 4
(3.1.1) / 0x86 (5.0); no user name 5 (3.1.1) / 0x87 (5.0)."""
from paho_common import Peer, check, main, parser


def scenario(args):
    v5 = args.version == 5
    ok = Peer(args)
    ok.connect(expect=0)
    ok.disconnect()
    Peer(args, password="wrong-" + (args.password or "")).connect(expect=0x86 if v5 else 4)
    anon = Peer(args)
    anon.c.username_pw_set(None)  # no user name, no password
    anon.connect(expect=0x87 if v5 else 5)
    check(True, "")


if __name__ == "__main__":
    main(scenario, parser(__doc__).parse_args())
