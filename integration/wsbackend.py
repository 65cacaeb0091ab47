"""A WebSocket backend for the Upgrade tests (python3-websockets 10.x,
asyncio): run as `python3 wsbackend.py PORT [CERT KEY]`; prints "ready"
once it listens on 127.0.0.1:PORT (TLS with CERT and KEY).

Paths: /echo echoes every message; /close echoes the first message, then
closes with code 4000 "bye"; /refuse answers 403 and /plain 200 without
upgrading.  Every connection's end is printed as "closed PATH CODE"."""
import asyncio
import http
import ssl
import sys

import websockets


async def handler(ws):
    path = ws.path
    try:
        if path == '/close':
            await ws.send(await ws.recv())
            await ws.close(code=4000, reason='bye')
        else:
            async for message in ws:
                await ws.send(message)
    except websockets.exceptions.ConnectionClosed:
        pass
    print('closed %s %s' % (path, ws.close_code), flush=True)


async def process_request(path, headers):
    if path == '/refuse':
        return (http.HTTPStatus.FORBIDDEN, [('Content-Type', 'text/plain')],
                b'no upgrade here\n')
    if path == '/plain':
        return (http.HTTPStatus.OK, [('Content-Type', 'text/plain')],
                b'plain\n')
    return None


async def main():
    port = int(sys.argv[1])
    ctx = None
    if len(sys.argv) > 3:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[2], sys.argv[3])
    async with websockets.serve(handler, '127.0.0.1', port, ssl=ctx,
                                process_request=process_request,
                                max_size=None, compression=None):
        print('ready', flush=True)
        await asyncio.Future()


if __name__ == '__main__':
    asyncio.run(main())
