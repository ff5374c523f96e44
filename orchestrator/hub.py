"""`pull hf:OWNER/REPO/FILE.gguf`: GGUF models from the Hugging Face hub, through huggingface_hub.

huggingface_hub does the transfer: when the connection drops it asks for the rest of the file
(`Range`), up to five times in a row without progress, sends HF_TOKEN for gated repositories and
honours HF_ENDPOINT (read here at call time, so a stand-in hub works in-process). This module picks
the file, checks free disk space first, verifies every file's sha256 against the hub's LFS
metadata, validates the GGUF with gguf-py before llama.cpp could open it, and moves the files into
the models directory with a sidecar recording where they came from.

Split models (NAME-00001-of-00003.gguf ...) are pulled whole; llama.cpp loads them from the first part.

A pull that is killed or gives up starts again from zero next time: huggingface_hub 2.x deletes its
partial file on failure (huggingface_hub PR #4228). Completed parts of a split model are kept.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.errors import ModelFileError, PullError
from orchestrator.files import sha256_of
from orchestrator.gguf_file import SPLIT_NAME, inspect_gguf

if TYPE_CHECKING:
    from orchestrator.config import Settings
    from orchestrator.progress import Progress

HF_PREFIX = "hf:"
DEFAULT_ENDPOINT = "https://huggingface.co"
SOURCE_SUFFIX = ".source.json"
# Room left free beyond the download itself: the sha256 pass and the GGUF check need no more, but
# filling a disk to the last byte breaks everything else on it.
DISK_MARGIN_BYTES = 50_000_000


@dataclass(frozen=True)
class HubRef:
    """What `hf:OWNER/REPO[/PATH.gguf]` names."""

    repo_id: str
    filename: str | None = None

    @property
    def url(self) -> str:
        return f"{endpoint()}/{self.repo_id}"


@dataclass(frozen=True)
class HubFile:
    """One .gguf in a repository, as the hub's tree listing describes it."""

    path: str
    size: int
    sha256: str | None  # the LFS object id; None for a file stored in git itself


@dataclass
class HubSource:
    """The sidecar written next to a pulled model: where its files came from, and their hashes."""

    repo_id: str
    revision: str
    files: list[str]
    sha256: dict[str, str]
    sizes: dict[str, int]

    @property
    def label(self) -> str:
        return f"hf:{self.repo_id}@{self.revision[:7]}"


def is_hub_ref(text: str) -> bool:
    return text.startswith(HF_PREFIX)


def parse_hub_ref(text: str) -> HubRef:
    """`hf:OWNER/REPO` or `hf:OWNER/REPO/PATH/IN/REPO.gguf`."""
    body = text.removeprefix(HF_PREFIX).strip("/")
    parts = body.split("/")
    if len(parts) < 2 or not all(parts[:2]):
        raise PullError(
            f"{text!r} is not a Hugging Face model: use hf:OWNER/REPO/FILE.gguf or hf:OWNER/REPO --quant Q4_K_M."
        )
    filename = "/".join(parts[2:]) or None
    if filename is not None and not filename.endswith(".gguf"):
        raise PullError(
            f"{filename} is not a .gguf file: name a GGUF file in the repository, or leave it out and pass --quant."
        )
    return HubRef("/".join(parts[:2]), filename)


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT).rstrip("/")


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def _token() -> str | None:
    return os.environ.get("HF_TOKEN") or None  # None: huggingface_hub falls back to `hf auth login`'s token


# --- choosing the file -----------------------------------------------------------------------------


def model_key(path: str) -> str:
    """The name shared by all parts of a split model (the file's own name otherwise)."""
    name = path.rsplit("/", 1)[-1]
    match = SPLIT_NAME.match(name)
    return match["prefix"] if match else name.removesuffix(".gguf")


def group_models(files: list[HubFile]) -> dict[str, list[HubFile]]:
    """GGUF files grouped into models: a split model's parts together, in order."""
    models: dict[str, list[HubFile]] = {}
    for file in sorted(files, key=lambda f: f.path):
        folder = file.path.rsplit("/", 1)[0] if "/" in file.path else ""
        models.setdefault(f"{folder}/{model_key(file.path)}".lstrip("/"), []).append(file)
    return models


