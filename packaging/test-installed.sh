#!/usr/bin/env bash
# The Debian package, installed and run for real (run by .ci/run, as root, on a
# throwaway machine): install it, start the service through its SysV script on a
# loopback test port, send lines with logger and a flood, rotate with the shipped
# logrotate snippet during the flood, reload with a broken configuration, stop,
# purge. Leaves nothing running and the package purged, whatever fails.
#
# Usage: packaging/test-installed.sh DEB FLOOD_BINARY
set -euo pipefail
deb=$(realpath "$1")
flood=$(realpath "$2")
port=5514
log=/var/log/pysyslog/messages.log
# The collector's own messages (banner, reloads) go to their own file.
own=/var/log/pysyslog/pysyslog.log
step() { printf 'test-installed: %s\n' "$*"; }
# Running: exists and is not a zombie waiting for its parent (here init) to reap it.
running() { [ -r "/proc/$1/stat" ] && [ "$(sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f1)" != Z ]; }
fail() { printf 'test-installed: FAILED: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (it installs the package)"

# invoke-rc.d, which the logrotate snippet uses, asks policy-rc.d first; a
# container's policy usually forbids every service. Allow ours alone while the
# test runs, and put the machine's policy back afterwards.
policy=/usr/sbin/policy-rc.d
saved_policy=
if [ -e "$policy" ]; then
    saved_policy=$(mktemp)
    cp -p "$policy" "$saved_policy"
fi
cleanup() {
    if [ -x /etc/init.d/pysyslog ]; then /etc/init.d/pysyslog stop >/dev/null 2>&1 || true; fi
    if dpkg -s pysyslog >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq pysyslog >/dev/null 2>&1 || true
    fi
    if [ -n "$saved_policy" ]; then mv -f "$saved_policy" "$policy"; else rm -f "$policy"; fi
}
trap cleanup EXIT
printf '#!/bin/sh\n[ "$1" = pysyslog ] && exit 0\nexit 101\n' >"$policy"
chmod 755 "$policy"

step "install $(basename "$deb")"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" >/dev/null
getent passwd pysyslog >/dev/null || fail "the package did not create the pysyslog user"
owner_mode() { stat -c '%U:%G %a' "$1"; }
[ "$(owner_mode /usr/sbin/pysyslog)" = "root:root 755" ] || fail "/usr/sbin/pysyslog is $(owner_mode /usr/sbin/pysyslog)"
[ "$(owner_mode /var/log/pysyslog)" = "pysyslog:adm 2750" ] || fail "/var/log/pysyslog is $(owner_mode /var/log/pysyslog)"
for f in /etc/pysyslog/logging.json /etc/default/pysyslog /etc/logrotate.d/pysyslog /lib/systemd/system/pysyslog.service; do
    [ "$(owner_mode "$f")" = "root:root 644" ] || fail "$f is $(owner_mode "$f")"
done
[ "$(owner_mode /etc/init.d/pysyslog)" = "root:root 755" ] || fail "/etc/init.d/pysyslog is $(owner_mode /etc/init.d/pysyslog)"
zcat /usr/share/man/man8/pysyslog.8.gz | grep -qF 'logging\-config' || fail "the man page does not document --logging-config"
bash -c '. /usr/share/bash-completion/completions/pysyslog && complete -p pysyslog' >/dev/null \
    || fail "the bash completion does not register for pysyslog"
if command -v systemd-analyze >/dev/null; then
    # The installed unit, offline (this machine runs no systemd): its syntax,
    # and that every command it names is there and executable. Any finding fails.
    findings=$(systemd-analyze verify --man=no /lib/systemd/system/pysyslog.service 2>&1) \
        || fail "systemd-analyze verify: $findings"
    [ -z "$findings" ] || fail "systemd-analyze verify: $findings"
fi

step "start on 127.0.0.1:$port"
sed -i "s/^PYSYSLOG_OPTS=\"0.0.0.0 514 /PYSYSLOG_OPTS=\"127.0.0.1 $port /" /etc/default/pysyslog
grep -q "127.0.0.1 $port" /etc/default/pysyslog || fail "could not set the test port in /etc/default/pysyslog"
/etc/init.d/pysyslog start || fail "start"
pid=$(cat /run/pysyslog.pid)
/etc/init.d/pysyslog status | grep -q "is running (pid $pid)" || fail "status after start"
[ "$(stat -c %u /proc/"$pid")" = "$(id -u pysyslog)" ] || fail "the collector does not run as pysyslog"

token="installed-$$-$(date +%s)"
logger -T -n 127.0.0.1 -P "$port" "$token"
for _ in $(seq 1 200); do grep -q "$token" "$log" 2>/dev/null && break; sleep 0.05; done
grep -q "127.0.0.1 <13>.*$token" "$log" || fail "the logger line is not in $log"
[ "$(stat -c '%U %a' "$log")" = "pysyslog 640" ] || fail "$log is $(stat -c '%U %a' "$log")"

step "flood 400000 lines, rotating with the shipped logrotate snippet meanwhile"
report=$(mktemp)
"$flood" -c 4 -n 100000 --json --verify "$log" --verify-timeout 60 127.0.0.1 "$port" >"$report" &
flooder=$!
# Rotate once lines flow (the file grows), as logrotate's cron job would.
size0=$(stat -c %s "$log")
for _ in $(seq 1 400); do [ "$(stat -c %s "$log")" -gt $((size0 + 100000)) ] && break; sleep 0.01; done
logrotate -f /etc/logrotate.d/pysyslog || fail "logrotate"
wait "$flooder" || { ls -la /var/log/pysyslog >&2; fail "the flood failed: $(cat "$report")"; }
lost=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["lost"], r["duplicated"])' "$report")
if [ "$lost" != "0 0" ]; then
    ls -la /var/log/pysyslog >&2
    for f in /var/log/pysyslog/*; do printf '%s: %s lines\n' "$f" "$(zcat -f "$f" | wc -l)" >&2; done
    fail "lost, duplicated across the rotation: $lost ($(cat "$report"))"
fi
[ -s "$log.1" ] || fail "logrotate did not rotate $log"
[ -s "$log" ] || fail "nothing was written to the new $log after the rotation (no reload?)"
[ "$(stat -c '%U %a' "$log")" = "pysyslog 640" ] || fail "the new $log is $(stat -c '%U %a' "$log")"

step "reload and restart with a broken configuration: refused by the check, still serving"
cp -p /etc/pysyslog/logging.json /etc/pysyslog/logging.json.good
echo '{"version": 1, "handlers": {"x": {"class": "no.such.Handler"}}}' >/etc/pysyslog/logging.json
out=$(/etc/init.d/pysyslog reload 2>&1) && fail "reload with a broken configuration succeeded: $out"
grep -q "no.such.Handler" <<<"$out" || fail "the refused reload does not say why: $out"
out=$(/etc/init.d/pysyslog restart 2>&1) && fail "restart with a broken configuration succeeded: $out"
running "$pid" || fail "restart with a broken configuration stopped the service"
# A broken file that the check cannot see (SIGHUP straight to the collector):
# refused by the collector, logged, the old configuration stays.
kill -HUP "$pid"
for _ in $(seq 1 200); do grep -q "pysyslog.config" "$own" && break; sleep 0.05; done
mv -f /etc/pysyslog/logging.json.good /etc/pysyslog/logging.json
running "$pid" || fail "the service died on a broken configuration"
token2="after-reload-$$"
logger -T -n 127.0.0.1 -P "$port" "$token2"
for _ in $(seq 1 200); do grep -q "$token2" "$log" && break; sleep 0.05; done
grep -q "$token2" "$log" || fail "no line written after the refused reload"
grep -q "pysyslog.config" "$own" || fail "the refused reload was not logged in $own"
grep -q " pysyslog\." "$log" && fail "the collector's own messages are in the data file $log"
# (The forced rotation above moved the banner to $own.1.)
cat "$own" "$own.1" 2>/dev/null | grep -q "Listening for syslog" || fail "the banner is not in $own"

step "stop"
writer=$(cat /proc/"$pid"/task/*/children 2>/dev/null | tr ' ' '\n' | grep . | head -n 1 || true)
/etc/init.d/pysyslog stop || fail "stop"
running "$pid" && fail "the collector ($pid) is still running after stop"
if [ -n "$writer" ] && running "$writer"; then fail "the writer ($writer) is still running after stop"; fi
[ -e /run/pysyslog.pid ] && fail "the pid file is left after stop"

step "purge"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq pysyslog >/dev/null
[ -e /usr/sbin/pysyslog ] && fail "/usr/sbin/pysyslog is left after purge"
[ -e /var/log/pysyslog ] && fail "/var/log/pysyslog is left after purge"
[ -e /etc/pysyslog ] && fail "/etc/pysyslog is left after purge"
getent passwd pysyslog >/dev/null && fail "the pysyslog user is left after purge"
step "ok"
