"""Load test for `orchestrator serve`: N concurrent clients on loopback, bounded in requests and time.

Starts the server itself (127.0.0.1, a free port, the configured model) unless --url is given, then
sends --requests chat completions from --clients concurrent clients and reports requests/s, p50/p95
latency of the successful ones, and the status breakdown. 429 is the server's deliberate answer when
its queue is full; any 5xx or transport error is a failure (exit status 1).

With --abuse, misbehaving clients run next to the normal ones for the whole test: sockets that
stay silent (--idle), sockets that send their headers a byte a second (--trickle), 5 MB bodies, and
clients that hang up before their answer; /health is timed twice a second. The report then has
an "abuse" section (what was sent, how the server answered, /health latency).

    python benchmarks/serve_load.py --clients 8 --requests 80 --mix math
    python benchmarks/serve_load.py --clients 4 --requests 12 --mix chat --max-waiting 2
    python benchmarks/serve_load.py --clients 4 --requests 200 --mix both --duration 60 --abuse --idle 400 --trickle 100
    python benchmarks/serve_load.py --clients 8 --requests 200 --mix refusal --duration 60

The "refusal" mix asks forced-docs questions the knowledge base (ORCH_DATA_DIR) cannot answer next to
chat questions; the report's statuses_by_kind shows whether refusals ever got 429.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import math
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
    chat = [
        {"messages": [{"role": "user", "content": f"Say one word about the number {i}."}], "route": "chat"}
        for i in range(count)
    ]
    if mix == "history":  # 100 short earlier turns each (about 11.5 KB), different per request (no prompt cache)
        return [
            {
                "messages": [
                    message
                    for turn in range(100)
                    for message in (
                        {"role": "user", "content": f"Conversation {i}, turn {turn}: my favourite number is {turn}."},
                        {"role": "assistant", "content": f"Noted, {turn}."},
                    )
                ]
                + [{"role": "user", "content": "What was my first favourite number?"}],
                "route": "chat",
            }
            for i in range(count)
        ]
    if mix == "refusal":  # chat next to docs questions the knowledge base cannot answer (refused before generation)
        unanswerable = [
            {
                "messages": [{"role": "user", "content": f"Which treaty did envoy number {i} sign in 1648?"}],
                "route": "docs",
            }
            for i in range(count)
        ]
        return [unanswerable[i] if i % 2 else chat[i] for i in range(count)]
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
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE_CLI, "serve", "--port", str(port), "--max-waiting", str(max_waiting)],
        env=env,
        stderr=subprocess.DEVNULL,
    )
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
    by_kind: dict[str, list[float]] = collections.defaultdict(list)
    statuses_by_kind: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    deadline = time.monotonic() + duration_s
    headers = {"Authorization": f"Bearer {KEY}"}

    async def client(http: httpx.AsyncClient) -> None:
        while pending and time.monotonic() < deadline:
            body = pending.popleft()
            started = time.monotonic()
            try:
                response = await http.post(
                    url + "/v1/chat/completions", json={"model": "orchestrator", **body}, headers=headers
                )
                statuses[response.status_code] += 1
                kind = {"chat": "chat", "docs": "refusal"}.get(body.get("route"), "math")
                statuses_by_kind[kind][response.status_code] += 1
                if response.status_code == 200:
                    latencies.append(time.monotonic() - started)
                    by_kind[kind].append(latencies[-1])
                elif response.status_code == 429:
                    pending.append(body)  # a polite client retries later
                    await asyncio.sleep(retry_after_s)
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1

    started = time.monotonic()
    async with httpx.AsyncClient(timeout=httpx.Timeout(300.0)) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    elapsed = time.monotonic() - started
    return {
        "clients": clients,
        "requests_sent": sum(statuses.values()),
        "answered": len(latencies),
        "unanswered": len(pending),
        "elapsed_s": round(elapsed, 2),
        **latency_summary(latencies, elapsed),
        "by_kind": {kind: latency_summary(values, elapsed) for kind, values in sorted(by_kind.items())},
        "statuses": {str(k): v for k, v in sorted(statuses.items(), key=str)},
        "statuses_by_kind": {
            kind: {str(k): v for k, v in sorted(counts.items(), key=str)}
            for kind, counts in sorted(statuses_by_kind.items())
        },
    }


def latency_summary(latencies: list[float], elapsed: float) -> dict:
    latencies = sorted(latencies)
    return {
        "answers_per_s": round(len(latencies) / elapsed, 3) if elapsed else None,
        "p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "p95_s": round(latencies[math.ceil(0.95 * len(latencies)) - 1], 3) if latencies else None,  # nearest rank
    }


# --- misbehaving clients ----------------------------------------------------------------------


async def hold_sockets(
    host: str, port: int, count: int, trickle: bool, stop: asyncio.Event, tally: collections.Counter
) -> None:
    """Keep `count` sockets open: silent ones, or ones sending a request a byte a second. Reopen each the server closes."""

    async def one() -> None:
        while not stop.is_set():
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                tally["connect_failed"] += 1
                await asyncio.sleep(0.5)
                continue
            tally["trickle_opened" if trickle else "idle_opened"] += 1
            request = f"GET /health HTTP/1.1\r\nHost: {host}\r\nX-Slow: ".encode() + b"a" * 10_000
            sent = 0
            try:
                while not stop.is_set():
                    if trickle and sent < len(request):
                        writer.write(request[sent : sent + 1])  # one byte, then a second's pause
                        sent += 1
                        await writer.drain()
                    try:
                        if await asyncio.wait_for(reader.read(1), timeout=1.0) == b"":
                            tally["closed_by_server"] += 1
                            break
                    except asyncio.TimeoutError:
                        pass
            except (ConnectionError, OSError):
                tally["closed_by_server"] += 1
            finally:
                writer.close()

    await asyncio.gather(*(one() for _ in range(count)))


async def send_oversized(
    host: str, port: int, stop: asyncio.Event, tally: collections.Counter, body_mb: int = 5
) -> None:
    """Every half second: declare a 5 MB body and start sending it; note the server's answer."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(
                f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {KEY}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {body_mb * 1024 * 1024}\r\n\r\n".encode()
            )
            writer.write(b" " * (256 * 1024))
            with contextlib.suppress(ConnectionError, OSError):
                await writer.drain()
            status = (await asyncio.wait_for(reader.readline(), timeout=5)).split(b" ")[1:2]
            tally[f"oversized_{status[0].decode() if status else 'closed'}"] += 1
            writer.close()
        except (asyncio.TimeoutError, ConnectionError, OSError) as exc:
            tally[f"oversized_{type(exc).__name__}"] += 1
        await asyncio.sleep(0.5)


