#!/usr/bin/env python3
"""Centrifugo subscription tokens (the `token` of `subscribe`) on
/connection/websocket of a real `sluice serve --jwt-secret-file`, with tokens
made independently by PyJWT (python3-jwt): a channel the connection token
does not grant is error 103 without a token and allowed with a subscription
token for that channel and user; an expired one is error 109 (the connection
stays); one for another channel or user, a bad signature, or a subscription
token used to connect close with 3500. A subscription made with a token
announces its ttl and ends at its exp (plus --expired-close-delay) with an
unsubscribe push 2501, unless sub_refresh gave it a new token; sub_refresh's
own errors (103 not subscribed, 107 no token, 109 expired, 3500 another
channel); a connection refresh keeps the subscriptions made with tokens.
Loopback, a free port, bounded in time."""
import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time

import jwt
import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import check, fail, sluice_serve  # noqa: E402

TIMEOUT = 15
SECRET = b"sluice-sub-token-test-secret-0123456789abcdef"


def token(key=SECRET, ttl=3600, **claims):
    return jwt.encode({"exp": int(time.time()) + ttl, **claims}, key, algorithm="HS256")


class Client:
    """One Centrifugo-protocol connection: commands with ids, replies by id."""

    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0
        self.pushes = []

    async def call(self, command):
        self.next_id += 1
        await self.ws.send(json.dumps({"id": self.next_id, **command}))
        while True:
            frame = await asyncio.wait_for(self.ws.recv(), TIMEOUT)
            for line in frame.split("\n"):
                if not line:
                    continue
                reply = json.loads(line)
                if reply == {}:
                    await self.ws.send("{}")  # the server's ping
                elif reply.get("id") == self.next_id:
                    return reply
                else:
                    self.pushes.append(reply)

    async def push(self):
        while not self.pushes:
            frame = await asyncio.wait_for(self.ws.recv(), TIMEOUT)
            self.pushes += [json.loads(line) for line in frame.split("\n") if line and line != "{}"]
        return self.pushes.pop(0)


