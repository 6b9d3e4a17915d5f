#!/usr/bin/env bash
# Builds the Temporal server (go.temporal.io/server cmd/server) and its SQL schema tool
# (cmd/tools/sql) into the cache, once: a production-shaped Temporal on PostgreSQL for
# `npm run chaos` and the same version docker-compose.yml runs. Prints the directory holding
# temporal-server, temporal-sql-tool and the module's schema/ and config/ folders.
# Not part of bootstrap: only the chaos run needs it (about 2 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."

# Keep in step with docker-compose.yml (temporalio/server image tag) and scripts/temporal-server/go.mod.
TEMPORAL_SERVER_VERSION=v1.29.1
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/trixtech-maintenance"
TARGET="$CACHE_DIR/temporal-server-$TEMPORAL_SERVER_VERSION"
say() { echo "build-temporal-server: $*" >&2; }

if [ ! -x "$TARGET/temporal-server" ] || [ ! -x "$TARGET/temporal-sql-tool" ] || [ ! -d "$TARGET/schema" ]; then
  command -v go >/dev/null 2>&1 || [ -x /usr/local/go/bin/go ] || { say "no Go toolchain (>= 1.25) to build the Temporal server"; exit 1; }
  GO=$(command -v go || echo /usr/local/go/bin/go)
  say "building Temporal server $TEMPORAL_SERVER_VERSION and its SQL tool into $TARGET (about 2 minutes on 2 cores, once)"
  mkdir -p "$CACHE_DIR"
  tmp=$(mktemp -d "$CACHE_DIR/.temporal-server-build.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  (
    cd scripts/temporal-server
    export GOFLAGS=-buildvcs=false
    "$GO" build -ldflags "-s -w" -o "$tmp/temporal-server" go.temporal.io/server/cmd/server
    "$GO" build -ldflags "-s -w" -o "$tmp/temporal-sql-tool" go.temporal.io/server/cmd/tools/sql
    # The schema files and sample configs ship in the module; copy them beside the binaries.
    module_dir=$("$GO" list -m -f '{{.Dir}}' go.temporal.io/server)
    cp -r "$module_dir/schema" "$tmp/schema"
    cp -r "$module_dir/config" "$tmp/config"
  )
  chmod -R u+w,go+rX "$tmp"
  rm -rf "$TARGET"
  mv "$tmp" "$TARGET"
  trap - EXIT
fi
echo "$TARGET"
