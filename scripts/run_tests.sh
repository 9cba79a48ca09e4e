#!/usr/bin/env bash
# Set up and run the whole ComfyVN test suite on a fresh Debian machine:
#   1. as root, install the Debian packages listed in requirements-dev-system.txt that are missing;
#   2. create .venv and install ComfyVN with its dev tools (python3 run_comfyvn.py --setup-only --dev);
#   3. run pytest (arguments are passed on, e.g. `bash scripts/run_tests.sh -m "not slow"`).
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; then
  missing=()
  while read -r pkg; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done < <(grep -vE '^[[:space:]]*(#|$)' requirements-dev-system.txt | awk '{print $1}')
  if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
      echo "Installing system packages: ${missing[*]}"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends "${missing[@]}"
    else
      echo "note: system packages not installed (run as root to install them): ${missing[*]}" >&2
    fi
  fi
fi

python3 run_comfyvn.py --setup-only --dev

set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "error: pytest collected no tests" >&2
  exit 1
fi
exit "$status"
