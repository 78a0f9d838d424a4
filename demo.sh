#!/usr/bin/env bash
# Installs what is missing, builds a Release drift_exporter and runs it on the bundled demo host.
set -euo pipefail
cd "$(dirname "$0")"
packaging/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DDRIFT_BUILD_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)" --target drift_exporter
# Fresh backup status, generation timestamp and journal for the demo host (see the script).
packaging/examples/demo/prepare.sh
address="${DRIFT_DEMO_ADDRESS:-127.0.0.1:9968}"
echo
echo "drift_exporter demo: http://${address}/  (metrics: http://${address}/metrics; Ctrl-C stops)"
echo
exec build/drift_exporter --config.file=packaging/examples/demo/config.yml \
  --web.listen-address="${address}" --web.enable-lifecycle "$@"
