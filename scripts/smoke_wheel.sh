#!/usr/bin/env bash
# Build a wheel from this checkout, install it into a fresh virtualenv with the pip that venv ships,
# and use it from a folder outside the checkout (scripts/smoke_installed.py): what `pip install .`,
# pipx, `uv tool install` and a Docker image give a user.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d -t orchestrator-wheel-XXXXXX)"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
echo "wheel venv: $("$work/venv/bin/python" -m pip --version)"
start=$SECONDS
pip_quietly() {  # pip's own log goes to a file, shown only when pip fails
    "$work/venv/bin/python" -m pip "$@" > "$work/pip.log" 2>&1 || { tail -n 40 "$work/pip.log"; return 1; }
}
pip_quietly wheel --no-deps "$repo" -w "$work/dist"
pip_quietly install "$work"/dist/orchestrator-*.whl
echo "$((SECONDS - start)) s  build the wheel and install it with its dependencies"
cd "$work"
"$work/venv/bin/python" "$repo/scripts/smoke_installed.py" --checkout "$repo"
