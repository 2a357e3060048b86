#!/usr/bin/env bash
# Sets up cnnjax in this checkout: a Python 3.12 virtual env at .venv with the package installed editable (and the
# test and viz extras), and the Fashion-MNIST IDX files (Debian's dataset-fashion-mnist) unless a directory is given.
# Idempotent: a second run only checks. Options: --torch also builds .venv-torch (Python 3.11 + torch 2.13.0 CPU +
# torchvision 0.28.0 model definitions) for the torchvision parity checks.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python312() {
  local candidate
  for candidate in python3.12 "$HOME"/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  if PYENV_VERSION=$(pyenv versions --bare 2>/dev/null | grep -m1 '^3\.12') python3.12 -c '' 2>/dev/null; then
    PYENV_VERSION=$(pyenv versions --bare | grep -m1 '^3\.12') pyenv which python3.12; return 0
  fi
  return 1
}

if [ ! -x .venv/bin/python ]; then
  python=$(find_python312) || { echo "setup: Python 3.12 is required (jax 0.12 needs >= 3.12) and none was found; install python3.12 (e.g. pyenv install 3.12) and run this script again" >&2; exit 1; }
  echo "setup: creating .venv with $python"
  "$python" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
stamp=.venv/.cnnjax-installed extras=test,viz
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ "$(cat "$stamp")" != "$extras" ]; then
  echo "setup: installing cnnjax and its dependencies into .venv"
  .venv/bin/python -m pip install -q -e ".[$extras]"
  echo "$extras" > "$stamp"
fi

# The oneDNN convolution (cnnjax/functional/onednn_conv.cc -> _build/onednn_conv.so): oneDNN 3.2 from PyPI (CPU only, GNU
# OpenMP), compiled with g++ against jax's FFI headers. Rebuilt only when the source is newer than the library; when
# it cannot be built, one line says so and cnnjax runs its lax convolutions.
onednn_source=cnnjax/functional/onednn_conv.cc onednn_library=cnnjax/functional/_build/onednn_conv.so
if [ ! -f "$onednn_library" ] || [ "$onednn_source" -nt "$onednn_library" ]; then
  if onednn_log=$(
    # (set -e does not apply inside an if condition: each step is chained)
    .venv/bin/python -m pip install -q onednn-cpu-gomp==2023.2.0 onednn-devel-cpu-gomp==2023.2.0 2>&1 &&
      jax_include=$(.venv/bin/python -c 'import jax; print(jax.ffi.include_dir())' 2>&1) &&
      venv=$(cd .venv && pwd) && mkdir -p "$(dirname "$onednn_library")" &&
      g++ -O2 -std=c++17 -fPIC -shared -isystem "$jax_include" -isystem "$venv/include" "$onednn_source" \
        -o "$onednn_library.tmp" -L"$venv/lib" -ldnnl -lgomp -Wl,-rpath,"$venv/lib" 2>&1 &&
      mv "$onednn_library.tmp" "$onednn_library"
  ); then
    echo "setup: built the oneDNN convolution ($onednn_library)"
  else
    rm -f "$onednn_library.tmp"
    echo "setup: the oneDNN convolution did not build, cnnjax will use lax convolutions (needs g++ and the onednn-devel-cpu-gomp 2023.2.0 wheel): $(printf '%s' "$onednn_log" | grep -m1 -iE 'error|not found|no matching' || printf '%s' "$onednn_log" | tail -n1)"
  fi
fi

fmnist_dir=${CNNJAX_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
if [ ! -f "$fmnist_dir/train-images-idx3-ubyte.gz" ] && [ ! -f "$fmnist_dir/train-images-idx3-ubyte" ]; then
  if [ -z "${CNNJAX_FASHION_MNIST_DIR:-}" ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Fashion-MNIST (Debian package dataset-fashion-mnist)"
    sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq dataset-fashion-mnist >/dev/null
  else
    echo "setup: Fashion-MNIST not found in $fmnist_dir; put the four IDX files there or set CNNJAX_FASHION_MNIST_DIR" >&2
    exit 1
  fi
fi

if [ "${1:-}" = "--torch" ] && [ ! -x .venv-torch/bin/python ]; then
  echo "setup: creating .venv-torch (Python 3.11, torch 2.13.0 CPU, torchvision 0.28.0 without its compiled ops)"
  python3.11 -m venv .venv-torch
  .venv-torch/bin/python -m pip install -q torch==2.13.0 numpy pillow
  .venv-torch/bin/python -m pip install -q --no-deps torchvision==0.28.0
fi
echo "setup: ok"
