#!/usr/bin/env bash
# Makes tansu, a Kafka-protocol broker (crates.io), runnable by tests/kafka.rs,
# the fleet test and bench-peers' kafka scenario. Apache Kafka's distribution
# cannot be fetched here. tansu's storage engines are cargo features: without
# `dynostore,libsql` it refuses `memory://`.
#
# A cold build takes 20-30 minutes on 2 cores, so the binary is cached outside
# the clone (a fresh clone on the same machine reuses it), and so is cargo's
# build directory (a rebuild after a toolchain change is incremental).
#
# Usage: tests/peers/tansu.sh          (builds when missing; prints the binary's path)
#        tests/peers/tansu.sh --check  (exit 1 unless the binary is there)
#
# Environment:
#   PYSYSLOG_CACHE   the cache root (/var/cache/pysyslog-tests as root,
#                    ~/.cache/pysyslog-tests otherwise)
set -euo pipefail
version=0.6.0
if [ "$(id -u)" = 0 ]; then default_cache=/var/cache/pysyslog-tests; else default_cache=${XDG_CACHE_HOME:-$HOME/.cache}/pysyslog-tests; fi
cache=${PYSYSLOG_CACHE:-$default_cache}
root=$cache/tansu-$version
bin=$root/bin/tansu

usable() { [ -x "$bin" ] && "$bin" broker --help >/dev/null 2>&1; }

if [ "${1:-}" = --check ]; then
  usable
  echo "$bin"
  exit 0
fi
if ! usable; then
  mkdir -p "$cache"
  echo "tansu.sh: building tansu $version into $root (20-30 minutes cold; log: $cache/tansu-build.log)" >&2
  start=$(date +%s)
  if ! cargo install --locked tansu --version "$version" --features dynostore,libsql \
    --root "$root" --target-dir "$cache/tansu-build" >"$cache/tansu-build.log" 2>&1; then
    tail -n 30 "$cache/tansu-build.log" >&2
    echo "tansu.sh: the build failed (whole log: $cache/tansu-build.log)" >&2
    exit 1
  fi
  echo "tansu.sh: built in $(( $(date +%s) - start )) s" >&2
  usable || { echo "tansu.sh: $bin does not run" >&2; exit 1; }
fi
echo "$bin"
