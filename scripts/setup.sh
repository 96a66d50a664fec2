#!/usr/bin/env bash
# Install everything landscape needs, idempotently:
#   - Debian packages (as root): latexmk and the TeX Live parts the templates use, poppler-utils,
#     and dataset-fashion-mnist (the real Fashion-MNIST of the default profile);
#   - a virtual environment in .venv with the package and its pinned dependencies.
# Run again after pulling: it only installs what is missing or changed.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(latexmk texlive-latex-base texlive-latex-recommended texlive-latex-extra texlive-pictures
              texlive-science lmodern poppler-utils dataset-fashion-mnist)

missing=()
for package in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "setup: installing Debian packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "setup: missing system packages: ${missing[*]}" >&2
        echo "setup: run 'sudo scripts/setup.sh' (Debian/Ubuntu), or install latexmk, TeX Live and poppler-utils yourself" >&2
        exit 1
    fi
fi

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup: landscape needs Python >= 3.11; $PYTHON is $("$PYTHON" --version 2>&1). Set PYTHON=/path/to/python3.11" >&2
    exit 1
fi
[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv

# Reinstall only when the dependency list changed (the stamp holds pyproject.toml's hash).
stamp=.venv/.landscape-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
    echo "setup: installing the Python environment into .venv (torch is ~5.5 GB; a few minutes)"
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e '.[test]'
    echo "$want" > "$stamp"
fi
