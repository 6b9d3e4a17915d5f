#!/usr/bin/env bash
# Installs what `npm run up` and `npm test` need and is missing: npm packages, the `temporal`
# CLI and a local Kubernetes control plane (built once into a cache outside the repo), and a
# running PostgreSQL on 127.0.0.1:5432.
# Safe to run again: each step checks first.
set -euo pipefail
cd "$(dirname "$0")/.."

TEMPORAL_VERSION=v1.5.1
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/trixtech-maintenance"
TEMPORAL_CACHED="$CACHE_DIR/temporal-$TEMPORAL_VERSION/temporal"
# Keep in step with dev/kube-local/binaries.ts and scripts/kubernetes/go.mod.
KUBERNETES_VERSION=v1.34.2
KWOK_VERSION=v0.8.0
KUBERNETES_CACHED="$CACHE_DIR/kubernetes-$KUBERNETES_VERSION"
KWOK_CACHED="$CACHE_DIR/kwok-$KWOK_VERSION/kwok"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
say() { echo "bootstrap: $*" >&2; }

# One bootstrap at a time per cache: a second `npm test` or `npm run up` started during a build
# waits for it and then finds the binaries, instead of building them a second time beside it.
mkdir -p "$CACHE_DIR"
exec 9>"$CACHE_DIR/.bootstrap.lock"
if ! flock -n 9; then
  say "another bootstrap is building into $CACHE_DIR; waiting for it"
  flock 9
fi

# 1. npm packages, when node_modules is missing or older than the lock file.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages"
  # npm install, not npm ci: this npm leaves foreign-platform optional packages out of the lock,
  # which npm ci then rejects; install still follows the lock for every package it lists.
  # --no-save: it never writes package-lock.json, so `npm test` leaves a fresh clone's tree clean.
  npm install --no-save --no-audit --no-fund --loglevel=error
fi

# 2. The temporal CLI: $TEMPORAL_CLI, then PATH, then our cache; build it only when none exists.
if [ -n "${TEMPORAL_CLI:-}" ] && [ -x "$TEMPORAL_CLI" ]; then :
elif command -v temporal >/dev/null 2>&1; then :
elif [ -x "$TEMPORAL_CACHED" ]; then :
else
  command -v go >/dev/null 2>&1 || [ -x /usr/local/go/bin/go ] || { say "no temporal binary and no Go toolchain (>= 1.25) to build one; install temporal or set TEMPORAL_CLI"; exit 1; }
  GO=$(command -v go || echo /usr/local/go/bin/go)
  say "building temporal $TEMPORAL_VERSION into $TEMPORAL_CACHED (a few minutes, once)"
  mkdir -p "$(dirname "$TEMPORAL_CACHED")"
  GOBIN="$(dirname "$TEMPORAL_CACHED")" GOFLAGS=-buildvcs=false "$GO" install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_VERSION"
fi

# 3. The local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
#    kube-scheduler, kubectl: one binary from scripts/kubernetes, linked under each name) and kwok
#    (simulated nodes), unless given by KUBERNETES_BIN_DIR / KWOK_BIN. Built once, into a
#    temporary directory renamed into place, so an interrupted build never looks finished.
go_toolchain() {
  command -v go >/dev/null 2>&1 || [ -x /usr/local/go/bin/go ] || { say "no Go toolchain (>= 1.26) to build $1; install Go or set $2"; exit 1; }
  command -v go || echo /usr/local/go/bin/go
}
if [ -n "${KUBERNETES_BIN_DIR:-}" ]; then
  [ -x "$KUBERNETES_BIN_DIR/kube-apiserver" ] || { say "KUBERNETES_BIN_DIR=$KUBERNETES_BIN_DIR has no kube-apiserver"; exit 1; }
