#!/usr/bin/env bash
# Makes the peer syslog daemons (rsyslog with its GnuTLS driver, omrelp and
# omkafka, whose librelp and librdkafka are installed as libraries like the
# others, and syslog-ng)
# runnable by the tests without installing them as Debian packages: rsyslog and
# syslog-ng conflict with each other, and installing either one would start a
# system logger. Instead each .deb is unpacked into a private prefix and only the
# shared libraries they link against are installed with apt.
#
# Usage: tests/peers/install.sh           (root, Debian 12; idempotent, fast when done)
#        tests/peers/install.sh --check   (anyone: exit 1 unless the peers are usable)
#
# Environment (defaults under the repo's target/, which git ignores):
#   PYSYSLOG_PEERS       the private prefix            (target/peers/root)
#   PYSYSLOG_PEERS_DEBS  where the .deb files are kept (target/peers/debs)
#
# Steps, each skipped when already done:
#   1. `apt-get download` the packages into the cache (a cached .deb is reused);
#   2. `dpkg-deb -x` every .deb into the prefix (redone only when the set of
#      .deb files changed; recorded in PREFIX/.debs);
#   3. install the libraries named by their Depends/Pre-Depends fields. The rule:
#      take each dependency's first alternative, drop its version constraint and
#      architecture qualifier, drop the packages we unpack ourselves, and keep it
#      only if Debian files it in section "libs", the section of shared-library
#      packages. Libraries run nothing when installed; everything else a daemon
#      package depends on (the init-system glue: lsb-base, init-system-helpers,
#      sysvinit-utils; debconf, adduser, logrotate, the other peer) is what would
#      make it a system service, and the foreground daemons in the tests need none
#      of it. The libraries kept are recorded in PREFIX/.libs;
#   4. smoke-test both daemons (`rsyslogd -v`, `syslog-ng -V`) and print where
#      they are.
# `apt-get update` runs only when the package lists are empty or a download or an
# install failed.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
prefix=${PYSYSLOG_PEERS:-$repo/target/peers/root}
debs=${PYSYSLOG_PEERS_DEBS:-$repo/target/peers/debs}
packages=(rsyslog rsyslog-gnutls rsyslog-relp rsyslog-kafka syslog-ng-core)

say() { echo "peers: $*" >&2; }

rsyslogd=$prefix/usr/sbin/rsyslogd
rsyslog_modules=$prefix/usr/lib/x86_64-linux-gnu/rsyslog
syslog_ng=$prefix/usr/sbin/syslog-ng
syslog_ng_libs=$prefix/usr/lib/syslog-ng

# Both daemons start and report their version: binaries, modules and libraries are there.
usable() {
  [ -x "$rsyslogd" ] && [ -f "$rsyslog_modules/lmnsd_gtls.so" ] && [ -f "$rsyslog_modules/omrelp.so" ] && [ -x "$syslog_ng" ] &&
    "$rsyslogd" -v >/dev/null 2>&1 &&
    LD_LIBRARY_PATH=$syslog_ng_libs "$syslog_ng" -V >/dev/null 2>&1
}

report() {
  local modules
  modules=$(find "$syslog_ng_libs" -mindepth 1 -maxdepth 1 -type d -name '[0-9]*' | sort | tail -1)
  cat <<EOF
peers: ready in $prefix
  rsyslogd:  $rsyslogd -n -f CONF -i PIDFILE -M $rsyslog_modules
  syslog-ng: LD_LIBRARY_PATH=$syslog_ng_libs $syslog_ng -F -f CONF --module-path=$modules --pidfile P --persist-file F --control C
  tests read the prefix from PYSYSLOG_PEERS=$prefix
EOF
}

if [ "${1:-}" = --check ]; then
  if usable; then report; exit 0; fi
  say "rsyslog/syslog-ng are not usable under $prefix: run tests/run (or tests/peers/install.sh) as root"
  exit 1
fi
[ "$(id -u)" = 0 ] || { say "must run as root (it installs libraries with apt-get)"; exit 1; }
export DEBIAN_FRONTEND=noninteractive

lists_empty() { ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; }
updated=no
update() {
  [ $updated = yes ] && return 0
  say "apt-get update"
  apt-get update -qq
  updated=yes
}
# Run an apt command; on failure refresh the lists once and retry.
apt_retry() {
  "$@" && return 0
  [ $updated = yes ] && return 1
  update
  "$@"
}

# 1. Download.
mkdir -p "$debs"
missing=()
for p in "${packages[@]}"; do
  compgen -G "$debs/${p}_*.deb" >/dev/null || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  lists_empty && update
  say "downloading ${missing[*]} into $debs"
  # The cache is root's: apt's unprivileged sandbox user may not be able to enter it.
  (cd "$debs" && apt_retry apt-get download -qq -o APT::Sandbox::User=root "${missing[@]}")
fi
files=()
for p in "${packages[@]}"; do
  f=$(find "$debs" -maxdepth 1 -name "${p}_*.deb" | sort -V | tail -1)
  [ -n "$f" ] || { say "no .deb for $p in $debs"; exit 1; }
  files+=("$f")
done

# 2. Unpack.
want=$(for f in "${files[@]}"; do basename "$f"; done)
if [ "$(cat "$prefix/.debs" 2>/dev/null)" != "$want" ]; then
  say "unpacking into $prefix"
  rm -rf "$prefix"
  mkdir -p "$prefix"
  for f in "${files[@]}"; do dpkg-deb -x "$f" "$prefix"; done
  echo "$want" >"$prefix/.debs"
  rm -f "$prefix/.libs"
fi

# 3. Libraries.
installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]; }
all_installed() {
  local p
  for p in "$@"; do installed "$p" || return 1; done
}
section() {
  if installed "$1"; then
    dpkg-query -W -f='${Section}' "$1"
  else
    apt-cache show --no-all-versions "$1" 2>/dev/null | sed -n 's/^Section: //p' | head -1
  fi
}
if [ -f "$prefix/.libs" ] && all_installed $(cat "$prefix/.libs"); then
  : # done on an earlier run
else
  deps=$(for f in "${files[@]}"; do
    for field in Pre-Depends Depends; do dpkg-deb -f "$f" "$field"; done
  done | tr ',' '\n' | sed -e 's/|.*//' -e 's/(.*)//' -e 's/:[a-z0-9]*//' -e 's/[[:space:]]//g' |
    grep -v '^$' | sort -u)
  lists_empty && update
  libs=()
  for d in $deps; do
    [[ " ${packages[*]} " == *" $d "* ]] && continue
    s=$(section "$d")
    if [ -z "$s" ] && [ $updated = no ]; then update; s=$(section "$d"); fi
    case $s in
      libs | */libs) libs+=("$d") ;;
      *) say "not installing $d (section ${s:-unknown}: not a library)" ;;
    esac
  done
  need=()
  for l in "${libs[@]}"; do installed "$l" || need+=("$l"); done
  if [ ${#need[@]} -gt 0 ]; then
    say "installing libraries: ${need[*]}"
    apt_retry apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  printf '%s\n' "${libs[@]}" >"$prefix/.libs"
fi

# 4. Check and report.
if ! usable; then
  say "the unpacked daemons do not start:"
  "$rsyslogd" -v >&2 || true
  LD_LIBRARY_PATH=$syslog_ng_libs "$syslog_ng" -V >&2 || true
  exit 1
fi
report