def _has_quant(path: str, quant: str) -> bool:
    # Q4_K_M must not match Q4_K_M_L or IQ4_K_M: the tag stands between separators.
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(quant)}(?![A-Za-z0-9])", path, re.IGNORECASE) is not None


def choose_model(ref: HubRef, files: list[HubFile], quant: str | None) -> list[HubFile]:
    """The files of the one model `ref` and `quant` name; a PullError that lists the choices otherwise."""
    ggufs = [f for f in files if f.path.endswith(".gguf")]
    if not ggufs:
        raise PullError(f"{ref.repo_id} holds no .gguf file: pick a GGUF repository (often named ...-GGUF).")
    models = group_models(ggufs)
    if ref.filename is not None:
        wanted = model_key(ref.filename)
        folder = ref.filename.rsplit("/", 1)[0] if "/" in ref.filename else ""
        chosen = models.get(f"{folder}/{wanted}".lstrip("/"))
        if chosen is None or not any(f.path == ref.filename for f in chosen):
            raise PullError(f"{ref.repo_id} has no file {ref.filename}. Its GGUF files: {describe_choices(models)}.")
        return chosen
    candidates = {key: parts for key, parts in models.items() if quant is None or _has_quant(key, quant)}
    if len(candidates) == 1:
        return next(iter(candidates.values()))
    if not candidates:
        raise PullError(
            f"No GGUF in {ref.repo_id} matches --quant {quant}. Its GGUF files: {describe_choices(models)}."
        )
    hint = "a more specific --quant" if quant else "--quant (e.g. --quant Q4_K_M) or the file name"
    raise PullError(
        f"{ref.repo_id} has {len(candidates)} GGUF models; choose one with {hint}: {describe_choices(candidates)}."
    )


def describe_choices(models: dict[str, list[HubFile]]) -> str:
    return "; ".join(
        f"{parts[0].path} ({_gb(sum(p.size for p in parts))}{f', {len(parts)} parts' if len(parts) > 1 else ''})"
        for parts in models.values()
    )


def _gb(n_bytes: int) -> str:
    return f"{n_bytes / 1e9:.2f} GB" if n_bytes >= 1e8 else f"{n_bytes / 1e6:.1f} MB"


# --- talking to the hub ----------------------------------------------------------------------------


@contextlib.contextmanager
def _hub_errors(ref: HubRef, what: str):
    """Translate huggingface_hub's and the network's exceptions into one-line PullErrors."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        yield
    except GatedRepoError:
        raise PullError(
            f"{ref.repo_id} is gated: accept its licence at {DEFAULT_ENDPOINT}/{ref.repo_id} while logged in, "
            "then set HF_TOKEN to a token of that account (or run `hf auth login`) and pull again."
        ) from None
    except RepositoryNotFoundError:
        raise PullError(
            f"Hugging Face repository {ref.repo_id} was not found at {endpoint()} (or it is private: set HF_TOKEN). "
            "Check the name; `orchestrator pull --list` lists known ones."
        ) from None
    except RevisionNotFoundError:
        raise PullError(
            f"{ref.repo_id} has no such revision: drop --revision or name an existing branch, tag or commit."
        ) from None
    except RemoteEntryNotFoundError:
        raise PullError(
            f"{ref.repo_id} no longer has the file {what}: run `orchestrator pull hf:{ref.repo_id}` to list its files."
        ) from None
    except OfflineModeIsEnabled:
        raise PullError(
            f"HF_HUB_OFFLINE is set, so {what} cannot be downloaded: unset it to pull, or use a model already pulled."
        ) from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        raise PullError(f"The hub at {endpoint()} answered HTTP {status} for {what}; try again later.") from None
    except OSError as exc:
        if getattr(exc, "errno", None) == 28:  # ENOSPC: the disk filled up after all
            raise PullError(
                f"The disk filled up while downloading {what}: free some space (or set ORCH_MODELS_DIR) and pull again."
            ) from None
        raise PullError(
            f"Could not download {what} from {endpoint()}: {_reason(exc)}. Check the connection and pull again."
        ) from None
    except Exception as exc:  # httpx's connection errors are not OSErrors
        if type(exc).__module__.split(".")[0] in {"httpx", "httpx2", "httpcore", "h11"}:
            raise PullError(
                f"Could not reach the Hugging Face hub at {endpoint()}: {_reason(exc)}. "
                "Check the network (proxy, HF_ENDPOINT) and pull again."
            ) from None
        raise


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def list_repo_ggufs(ref: HubRef, revision: str | None = None) -> list[HubFile]:
    """The repository's files with size and LFS sha256, from one tree listing."""
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import RepoFile

    with _hub_errors(ref, f"the file list of {ref.repo_id}"):
        entries = HfApi(endpoint=endpoint(), token=_token()).list_repo_tree(
            ref.repo_id, recursive=True, revision=revision
        )
        files = [
            HubFile(entry.path, entry.size, entry.lfs["sha256"] if entry.lfs else None)
            for entry in entries
            if isinstance(entry, RepoFile)
        ]
    return files


