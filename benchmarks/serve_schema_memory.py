"""Peak memory of `orchestrator serve` for one json_schema request (issue 31, item 7).

Starts the server with the default model on 127.0.0.1, sends one request with an ordinary schema, reads
the server's VmHWM (peak resident memory) and VmRSS from /proc, then sends the hostile schema
("minItems": 10000000, 232 bytes on the wire in the issue) and reads them again. Linux only.

    python benchmarks/serve_schema_memory.py [--min-items 10000000] [--port 18731]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

SERVE = (
    "import typer; from orchestrator.cli.serve import register; "
    "cli = typer.Typer(); cli.callback()(lambda: None); register(cli); cli()"
)


def memory_mb(pid: int) -> dict[str, float]:
    fields = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmHWM", "VmRSS"):
                fields[name] = int(value.split()[0]) / 1024
    return fields


def post(port: int, body: dict, timeout: float) -> tuple[int, str, float]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()[:160], time.monotonic() - started
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()[:160], time.monotonic() - started


def ask_with_schema(port: int, schema: dict, timeout: float) -> tuple[int, str, float]:
    return post(
        port,
        {
            "messages": [{"role": "user", "content": "List some numbers as JSON."}],
            "max_tokens": 16,
            "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": schema}},
        },
        timeout,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-items", type=int, default=10_000_000)
    parser.add_argument("--port", type=int, default=18731)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    server = subprocess.Popen([sys.executable, "-c", SERVE, "serve", "--port", str(args.port)], env=dict(os.environ))
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{args.port}/health", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.5)
        print(f"started: {memory_mb(server.pid)}")
        ordinary = {"type": "array", "items": {"type": "integer"}, "maxItems": 5}
        status, text, took = ask_with_schema(args.port, ordinary, args.timeout)
        print(f"ordinary schema: {status} in {took:.2f} s, {memory_mb(server.pid)}  {text[:80]!r}")
        hostile = {"type": "array", "items": {"type": "integer"}, "minItems": args.min_items}
        print(f"hostile schema is {len(json.dumps(hostile))} bytes of JSON")
        status, text, took = ask_with_schema(args.port, hostile, args.timeout)
        print(f"hostile schema: {status} in {took:.2f} s, {memory_mb(server.pid)}  {text[:120]!r}")
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
