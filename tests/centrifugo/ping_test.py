#!/usr/bin/env python3
"""Centrifugo's pings on /connection/websocket of a real `sluice serve`: the
connect reply announces the interval; a client that answers every ping ({})
gets one each interval and stays; one that stops answering is closed with
3012 "no pong" within the pong timeout of the next ping; a connection that
never sends connect is closed with 3502 "stale". The three run side by side.
Loopback, a free port, bounded in time."""
import argparse
import asyncio
import json
import os
import sys
import time

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import check, sluice_serve  # noqa: E402

PING_INTERVAL = 1.0
PONG_TIMEOUT = 0.4
STALE_AFTER = 10.0  # the server's connect timeout: at least 10 s, as Centrifugo's
PINGS = 4


async def connect(url):
    ws = await websockets.connect(url, subprotocols=["centrifuge-json"])
    await ws.send(json.dumps({"id": 1, "connect": {}}))
    reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
    result = reply.get("connect", {})
    check(result.get("ping") == PING_INTERVAL and result.get("pong") is True,
          f"the connect reply announces pings every {PING_INTERVAL} s with pongs: {reply}")
    return ws


async def closed_with(ws, within):
    """The close code the server sends within `within` seconds (pings ignored)."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), within)
    except websockets.ConnectionClosed as closed:
        return closed.code
    except asyncio.TimeoutError:
        return None


async def answering_then_silent(url):
    ws = await connect(url)
    arrivals = []
    while len(arrivals) < PINGS:
        message = await asyncio.wait_for(ws.recv(), PING_INTERVAL * 3)
        check(message == "{}", f"only pings arrive on an idle connection: {message!r}")
        arrivals.append(time.monotonic())
        await ws.send("{}")
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    check(all(PING_INTERVAL * 0.7 < gap < PING_INTERVAL * 1.6 for gap in gaps),
          f"a ping each {PING_INTERVAL} s while the client answers: gaps {gaps}")
    # Silent from here: the next ping is not answered.
    started = time.monotonic()
    code = await closed_with(ws, PING_INTERVAL + PONG_TIMEOUT + 3)
    took = time.monotonic() - started
    check(code == 3012, f"a client that stopped answering pings was closed with {code}, not 3012")
    check(took > PONG_TIMEOUT * 0.7, f"closed {took:.2f} s after the last pong: before its pong timeout")


async def stale(url):
    ws = await websockets.connect(url, subprotocols=["centrifuge-json"])
    started = time.monotonic()
    code = await closed_with(ws, STALE_AFTER + 5)
    took = time.monotonic() - started
    check(code == 3502, f"a connection that never sent connect was closed with {code}, not 3502")
    check(took > STALE_AFTER * 0.9, f"closed as stale after {took:.1f} s, before the {STALE_AFTER} s connect timeout")


async def scenario(url):
    await asyncio.gather(answering_then_silent(url), stale(url))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sluice", required=True)
    args = parser.parse_args()
    with sluice_serve(args.sluice, ["--threads", "1", "--store", "memory", "--ping-interval", str(PING_INTERVAL),
                                    "--pong-timeout", str(PONG_TIMEOUT)]) as port:
        asyncio.run(asyncio.wait_for(scenario(f"ws://127.0.0.1:{port}/connection/websocket"), 40))
    print(f"OK: {PINGS} pings a {PING_INTERVAL} s apart while answered, 3012 once not, 3502 without connect")


if __name__ == "__main__":
    main()
