"""A Hugging Face hub stand-in on 127.0.0.1, for offline tests of `pull hf:...` through huggingface_hub.

It answers the four requests huggingface_hub makes for a model file, shaped like the real hub's:
  GET  /api/models/OWNER/REPO[/revision/REV]      model info: {"id", "sha", "siblings"}
  GET  /api/models/OWNER/REPO/tree/REV?recursive   files with size and, for LFS files, {"oid": sha256, ...}
  HEAD /OWNER/REPO/resolve/REV/PATH               X-Repo-Commit, ETag/X-Linked-Etag (the sha256), size
  GET  /OWNER/REPO/resolve/REV/PATH               the bytes, honouring "Range: bytes=N-"
Errors carry the hub's X-Error-Code header (RepoNotFound, GatedRepo, EntryNotFound), which is what
huggingface_hub maps to RepositoryNotFoundError, GatedRepoError and RemoteEntryNotFoundError.

Use the `hf_standin` fixture: it starts the server and points HF_ENDPOINT at it.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@dataclass
class StandinRepo:
    """One model repository: its files, whether it is gated, and the commit it is at."""

    files: dict[str, bytes]
    gated: bool = False
    commit: str = "0123456789abcdef0123456789abcdef01234567"
    lfs_sha256: dict[str, str] = field(default_factory=dict)  # to publish a wrong hash: the checksum test

    def sha256(self, path: str) -> str:
        return self.lfs_sha256.get(path) or hashlib.sha256(self.files[path]).hexdigest()


@dataclass
class Request:
    method: str
    path: str
    range: str | None
    authorization: str | None


class HubStandin:
    def __init__(self):
        self.repos: dict[str, StandinRepo] = {}
        self.token = "hf_standin_token"
        self.requests: list[Request] = []
        self.cut_downloads_at: dict[str, list[int]] = {}  # path -> for each coming download, bytes sent before it drops
        self.url = ""

    def add(self, repo_id: str, files: dict[str, bytes | Path], **options) -> StandinRepo:
        contents = {name: data.read_bytes() if isinstance(data, Path) else data for name, data in files.items()}
        self.repos[repo_id] = repo = StandinRepo(contents, **options)
        return repo

    def downloads(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.method == "GET" and r.path.endswith("/" + path) and "/resolve/" in r.path]


def _handler(hub: HubStandin):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def _send(self, code: int, body: bytes = b"", headers: dict | None = None, head: bool = False):
            self.send_response(code)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _json(self, data) -> None:
            self._send(200, json.dumps(data).encode(), {"Content-Type": "application/json"})

        def _error(self, code: int, error_code: str, head: bool = False) -> None:
            self._send(code, json.dumps({"error": error_code}).encode(), {"X-Error-Code": error_code}, head)

        def _repo(self, repo_id: str, head: bool = False) -> StandinRepo | None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._error(404 if self.headers.get("Authorization") else 401, "RepoNotFound", head)
                return None
            if repo.gated and self.headers.get("Authorization") != f"Bearer {hub.token}":
                self._error(401, "GatedRepo", head)
                return None
            return repo

        def do_HEAD(self):
            self._handle(head=True)

        def do_GET(self):
            self._handle(head=False)

        def _handle(self, head: bool):
            path = unquote(urlsplit(self.path).path)
            hub.requests.append(
                Request(self.command, path, self.headers.get("Range"), self.headers.get("Authorization"))
            )
            parts = path.strip("/").split("/")
            if parts[:2] == ["api", "models"] and len(parts) >= 4:
                repo = self._repo(f"{parts[2]}/{parts[3]}")
                if repo is None:
                    return
                if len(parts) >= 6 and parts[4] == "tree":
                    return self._json(
                        [
                            {
                                "type": "file",
                                "oid": hashlib.sha1(data).hexdigest(),
                                "size": len(data),
                                "path": name,
                                "lfs": {"oid": repo.sha256(name), "size": len(data), "pointerSize": 134},
                            }
                            for name, data in sorted(repo.files.items())
                        ]
                    )
                return self._json(
                    {
                        "id": f"{parts[2]}/{parts[3]}",
                        "sha": repo.commit,
                        "siblings": [{"rfilename": name} for name in sorted(repo.files)],
                    }
                )
            if len(parts) >= 5 and parts[2] == "resolve":
                repo = self._repo(f"{parts[0]}/{parts[1]}", head)
                if repo is None:
                    return
                name = "/".join(parts[4:])
                if name not in repo.files:
                    return self._error(404, "EntryNotFound", head)
                return self._file(repo, name, head)
            self._error(404, "RepoNotFound", head)

        def _file(self, repo: StandinRepo, name: str, head: bool):
            data = repo.files[name]
            start = 0
            if (wanted := self.headers.get("Range")) and wanted.startswith("bytes="):
                start = int(wanted.removeprefix("bytes=").split("-")[0])
            body = data[start:]
            self.send_response(206 if start else 200)
            self.send_header("X-Repo-Commit", repo.commit)
            self.send_header("ETag", f'"{repo.sha256(name)}"')
            self.send_header("X-Linked-Etag", f'"{repo.sha256(name)}"')
            self.send_header("X-Linked-Size", str(len(data)))
            self.send_header("Accept-Ranges", "bytes")
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if head:
                return
            cuts = hub.cut_downloads_at.get(name)
            cut = cuts.pop(0) if cuts else None
            if cut is not None:  # the connection drops half-way: send part of the body, then hang up
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self.wfile.write(body)

    return Handler


@pytest.fixture
def hf_standin(monkeypatch, tmp_path):
    hub = HubStandin()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no stored token from a real login
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