async def hang_up_early(url: str, stop: asyncio.Event, tally: collections.Counter) -> None:
    """Every second: ask for a generated answer, then disconnect after 0.3 s."""
    import httpx

    async with httpx.AsyncClient(timeout=0.3) as http:
        while not stop.is_set():
            body = {
                "model": "orchestrator",
                "messages": [{"role": "user", "content": "Tell me a long story."}],
                "route": "chat",
            }
            try:
                response = await http.post(
                    url + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"}
                )
                tally[f"hangup_got_{response.status_code}"] += 1
            except httpx.TimeoutException:
                tally["hangup_disconnected"] += 1
            await asyncio.sleep(1.0)


async def time_health(url: str, stop: asyncio.Event, latencies: list[float], tally: collections.Counter) -> None:
    import httpx

    async with httpx.AsyncClient(timeout=10.0) as http:
        while not stop.is_set():
            started = time.monotonic()
            try:
                status = (await http.get(url + "/health")).status_code
                tally[f"health_{status}"] += 1
            except httpx.HTTPError as exc:
                tally[f"health_{type(exc).__name__}"] += 1
            latencies.append(time.monotonic() - started)
            await asyncio.sleep(0.5)


async def with_abuse(url: str, normal, idle: int, trickle: int) -> dict:
    """Run the normal load (a coroutine) while the misbehaving clients run; report both."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host, port = parts.hostname, parts.port
    stop = asyncio.Event()
    tally: collections.Counter = collections.Counter()
    health: list[float] = []
    abusers = [
        asyncio.ensure_future(hold_sockets(host, port, idle, False, stop, tally)),
        asyncio.ensure_future(hold_sockets(host, port, trickle, True, stop, tally)),
        asyncio.ensure_future(send_oversized(host, port, stop, tally)),
        asyncio.ensure_future(hang_up_early(url, stop, tally)),
        asyncio.ensure_future(time_health(url, stop, health, tally)),
    ]
    await asyncio.sleep(2.0)  # let the sockets pile up before the normal clients start
    try:
        report = await normal
    finally:
        stop.set()
        await asyncio.wait(abusers, timeout=15)
        for task in abusers:
            task.cancel()
    health.sort()
    report["abuse"] = {
        "idle_sockets": idle,
        "trickling_sockets": trickle,
        "events": dict(sorted(tally.items())),
        "health_checks": len(health),
        "health_p50_s": round(statistics.median(health), 3) if health else None,
        "health_max_s": round(health[-1], 3) if health else None,
        "health_over_1s": sum(1 for h in health if h > 1.0),
    }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="A running server (default: start one on 127.0.0.1).")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=80)
    parser.add_argument("--duration", type=float, default=120.0, help="Stop sending after this many seconds.")
    parser.add_argument("--mix", choices=["math", "chat", "both", "history", "refusal"], default="math")
    parser.add_argument("--max-waiting", type=int, default=2, help="The server's queue length (when started here).")
    parser.add_argument("--retry-after", type=float, default=0.2, help="Client pause after a 429, seconds.")
    parser.add_argument("--abuse", action="store_true", help="Run misbehaving clients next to the normal ones.")
    parser.add_argument("--idle", type=int, default=400, help="With --abuse: silent sockets held open.")
    parser.add_argument(
        "--trickle", type=int, default=100, help="With --abuse: sockets sending headers a byte a second."
    )
    parser.add_argument("--json", help="Also write the report to this file.")
    args = parser.parse_args()
    if args.url and not args.url.startswith(("http://127.", "http://localhost", "http://[::1]")):
        raise SystemExit("This benchmark only runs against loopback addresses.")
    process, url = (None, args.url) if args.url else start_server(args.max_waiting)
    try:
        load = run_load(url, questions(args.mix, args.requests), args.clients, args.duration, args.retry_after)
        report = asyncio.run(with_abuse(url, load, args.idle, args.trickle) if args.abuse else load)
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
    if args.abuse and report["abuse"]["health_over_1s"]:
        failures["health_over_1s"] = report["abuse"]["health_over_1s"]
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
