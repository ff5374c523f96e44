"""Load test for `orchestrator serve`: N concurrent clients on loopback, bounded in requests and time.

Starts the server itself (127.0.0.1, a free port, the configured model) unless --url is given, then
sends --requests chat completions from --clients concurrent clients and reports requests/s, p50/p95
latency of the successful ones, and the status breakdown. 429 is the server's deliberate answer when
its queue is full; any 5xx or transport error is a failure (exit status 1).

    python benchmarks/serve_load.py --clients 8 --requests 80 --mix math
    python benchmarks/serve_load.py --clients 4 --requests 12 --mix chat --max-waiting 2
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import socket
import statistics
import subprocess
import sys
import time

KEY = "serve-load-benchmark-key-0123456789"
SERVE_CLI = (
    "import typer; from orchestrator.cli.serve import register; "
    "cli = typer.Typer(); cli.callback()(lambda: None); register(cli); cli()"
)


def questions(mix: str, count: int) -> list[dict]:
    """Math questions need no LLM (the router's fast path); chat questions each run the model."""
    math = [{"messages": [{"role": "user", "content": f"What is {1000 + i} * {37 + i % 7}?"}]} for i in range(count)]
    chat = [{"messages": [{"role": "user", "content": f"Say one word about the number {i}."}], "route": "chat"} for i in range(count)]
    if mix == "math":
        return math
    if mix == "chat":
        return chat
    return [math[i] if i % 2 else chat[i] for i in range(count)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(max_waiting: int) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    env = {**os.environ, "ORCH_SERVE_API_KEY": KEY}
    process = subprocess.Popen([sys.executable, "-c", SERVE_CLI, "serve", "--port", str(port), "--max-waiting", str(max_waiting)],
                               env=env, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the server exited during start-up")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("the server did not start within 300 s")


async def run_load(url: str, bodies: list[dict], clients: int, duration_s: float, retry_after_s: float) -> dict:
    import httpx

    pending = collections.deque(bodies)
    statuses: collections.Counter = collections.Counter()
    latencies: list[float] = []
    deadline = time.monotonic() + duration_s
    headers = {"Authorization": f"Bearer {KEY}"}

    async def client(http: httpx.AsyncClient) -> None:
        while pending and time.monotonic() < deadline:
            body = pending.popleft()
            started = time.monotonic()
            try:
                response = await http.post(url + "/v1/chat/completions", json={"model": "orchestrator", **body}, headers=headers)
                statuses[response.status_code] += 1
                if response.status_code == 200:
                    latencies.append(time.monotonic() - started)
                elif response.status_code == 429:
                    pending.append(body)  # a polite client retries later
                    await asyncio.sleep(retry_after_s)
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1

    started = time.monotonic()
    async with httpx.AsyncClient(timeout=httpx.Timeout(300.0)) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "clients": clients, "requests_sent": sum(statuses.values()), "answered": len(latencies),
        "unanswered": len(pending), "elapsed_s": round(elapsed, 2),
        "answers_per_s": round(len(latencies) / elapsed, 3) if elapsed else None,
        "p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "p95_s": round(latencies[max(0, int(0.95 * len(latencies)) - 1)], 3) if latencies else None,
        "statuses": {str(k): v for k, v in sorted(statuses.items(), key=str)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="A running server (default: start one on 127.0.0.1).")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=80)
    parser.add_argument("--duration", type=float, default=120.0, help="Stop sending after this many seconds.")
    parser.add_argument("--mix", choices=["math", "chat", "both"], default="math")
    parser.add_argument("--max-waiting", type=int, default=2, help="The server's queue length (when started here).")
    parser.add_argument("--retry-after", type=float, default=0.2, help="Client pause after a 429, seconds.")
    parser.add_argument("--json", help="Also write the report to this file.")
    args = parser.parse_args()
    if args.url and not args.url.startswith(("http://127.", "http://localhost", "http://[::1]")):
        raise SystemExit("This benchmark only runs against loopback addresses.")
    process, url = (None, args.url) if args.url else start_server(args.max_waiting)
    try:
        report = asyncio.run(run_load(url, questions(args.mix, args.requests), args.clients, args.duration, args.retry_after))
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=60)
    report.update(mix=args.mix, max_waiting=args.max_waiting, load_average=os.getloadavg()[0])
    print(json.dumps(report, indent=1))
    if args.json:
        with open(args.json, "w") as sink:
            json.dump(report, sink, indent=1)
    failures = {k: v for k, v in report["statuses"].items() if not k.isdigit() or int(k) >= 500}
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
