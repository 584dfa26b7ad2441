#!/usr/bin/env bash
# fetch-chdb.sh fetches libchdb.so (ClickHouse as a library) for the embedded
# engine in embedded/chdb and prints its path as the last line on stdout.
#
# No modern ClickHouse server installs on our machines, but the npm package
# @chdb/lib-linux-x64-gnu ships libchdb.so, so we take it from there with
# `npm pack` and pin the tarball's sha256: a silently republished tarball
# would otherwise change the engine under every test.
#
# Environment:
#   SALESPULSE_LIBCHDB  use this file instead; it is only checked to exist.
#   SALESPULSE_CACHE    cache root (default $HOME/.cache/salespulse); the
#                       library lands in $SALESPULSE_CACHE/chdb/VERSION/.
#   CHDB_VERSION        override the pinned version (then CHDB_SHA256 too).
#
# Idempotent: a cached, verified library is printed without touching npm.
set -euo pipefail

VERSION="${CHDB_VERSION:-26.5.3}"
# sha256 of chdb-lib-linux-x64-gnu-26.5.3.tgz as served by the npm registry.
PINNED_SHA256_26_5_3="b874e449710950da3abd7e20376f7bb3387d9e03adcc7082f022be18dfdf316a"
if [[ -n "${CHDB_SHA256:-}" ]]; then
	SHA256="$CHDB_SHA256"
elif [[ "$VERSION" == "26.5.3" ]]; then
	SHA256="$PINNED_SHA256_26_5_3"
else
	echo "fetch-chdb: no pinned sha256 for version $VERSION: set CHDB_SHA256" >&2
	exit 2
fi

die() { echo "fetch-chdb: $*" >&2; exit 1; }

if [[ -n "${SALESPULSE_LIBCHDB:-}" ]]; then
	[[ -f "$SALESPULSE_LIBCHDB" ]] || die "SALESPULSE_LIBCHDB=$SALESPULSE_LIBCHDB does not exist"
	echo "$SALESPULSE_LIBCHDB"
	exit 0
fi

CACHE_ROOT="${SALESPULSE_CACHE:-${HOME:?HOME or SALESPULSE_CACHE must be set}/.cache/salespulse}"
DIR="$CACHE_ROOT/chdb/$VERSION"
LIB="$DIR/libchdb.so"
STAMP="$DIR/.verified-$SHA256"

# The stamp is written only after a verified extraction, so a half-extracted
# library from an interrupted run is never mistaken for a good one.
if [[ -f "$LIB" && -f "$STAMP" ]]; then
	echo "$LIB"
	exit 0
fi

command -v npm >/dev/null || die "npm not found: install Node.js/npm (apt-get install npm) or set SALESPULSE_LIBCHDB"
command -v sha256sum >/dev/null || die "sha256sum not found (coreutils)"
mkdir -p "$DIR"
TMP="$(mktemp -d "$DIR/.fetch.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

TGZ="$TMP/chdb-lib-linux-x64-gnu-$VERSION.tgz"
echo "fetch-chdb: npm pack @chdb/lib-linux-x64-gnu@$VERSION (~160 MB)" >&2
(cd "$TMP" && npm pack --silent "@chdb/lib-linux-x64-gnu@$VERSION" >/dev/null) \
	|| die "npm pack @chdb/lib-linux-x64-gnu@$VERSION failed (is the npm registry reachable?)"
[[ -f "$TGZ" ]] || die "npm pack did not produce $TGZ"

GOT="$(sha256sum "$TGZ" | cut -d' ' -f1)"
[[ "$GOT" == "$SHA256" ]] || die "checksum mismatch for $TGZ: got $GOT, pinned $SHA256"

# The package holds libchdb.so (self-contained: it needs only glibc's libc,
# libm, libpthread, librt, libdl) plus a Node addon we do not use.
tar -xzf "$TGZ" -C "$TMP" package/libchdb.so || die "extract libchdb.so from $TGZ failed"
mv -f "$TMP/package/libchdb.so" "$LIB"
rm -f "$DIR"/.verified-*
touch "$STAMP"
echo "fetch-chdb: verified and extracted $LIB" >&2
echo "$LIB"
