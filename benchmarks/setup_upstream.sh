#!/usr/bin/env bash
# Creates .upstream_venv/ in the repo root with upstream Sample Factory 2.1.1 (torch 2.13.0), for side-by-side runs.
# Idempotent: does nothing when the venv already imports upstream sample_factory. Use --force to rebuild.
# Checks use `python -I` so the repo root (our sample_factory) never shadows upstream on sys.path.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${UPSTREAM_VENV:-$REPO_ROOT/.upstream_venv}"
PYTHON="${PYTHON:-python3}"

if [[ "${1:-}" == "--force" ]]; then
    rm -rf "$VENV"
fi

if [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -I -c "import sample_factory, torch" >/dev/null 2>&1; then
    echo "upstream venv already present: $VENV ($("$VENV/bin/python" -I -c 'import importlib.metadata as m; print("sample-factory", m.version("sample-factory"), "torch", m.version("torch"))'))"
    exit 0
fi

echo "creating upstream venv in $VENV"
"$PYTHON" -m venv "$VENV"
# pip resolves numpy 1.26.4 and gymnasium 0.29.1 (upstream's buffers break under numpy 2.x).
"$VENV/bin/pip" install torch==2.13.0 sample-factory==2.1.1
"$VENV/bin/python" -I -c "import importlib.metadata as m; print(*(f'{p} {m.version(p)}' for p in ('sample-factory', 'torch', 'numpy', 'gymnasium')))"