elif [ ! -x "$KUBERNETES_CACHED/kubectl" ]; then
  GO=$(go_toolchain "Kubernetes $KUBERNETES_VERSION" KUBERNETES_BIN_DIR)
  say "building Kubernetes $KUBERNETES_VERSION (etcd, kube-apiserver, controller-manager, scheduler, kubectl) into $KUBERNETES_CACHED (about 7 minutes on 2 cores, once)"
  mkdir -p "$CACHE_DIR"
  tmp=$(mktemp -d "$CACHE_DIR/.kubernetes-build.XXXXXX")
  version_pkgs="k8s.io/component-base/version k8s.io/client-go/pkg/version"
  ldflags="-s -w"
  for pkg in $version_pkgs; do
    ldflags="$ldflags -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2) -X $pkg.gitTreeState=clean"
  done
  (cd scripts/kubernetes && GOFLAGS=-buildvcs=false "$GO" build -trimpath -ldflags "$ldflags" -o "$tmp/kube" .)
  for name in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl; do ln -s kube "$tmp/$name"; done
  chmod 755 "$tmp"
  rm -rf "$KUBERNETES_CACHED"
  mv "$tmp" "$KUBERNETES_CACHED"
fi
if [ -n "${KWOK_BIN:-}" ]; then
  [ -x "$KWOK_BIN" ] || { say "KWOK_BIN=$KWOK_BIN is not an executable"; exit 1; }
elif [ ! -x "$KWOK_CACHED" ]; then
  GO=$(go_toolchain "kwok $KWOK_VERSION" KWOK_BIN)
  say "building kwok $KWOK_VERSION into $KWOK_CACHED (a few minutes, once)"
  mkdir -p "$CACHE_DIR"
  tmp=$(mktemp -d "$CACHE_DIR/.kwok-build.XXXXXX")
  GOBIN="$tmp" GOFLAGS=-buildvcs=false "$GO" install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  chmod 755 "$tmp"
  rm -rf "$(dirname "$KWOK_CACHED")"
  mv "$tmp" "$(dirname "$KWOK_CACHED")"
fi

# The builds are done: let the next bootstrap in, and keep the lock out of daemons started below.
exec 9>&-

# 4. PostgreSQL on 127.0.0.1:5432 (the booking database and the report store).
if ! command -v pg_lsclusters >/dev/null 2>&1; then
  say "installing PostgreSQL"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
  # Local development only: trust loopback connections, as the CI machines do.
  for hba in /etc/postgresql/*/main/pg_hba.conf; do
    $SUDO sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
  done
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  say "starting PostgreSQL"
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -q -h 127.0.0.1 -p 5432 || { say "PostgreSQL is not answering on 127.0.0.1:5432"; exit 1; }
# The weekly reviews' slowest queries need pg_stat_statements, which only a server start can load.
# Only for the Debian cluster this script manages (one restart, once; existing libraries kept); a
# server run some other way is left alone and the reviews say the extension is missing.
preloaded=$(psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -Atc 'SHOW shared_preload_libraries' 2>/dev/null || true)
if [[ ",${preloaded// /}," != *,pg_stat_statements,* ]] && command -v pg_lsclusters >/dev/null 2>&1; then
  read -r pg_version pg_cluster < <(pg_lsclusters --no-header | awk '$3 == 5432 && $4 == "online" { print $1, $2; exit }') || true
  if [ -n "${pg_cluster:-}" ]; then
    say "preloading pg_stat_statements in PostgreSQL $pg_version/$pg_cluster (one restart)"
    echo "shared_preload_libraries = '${preloaded:+$preloaded,}pg_stat_statements'" |
      $SUDO tee "/etc/postgresql/$pg_version/$pg_cluster/conf.d/trixtech-pg-stat-statements.conf" >/dev/null
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$pg_version" "$pg_cluster" restart
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
    pg_isready -q -h 127.0.0.1 -p 5432 || { say "PostgreSQL did not come back after the restart"; exit 1; }
  fi
fi

# 5. Validators the suite runs: Debian's docker-compose (docker-compose.yml, no engine needed)
#    and promtool from Debian's prometheus (the alerting rules); pgbackrest, the optional second
#    backup source, which the suite runs against a scratch cluster of its own; Alertmanager and
#    the CNCF distribution registry (docker-registry), which the tests start on loopback.
missing=()
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v pgbackrest >/dev/null 2>&1 || missing+=(pgbackrest)
# The alert gate's tests run a real Alertmanager of their own; the image update's a registry.
command -v prometheus-alertmanager >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]} (used by the tests)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
