#!/usr/bin/env bash
# Runs every test of dedupegate on a fresh machine: installs what the tests need when it is
# missing (Debian's redis-server; Chromium and playwright-core for the browser tests), checks
# formatting and vet, runs `go test -race ./...` (the Redis tests start their own standalone
# server and 3-node cluster on loopback ports and stop them), then fuzzes the payload decoder for
# a short fixed time.
#
#   scripts/test.sh            everything
#   FUZZTIME=0 scripts/test.sh skip the fuzz step
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need_apt+=(redis-tools)
# Headless Chromium for the form-script and dashboard browser tests.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== installing ${need_apt[*]} (Debian packages)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# A Redis started by the package's service scripts is not needed: tests start their own.

if [ -f webresources/package.json ]; then
  echo "== npm install (webresources: playwright-core, no browser download)"
  (cd webresources && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change:"; echo "$unformatted"; exit 1; fi
echo "== go vet"
go vet ./...

echo "== go test -race ./..."
go test -race -count=1 -timeout 20m ./...

FUZZTIME=${FUZZTIME:-20s}
if [ "$FUZZTIME" != "0" ]; then
  echo "== fuzz the Dataverse payload decoder (fast path against the encoding/json reference) for $FUZZTIME"
  go test ./dataverse -run '^$' -fuzz '^FuzzDecodeContextMatchesReference$' -fuzztime "$FUZZTIME" -fuzzminimizetime 5s
fi
echo "== all tests passed"
