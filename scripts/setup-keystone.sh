#!/usr/bin/env bash
# OpenStack Keystone from PyPI in a virtualenv of its own (.venv-keystone), for
# the tests that log in to a real Keystone (tests/keystone, and the dashboard's
# Keystone login in tests/browser). Its own virtualenv because Keystone pins
# oslo libraries that need not match lbaas's. Best effort: without it those
# tests say they are skipped and why.
set -u
VENV=${1:-.venv-keystone}
VERSION=30.0.0  # the release the tests were written against
PYTHON=${PYTHON:-python3}
if [ -x "$VENV/bin/keystone-manage" ]; then exit 0; fi
echo "installing Keystone $VERSION into $VENV"
if ! { "$PYTHON" -m venv "$VENV" && "$VENV/bin/pip" install --quiet --upgrade pip \
       && "$VENV/bin/pip" install --quiet "keystone==$VERSION"; } >"$VENV.log" 2>&1; then
  echo "note: could not install Keystone (see $VENV.log); tests/keystone will be skipped" >&2
  rm -rf "$VENV"
fi
exit 0
