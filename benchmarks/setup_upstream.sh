#!/usr/bin/env bash
# Creates .upstream_venv/ in the repo root with upstream Sample Factory 2.1.1 (torch 2.13.0), for side-by-side runs.
#
#   bash benchmarks/setup_upstream.sh [--force] [--atari]
#
# --force  rebuild the venv from scratch.
# --atari  also install what the atari_pong / envpool_pong presets need: ale-py 0.9.1 and envpool 1.2.5 (pip keeps
#          the venv's numpy 1.26.4 and gymnasium 0.29.1), then patch envpool (inside this venv only, see below).
#
# Idempotent: a part that is already in place (the venv importing upstream sample_factory; the Atari packages at
# those versions with the patch applied) is left alone. Checks use `python -I` so the repo root (our
# sample_factory) never shadows upstream on sys.path.
#
# Why ale-py 0.9.1: under gymnasium 0.29, ale-py 0.12 registers no games at all; 0.9.1 registers ALE/* when
# `ale_py` is imported, which upstream's Atari example never does. run_side_by_side.py therefore puts a directory
# holding only a `sitecustomize.py` that imports ale_py on upstream's PYTHONPATH for the atari_pong preset.
#
# The envpool patch: envpool 1.2.5's gymnasium env classes derive from gymnasium.vector.VectorEnv without calling
# its __init__. gymnasium 1.x declares `closed` as a class attribute, but 0.29 sets `closed` and `viewer` only in
# VectorEnv.__init__, so every `env.close()` (upstream's workers close their envs when they stop) raises
# AttributeError: '...GymnasiumEnvPool' object has no attribute 'closed'. The patch adds the class attributes
# `closed = False` and `viewer = None` to envpool's GymnasiumEnvPoolMixin (envpool/python/gymnasium_envpool.py),
# marked with a comment so it is applied once. Nothing else was needed here for upstream's EnvPool Atari path
# (import, envpool.make(..., env_type="gym"), reset(env_ids), step).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${UPSTREAM_VENV:-$REPO_ROOT/.upstream_venv}"
PYTHON="${PYTHON:-python3}"
ALE_PY_VERSION="0.9.1"
ENVPOOL_VERSION="1.2.5"

FORCE=0
ATARI=0
for arg in "$@"; do
    case "$arg" in
        --force) FORCE=1 ;;
        --atari) ATARI=1 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "unknown option: $arg (use --force, --atari)" >&2
            exit 2
            ;;
    esac
done

if [[ $FORCE == 1 ]]; then
    rm -rf "$VENV"
fi

# Run everything in upstream's interpreter isolated and from outside the repo root.
up_python() { (cd / && "$VENV/bin/python" -I "$@"); }

if [[ -x "$VENV/bin/python" ]] && up_python -c "import sample_factory, torch" >/dev/null 2>&1; then
    echo "upstream venv already present: $VENV ($(up_python -c 'import importlib.metadata as m; print("sample-factory", m.version("sample-factory"), "torch", m.version("torch"))'))"
else
    echo "creating upstream venv in $VENV"
    "$PYTHON" -m venv "$VENV"
    # pip resolves numpy 1.26.4 and gymnasium 0.29.1 (upstream's buffers break under numpy 2.x).
    "$VENV/bin/pip" install torch==2.13.0 sample-factory==2.1.1
    up_python -c "import importlib.metadata as m; print(*(f'{p} {m.version(p)}' for p in ('sample-factory', 'torch', 'numpy', 'gymnasium')))"
fi

[[ $ATARI == 1 ]] || exit 0

# --- Atari: ale-py + envpool, and the envpool patch ---------------------------------------------------------------
if ! up_python -c "
import importlib.metadata as m, sys
sys.exit(0 if (m.version('ale-py'), m.version('envpool')) == ('$ALE_PY_VERSION', '$ENVPOOL_VERSION') else 1)
" >/dev/null 2>&1; then
    echo "installing ale-py==$ALE_PY_VERSION envpool==$ENVPOOL_VERSION into $VENV"
    "$VENV/bin/pip" install "ale-py==$ALE_PY_VERSION" "envpool==$ENVPOOL_VERSION"
fi

# Patch envpool's GymnasiumEnvPoolMixin (idempotent: the marker comment says it is done).
up_python - <<'EOF'
import pathlib
import sys

import envpool.python.gymnasium_envpool as mod

path = pathlib.Path(mod.__file__)
text = path.read_text()
marker = "# sample-factory benchmarks: gymnasium 0.29 compatibility"
if marker in text:
    print(f"envpool patch already applied: {path}")
    sys.exit(0)
anchor = "class GymnasiumEnvPoolMixin:\n"
start = text.find(anchor)
if start < 0:
    sys.exit(f"cannot patch {path}: no '{anchor.strip()}' found (another envpool version?)")
# After the class docstring when there is one, else right after the class line.
body = start + len(anchor)
doc_end = text.find('"""', text.find('"""', body) + 3) + 3 if text[body:].lstrip().startswith('"""') else body
insert_at = text.find("\n", doc_end) + 1 if doc_end != body else body
patch = (
    f"    {marker}: VectorEnv.close reads these, and 0.29 sets them only in VectorEnv.__init__\n"
    "    closed = False\n"
    "    viewer = None\n"
)
path.write_text(text[:insert_at] + patch + text[insert_at:])
print(f"envpool patched: {path}")
EOF

# Check both Atari paths the presets use, the way upstream's code uses them.
up_python - <<'EOF'
import gymnasium as gym
import numpy as np

import ale_py  # what run_side_by_side.py's sitecustomize shim does in every upstream process

assert "ALE/Pong-v5" in gym.registry, "ale_py did not register ALE/Pong-v5"
assert "PongNoFrameskip-v4" in gym.registry, "ale_py did not register PongNoFrameskip-v4"
env = gym.make("PongNoFrameskip-v4")
env.reset(seed=0)
env.step(0)
env.close()

from sample_factory.utils.attr_dict import AttrDict
from sf_examples.envpool.atari.envpool_atari_utils import make_atari_env

env = make_atari_env("atari_pong", AttrDict(num_envs_per_worker=1, env_agents=2, env_frameskip=4), None)
obs, _ = env.reset()
obs, *_ = env.step(np.zeros(2, dtype=np.int64))
env.close()
assert obs.shape == (2, 4, 84, 84), obs.shape
print(f"Atari ready: ale-py {ale_py.__version__} registers Pong on import; upstream's EnvPool Pong steps and closes")
EOF