def _progress_class(progress: Progress | None, stage: str):
    """A tqdm class for huggingface_hub that reports to our progress callback and draws nothing."""
    from huggingface_hub.utils import tqdm  # huggingface_hub's own tqdm subclass

    class ReportingTqdm(tqdm):
        # Counted here, not read from tqdm: a bar disabled by HF_HUB_DISABLE_PROGRESS_BARS counts nothing.
        def __init__(self, *args, **kwargs):
            self.reported = kwargs.get("initial") or 0
            self.expected = kwargs.get("total") or 0
            self.sink = open(os.devnull, "w")  # noqa: SIM115 - closed in close()
            super().__init__(*args, **{**kwargs, "file": self.sink})

        def update(self, n=1):
            self.reported += n or 0
            if progress:
                progress(stage, int(self.reported), int(self.expected))
            return super().update(n)

        def close(self):
            super().close()
            self.sink.close()

    return ReportingTqdm


def _download(ref: HubRef, file: HubFile, revision: str, staging: Path, progress: Progress | None) -> Path:
    from huggingface_hub import hf_hub_download

    name = file.path.rsplit("/", 1)[-1]
    with _hub_errors(ref, file.path):
        path = hf_hub_download(
            ref.repo_id,
            file.path,
            revision=revision,
            local_dir=staging,
            endpoint=endpoint(),
            token=_token(),
            tqdm_class=_progress_class(progress, f"Downloading {name}"),
        )
    return Path(path)


def _resolve_revision(ref: HubRef, revision: str | None) -> str:
    """The commit a branch or tag points at, so every part of a model comes from the same commit."""
    from huggingface_hub import HfApi

    with _hub_errors(ref, ref.repo_id):
        info = HfApi(endpoint=endpoint(), token=_token()).model_info(ref.repo_id, revision=revision)
    return info.sha or (revision or "main")


# --- pulling ---------------------------------------------------------------------------------------


def source_path(model_file: Path) -> Path:
    return model_file.with_name(model_file.name + SOURCE_SUFFIX)


