#!/usr/bin/env bash
# Installs what the build and the tests need and a fresh Debian machine lacks:
# libzstd-dev (and pkg-config), PostgreSQL's server binaries (postgresql).
# Idempotent; quiet when everything is there.
set -euo pipefail
missing=()
dpkg -s libzstd-dev >/dev/null 2>&1 || missing+=(libzstd-dev)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-pip)
# Tools/schemathesis.sh installs schemathesis into a virtualenv (Debian's python3 needs python3-venv).
python3 -c "import venv, ensurepip" >/dev/null 2>&1 || missing+=(python3-venv)
# The PostgreSQL storage's tests start a throwaway server (initdb, pg_ctl; PostgresTestSupport).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The OpenAPI document's validity test runs python3 -m openapi_spec_validator.
if ! python3 -c "import openapi_spec_validator" >/dev/null 2>&1; then
  echo "installing: openapi-spec-validator (PyPI)" >&2
  python3 -m pip install -q openapi-spec-validator >/dev/null 2>&1 \
    || python3 -m pip install -q --break-system-packages openapi-spec-validator >/dev/null
fi
