"""Use an installed orchestrator the way a user of a wheel, pipx or Docker image would.

Run it with the Python of the environment that holds the installed package, from a folder outside
the source checkout (scripts/smoke_wheel.sh does both). It asks a question on every route, asks
with --json, and gets one answer from `serve`; it fails on a traceback, on an answer it did not
expect, and on any mention of the checkout's path. Each step's wall time is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

LIBRARY_QUESTION = "How many items can members of the Lark Island library borrow?"
NO_NETWORK = {
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "ALL_PROXY": "http://127.0.0.1:9",
}


class SmokeFailure(AssertionError):
    """One step's output was not what a user should see."""


def orchestrator_command() -> list[str]:
    return [str(Path(sys.executable).with_name("orchestrator"))]


def check_clean(step: str, output: str, checkout: Path) -> None:
    if "Traceback" in output:
        raise SmokeFailure(f"{step}: a traceback\n{output}")
    if str(checkout) in output:
        raise SmokeFailure(f"{step}: the output names the source checkout {checkout}\n{output}")


def run(step: str, args: list[str], env: dict, checkout: Path, stdin: str = "", extra_env: dict | None = None) -> str:
    started = time.perf_counter()
    result = subprocess.run(
        orchestrator_command() + args,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
        env={**env, **(extra_env or {})},
    )
    output = result.stdout + result.stderr
    print(f"{time.perf_counter() - started:6.1f} s  {step}  (exit {result.returncode})", flush=True)
    check_clean(step, output, checkout)
    if result.returncode != 0:
        raise SmokeFailure(f"{step}: exit {result.returncode}\n{output}")
    return result.stdout


def expect(step: str, condition: bool, output: str) -> None:
    if not condition:
        raise SmokeFailure(f"{step}: unexpected answer\n{output}")


def ask_json(step: str, question: str, env: dict, checkout: Path, extra_env: dict | None = None) -> dict:
    output = run(step, ["ask", "--json", question], env, checkout, extra_env=extra_env)
    return json.loads(output)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_one_request(env: dict, checkout: Path) -> None:
    port = free_port()
    started = time.perf_counter()
    server = subprocess.Popen(
        orchestrator_command() + ["serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"{base}/health", timeout=2).read()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SmokeFailure(
                        f"serve did not start:\n{server.stdout.read() if server.stdout else ''}"
                    ) from None
                time.sleep(0.5)
        body = json.dumps({"model": "orchestrator", "messages": [{"role": "user", "content": "What is 40366/439?"}]})
        request = urllib.request.Request(
            f"{base}/v1/chat/completions",
            data=body.encode(),
            headers={"Content-Type": "application/json"},
        )
        reply = json.loads(urllib.request.urlopen(request, timeout=120).read())
        content = reply["choices"][0]["message"]["content"]
        print(f"{time.perf_counter() - started:6.1f} s  serve: start and answer one request", flush=True)
        check_clean("serve", json.dumps(reply), checkout)
        expect("serve", "91.94988" in content, content)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def smoke(checkout: Path, workdir: Path) -> None:
    import orchestrator

    if Path(orchestrator.__file__).resolve().is_relative_to(checkout):
        raise SmokeFailure(f"orchestrator was imported from the checkout ({orchestrator.__file__}), not the install")
    env = {key: value for key, value in os.environ.items() if not key.startswith("ORCH_")}
    env.update(ORCH_DATA_DIR=str(workdir / "data"), PYTHONPATH="")
    os.chdir(workdir)

    out = run(
        "chat: first start (pull, sample documents) and a docs question",
        ["chat"],
        env,
        checkout,
        stdin=f"{LIBRARY_QUESTION}\n/quit\n",
    )
    expect("chat", "7" in out, out)
    out = run("ask: math", ["ask", "What is 40366/439?"], env, checkout)
    expect("ask math", "91.94988" in out, out)
    row = ask_json("ask --json: docs", LIBRARY_QUESTION, env, checkout)
    expect("ask docs", row["route"] == "docs" and "7" in row["answer"] and row["sources"], json.dumps(row))
    row = ask_json("ask --json: chat (reads a prompt file)", "Say hello", env, checkout)
    expect("ask chat", row["route"] == "chat" and row["answer"].strip() and not row["error"], json.dumps(row))
    row = ask_json("ask --json: web with no network", "Who is the British Prime Minister?", env, checkout, NO_NETWORK)
    expect("ask web", row["route"] == "web" and row["abstained"] and "can't verify" in row["answer"], json.dumps(row))
    serve_one_request(env, checkout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", type=Path, required=True, help="The source checkout that must not be used.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="orchestrator-smoke-") as tmp:
        try:
            smoke(args.checkout.resolve(), Path(tmp))
        except SmokeFailure as exc:
            print(f"SMOKE FAILED: {exc}", file=sys.stderr)
            return 1
    print("The installed package answered every route from outside the checkout.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