def read_source(model_file: Path) -> HubSource | None:
    try:
        return HubSource(**json.loads(source_path(model_file).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def _installed(target_dir: Path, files: list[HubFile]) -> Path | None:
    """The first part's path when every file is there, with the size and sha256 the sidecar recorded."""
    first = target_dir / files[0].path.rsplit("/", 1)[-1]
    source = read_source(first)
    if source is None:
        return None
    for file in files:
        name = file.path.rsplit("/", 1)[-1]
        local = target_dir / name
        if not local.is_file() or local.stat().st_size != file.size or source.sha256.get(name) != file.sha256:
            return None
    return first


def installed_from_hub(ref: HubRef, settings: Settings) -> Path | None:
    """A model pulled from this repository (and file, if named) before, found by its sidecar alone."""
    models_dir = settings.resolved_models_dir
    if not models_dir.is_dir():
        return None
    for sidecar in sorted(models_dir.glob(f"*.gguf{SOURCE_SUFFIX}")):
        model_file = sidecar.with_name(sidecar.name.removesuffix(SOURCE_SUFFIX))
        source = read_source(model_file)
        if source is None or source.repo_id != ref.repo_id or not model_file.is_file():
            continue
        if ref.filename is None or ref.filename.rsplit("/", 1)[-1] in source.files:
            return model_file
    return None


def check_free_space(folder: Path, needed: int) -> None:
    free = shutil.disk_usage(folder).free
    if free < needed + DISK_MARGIN_BYTES:
        raise PullError(
            f"Not enough disk space in {folder}: the download needs {_gb(needed)} and {_gb(free)} is free. "
            "Free some space, or set ORCH_MODELS_DIR to a larger disk, and pull again."
        )


def _verify(local: Path, file: HubFile, progress: Progress | None) -> None:
    size = local.stat().st_size
    if size != file.size:
        local.unlink()
        raise PullError(
            f"{file.path} arrived with {size} bytes, not the {file.size} the hub lists: it was deleted; pull again."
        )
    if file.sha256 is None:
        return  # stored in git, not LFS: the hub publishes no sha256 for it (git's own blob id covers it)
    actual = sha256_of(local, progress, f"Verifying {local.name}")
    if actual != file.sha256:
        local.unlink()
        raise PullError(
            f"{file.path} failed its checksum (sha256 {actual[:12]}..., the hub says {file.sha256[:12]}...): "
            "the download was corrupted, so it was deleted. Pull again."
        )


def pull_from_hub(
    text: str,
    settings: Settings,
    quant: str | None = None,
    revision: str | None = None,
    progress: Progress | None = None,
    force: bool = False,
) -> Path:
    """Download, verify and install a GGUF model from the hub; return the path llama.cpp should open."""
    ref = parse_hub_ref(text)
    models_dir = settings.resolved_models_dir
    if offline():
        if (found := installed_from_hub(ref, settings)) is not None and not force:
            return found
        raise PullError(
            f"HF_HUB_OFFLINE is set and {text} has not been pulled yet: unset HF_HUB_OFFLINE to download it."
        )
    commit = _resolve_revision(ref, revision)
    files = choose_model(ref, list_repo_ggufs(ref, commit), quant)
    models_dir.mkdir(parents=True, exist_ok=True)
    if not force and (found := _installed(models_dir, files)) is not None:
        return found
    staging = models_dir / ".hf-downloads" / ref.repo_id.replace("/", "--")
    staging.mkdir(parents=True, exist_ok=True)
    _drop_stale_partials(staging)
    check_free_space(models_dir, sum(f.size for f in files) - _bytes_already_downloaded(staging))
    downloaded = []
    for file in files:
        local = _download(ref, file, commit, staging, progress)
        _verify(local, file, progress)
        downloaded.append(local)
    try:
        inspect_gguf(downloaded[0])  # all parts: llama.cpp never opens an unchecked file
    except ModelFileError as exc:
        for local in downloaded:
            local.unlink(missing_ok=True)
        raise PullError(f"{files[0].path} from {ref.repo_id} is not a usable GGUF ({exc}); it was deleted.") from None
    targets = [models_dir / local.name for local in downloaded]
    for local, target in zip(downloaded, targets):
        local.replace(target)
    source = HubSource(
        ref.repo_id,
        commit,
        [t.name for t in targets],
        {t.name: f.sha256 for t, f in zip(targets, files) if f.sha256},
        {t.name: f.size for t, f in zip(targets, files)},
    )
    source_path(targets[0]).write_text(json.dumps(asdict(source), indent=1) + "\n", encoding="utf-8")
    shutil.rmtree(staging, ignore_errors=True)
    return targets[0]


# huggingface_hub 2.x writes each download to `<etag>.<random>.incomplete` and deletes it when the
# download fails, so no later call can resume it (its PR #4228); only a killed process leaves one
# behind. Such a file is never read again: delete it once nothing has written to it for this long
# (a pull of the same model running right now keeps writing to its own).
STALE_PARTIAL_S = 600


def _drop_stale_partials(staging: Path) -> None:
    """Delete partial files a killed pull left in the staging folder; they cannot be resumed."""
    import time

    for partial in staging.rglob("*.incomplete"):
        try:
            if time.time() - partial.stat().st_mtime > STALE_PARTIAL_S:
                partial.unlink()
        except OSError:
            pass  # gone already, or not ours to delete: it only costs disk space


def _bytes_already_downloaded(staging: Path) -> int:
    """Bytes of the model's files already in the staging folder (parts completed by an earlier run)."""
    return sum(p.stat().st_size for p in staging.rglob("*.gguf") if p.is_file())
