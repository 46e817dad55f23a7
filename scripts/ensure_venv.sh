#!/usr/bin/env bash
# Make sure the virtual environment VENV (default .venv) exists with Python 3.11 or newer.
#
# Why a venv at all: Debian's and Ubuntu's python3 refuse `pip install` outside one
# (PEP 668, "externally-managed-environment"), and any other interpreter would get the
# project installed globally. Debian splits venv support into the `python3-venv` package;
# it is installed here when missing (as root or with passwordless sudo), like PostgreSQL
# in ensure_postgres.sh.
#
# The interpreter is $PYTHON_BOOT if set, else the first of python3, python3.13,
# python3.12, python3.11 on PATH that is 3.11 or newer.
set -euo pipefail
VENV="${1:-.venv}"

new_enough() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }

if [ -x "$VENV/bin/python" ] && new_enough "$VENV/bin/python"; then exit 0; fi
if [ -e "$VENV" ]; then
  # Never replace or delete a folder this script did not just make (it may be your venv).
  echo "error: $VENV exists but has no working Python 3.11+ (bin/python); remove it or" \
       "activate another virtual environment, then retry" >&2
  exit 1
fi

boot=""
for candidate in ${PYTHON_BOOT:-python3 python3.13 python3.12 python3.11}; do
  if command -v "$candidate" >/dev/null 2>&1 && new_enough "$candidate"; then
    boot="$candidate"; break
  fi
done
if [ -z "$boot" ]; then
  echo "error: no Python 3.11 or newer found (tried ${PYTHON_BOOT:-python3 python3.13 python3.12 python3.11});" \
       "install one (Debian/Ubuntu: apt-get install python3) or set PYTHON_BOOT=/path/to/python3.11+" >&2
  exit 1
fi

make_venv() {
  # A failed attempt leaves a venv without pip behind; never reuse it.
  if "$boot" -m venv "$VENV" >/dev/null 2>"$VENV.err"; then rm -f "$VENV.err"; return 0; fi
  rm -rf "$VENV"
  return 1
}

echo "creating the virtual environment $VENV with $(command -v "$boot") ($("$boot" -V 2>&1))"
mkdir -p "$(dirname "$VENV")"
if make_venv; then exit 0; fi

# Debian/Ubuntu without python3-venv: `python3 -m venv` fails for want of ensurepip.
version="$("$boot" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
if command -v apt-get >/dev/null 2>&1 && ! "$boot" -c 'import ensurepip' 2>/dev/null; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    if sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
      echo "error: $boot cannot create a virtual environment: run" \
           "'sudo apt-get install -y python${version}-venv', then retry" >&2
      exit 1
    fi
  fi
  echo "installing Debian's python${version}-venv package (venv support for $boot)..."
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "python${version}-venv" >/dev/null
  if make_venv; then exit 0; fi
fi
echo "error: '$boot -m venv $VENV' failed:" >&2
cat "$VENV.err" >&2 2>/dev/null || true
rm -f "$VENV.err"
exit 1