async def closed_with(ws):
    """The close code the server ends the connection with."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    except websockets.ConnectionClosed as e:
        return e.code


async def scenario(url):
    alice = token(sub="alice", publish=["room:vip"], channels=["room:open"])
    async with websockets.connect(url) as ws:
        c = Client(ws)
        reply = await c.call({"connect": {"token": alice}})
        if "connect" not in reply:
            fail(f"connect: {reply}")
        reply = await c.call({"subscribe": {"channel": "room:vip"}})
        if reply.get("error", {}).get("code") != 103:
            fail(f"a channel the connection token does not grant, without a token: {reply}")
        reply = await c.call({"subscribe": {"channel": "room:vip", "token": token(sub="alice", channel="room:vip",
                                                                                       ttl=-60)}})
        if reply.get("error", {}).get("code") != 109:
            fail(f"an expired subscription token: {reply}")
        reply = await c.call({"subscribe": {"channel": "room:vip", "token": token(sub="alice", channel="room:vip")}})
        if "subscribe" not in reply:
            fail(f"a valid subscription token: {reply}")
        reply = await c.call({"publish": {"channel": "room:vip", "data": {"hello": "vip"}}})
        if "publish" not in reply:
            fail(f"publish: {reply}")
        push = await c.push()
        if push.get("push", {}).get("channel") != "room:vip" or push["push"]["pub"]["data"] != {"hello": "vip"}:
            fail(f"the publication on the token's channel: {push}")

    refused = {
        "a token for another channel": token(sub="alice", channel="room:other"),
        "a token for another user": token(sub="bob", channel="room:vip"),
        "a token signed with another secret": token(key=b"another-secret-of-at-least-32-bytes!!", sub="alice",
                                                   channel="room:vip"),
        "a token that is not a JWT": "not-a-token",
    }
    for what, sub_token in refused.items():
        async with websockets.connect(url) as ws:
            c = Client(ws)
            await c.call({"connect": {"token": alice}})
            await ws.send(json.dumps({"id": 99, "subscribe": {"channel": "room:vip", "token": sub_token}}))
            code = await closed_with(ws)
            if code != 3500:
                fail(f"{what}: closed with {code}, not 3500")
    # A subscription token is not a connection token.
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"id": 1, "connect": {"token": token(sub="alice", channel="room:vip")}}))
        code = await closed_with(ws)
        if code != 3500:
            fail(f"a subscription token used to connect: closed with {code}, not 3500")


async def expiry_scenario(url):
    alice = token(sub="alice", publish=["room:a", "room:b"], channels=["room:open"])
    async with websockets.connect(url) as ws:
        c = Client(ws)
        await c.call({"connect": {"token": alice}})
        # Two subscriptions whose tokens end in 2 s: a is refreshed, b is not.
        for channel in ("room:a", "room:b"):
            reply = await c.call({"subscribe": {"channel": channel, "token": token(sub="alice", channel=channel, ttl=2)}})
            result = reply.get("subscribe", {})
            check(result.get("expires") is True and 1 <= result.get("ttl", 0) <= 2, f"subscribe {channel}: {reply}")
        reply = await c.call({"sub_refresh": {"channel": "room:a", "token": token(sub="alice", channel="room:a")}})
        result = reply.get("sub_refresh", {})
        check(result.get("expires") is True and 3500 <= result.get("ttl", 0) <= 3600, f"sub_refresh: {reply}")
        # A connection refresh does not end subscriptions its token does not list but a subscription token allowed.
        reply = await c.call({"refresh": {"token": token(sub="alice", publish=["room:a", "room:b"])}})
        check("refresh" in reply, f"refresh: {reply}")
        # b ends at its exp plus the 1 s delay (2501: the SDK subscribes again with a new token); a goes on.
        push = await c.push()
        check(push.get("push", {}).get("channel") == "room:b" and
              push["push"].get("unsubscribe") == {"code": 2501, "reason": "subscription expired"},
              f"the expiry of room:b: {push}")
        reply = await c.call({"publish": {"channel": "room:a", "data": {"still": "here"}}})
        check("publish" in reply, f"publish on room:a: {reply}")
        push = await c.push()
        check(push.get("push", {}).get("channel") == "room:a" and push["push"].get("pub", {}).get("data") ==
              {"still": "here"}, f"room:a after room:b expired: {push}")
        # sub_refresh's errors.
        reply = await c.call({"sub_refresh": {"channel": "room:b", "token": token(sub="alice", channel="room:b")}})
        check(reply.get("error", {}).get("code") == 103, f"sub_refresh of a channel not subscribed: {reply}")
        reply = await c.call({"sub_refresh": {"channel": "room:a"}})
        check(reply.get("error", {}).get("code") == 107, f"sub_refresh without a token: {reply}")
        reply = await c.call({"sub_refresh": {"channel": "room:a", "token": token(sub="alice", channel="room:a",
                                                                                  ttl=-60)}})
        check(reply.get("error", {}).get("code") == 109, f"sub_refresh with an expired token: {reply}")
        await ws.send(json.dumps({"id": 99, "sub_refresh": {"channel": "room:a",
                                                            "token": token(sub="alice", channel="room:b")}}))
        code = await closed_with(ws)
        check(code == 3500, f"sub_refresh with another channel's token: closed with {code}, not 3500")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sluice", required=True)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="sluice-subtoken-")
    try:
        secret_file = os.path.join(tmp, "secret")
        with open(secret_file, "wb") as f:
            f.write(SECRET)
        with sluice_serve(args.sluice, ["--threads", "1", "--store", "memory", "--jwt-secret-file", secret_file,
                                        "--expired-close-delay", "1"]) as port:
            url = f"ws://127.0.0.1:{port}/connection/websocket"
            asyncio.run(asyncio.wait_for(scenario(url), 60))
            print("OK: subscription tokens: 103 without, allowed with, 109 expired, 3500 for another channel, user, "
                  "secret or garbage, and as a connection token")
            asyncio.run(asyncio.wait_for(expiry_scenario(url), 60))
            print("OK: subscription expiry: ttl announced, 2501 at exp + delay, sub_refresh moves it; sub_refresh "
                  "errors 103, 107, 109, 3500; a connection refresh keeps token subscriptions")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
