"""The baseline: a minimal aiohttp application that answers 200 and does no work.

    python bench/baseline_server.py --host 127.0.0.1 --port 8090

Every benchmark measures this server with the same load generator, in the same run, on the same
machine, and reports meyasubako's throughput as a ratio of it: the ratio says how much of the
framework's (and the client's) capacity our own work costs, independent of the machine's speed.
It accepts GET and POST on any path and reads the body, as a real handler must.
"""

from __future__ import annotations

import argparse

from aiohttp import web


async def ok(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(text="ok")


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", ok)
    return app


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8090)
    args = p.parse_args()
    web.run_app(make_app(), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
