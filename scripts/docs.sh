#!/usr/bin/env bash
# Builds the documentation (docs/: Sphinx + MyST pages and the autodoc API reference) into docs/_build/html,
# offline, with warnings as errors. Installs the `docs` extra into .venv first if Sphinx or MyST is missing there.
# Needs .venv (bash scripts/setup.sh). Open docs/_build/html/index.html in a browser.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  echo "docs: .venv is missing; run bash scripts/setup.sh first" >&2
  exit 1
fi
if ! .venv/bin/python -c 'import sphinx, myst_parser' 2>/dev/null; then
  echo "docs: installing the docs extra into .venv"
  .venv/bin/python -m pip install -q -e ".[docs]"
fi
.venv/bin/sphinx-build -W --keep-going -b html docs docs/_build/html
