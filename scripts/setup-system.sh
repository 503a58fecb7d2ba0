#!/usr/bin/env bash
# System packages the data plane needs (HAProxy, keepalived, nftables) from Debian,
# Chromium, which the dashboard's browser tests (tests/browser) drive, and wrk,
# the HTTP load generator of the benchmarks (benchmarks/api.py).
# Best effort: without root or apt the control plane still runs on the noop
# drivers, and the scenario tests say they are skipped and why.
set -u
missing=()
for pair in haproxy:haproxy keepalived:keepalived nft:nftables chromium:chromium wrk:wrk; do  # tool:package
  tool=${pair%%:*}
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing+=("${pair#*:}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: ${missing[*]} not installed and this is not a root Debian machine;" \
       "the data plane will fall back to the noop drivers" >&2
  exit 0
fi
echo "installing ${missing[*]} from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || true
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
  || echo "note: could not install ${missing[*]}" >&2
exit 0
