#!/usr/bin/env bash
# Installs the peer embedding server (infinity-emb, PyPI) into its own git-ignored virtual environment, apart from
# the project's: it pins old sentence-transformers/transformers and numpy<2. torch is pinned to the local CPU build
# so that pip never pulls the CUDA wheels. Usage: bench/install_peer.sh [VENV_DIR] (default .venv-peer).
set -euo pipefail
VENV="${1:-.venv-peer}"
PYTHON="${PYTHON:-python3}"
INFINITY_SPEC="${INFINITY_SPEC:-infinity-emb[server,torch,optimum]==0.0.78}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
if [ -f "$VENV/.installed" ]; then
  echo "$VENV already installed"; exit 0
fi
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q -U pip
"$VENV/bin/python" -m pip install -q "$TORCH_SPEC" "$INFINITY_SPEC"
# pip's output is read whole before grep looks at it (grep -q would close the pipe early and fail pipefail).
TORCH_SHOWN="$("$VENV/bin/python" -m pip show torch)"
grep -q "^Version: ${TORCH_SPEC#torch==}" <<<"$TORCH_SHOWN" || { echo "pip replaced torch in $VENV" >&2; exit 1; }
touch "$VENV/.installed"
echo "installed $INFINITY_SPEC into $VENV"
