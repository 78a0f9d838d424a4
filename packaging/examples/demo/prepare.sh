#!/bin/sh
# Brings the demo host's time-dependent state up to now, so that the demo starts with five
# compliant checks (and encryption drifted) whoever runs it and however long after the checkout.
# demo.sh runs it before starting the exporter; run it yourself before `drift_exporter check`.
#
# - host/var/lib/backup/status.json (not in git) is written as a backup job would write it: last
#   backup an hour ago, last restore test six days ago. A committed file with fixed timestamps
#   would read as a stale backup (drift) a day after the commit.
# - The current NixOS generation's link, host/nix/var/nix/profiles/system-42-link, gets an
#   mtime three days ago: the patching check reads that mtime as the generation's build time,
#   and git gives files the checkout time, so an old clone would show a generation older than
#   max_age. touch -h changes only the link's timestamp, nothing git tracks.
# - The demo journal (host/var/log/journal/demo.log, not in git) starts empty each time: only
#   canaries written in the logging check's window count, and the stand-in journalctl reads the
#   whole file on every run.
set -eu
host="$(cd "$(dirname "$0")" && pwd)/host"

rfc3339_ago() {
  date -u -d "@$(($(date +%s) - $1))" +%Y-%m-%dT%H:%M:%SZ
}

mkdir -p "$host/var/lib/backup" "$host/var/log/journal"
tmp="$host/var/lib/backup/.status.json.tmp"
cat >"$tmp" <<JSON
{
  "job": "restic-nightly",
  "status": "success",
  "last_backup": "$(rfc3339_ago 3600)",
  "last_restore_test": "$(rfc3339_ago 518400)",
  "repository": "sftp:backup@backup.example.internal:/srv/restic/demo"
}
JSON
mv "$tmp" "$host/var/lib/backup/status.json"

touch -h -d "@$(($(date +%s) - 259200))" "$host/nix/var/nix/profiles/system-42-link"

: >"$host/var/log/journal/demo.log"
