#!/usr/bin/env bash
# fetch-echarts.sh fetches Apache ECharts for the console (issue 14) and
# installs dist/echarts.min.js into internal/console/web/assets/vendor/,
# where go:embed picks it up at build time. It prints the installed path as
# the last line on stdout.
#
# The console must work offline (no CDN), so the chart library is embedded
# in the binary; it is taken from the npm registry's tarball and pinned by
# sha256, because a silently republished tarball would otherwise change the
# code every console page runs. The registry's own dist.integrity (sha512)
# is pinned too: the two hashes were checked against each other when the
# version was pinned, and a mismatch of either fails the fetch.
#
# Without the file the binary still builds (the vendor directory keeps a
# committed README.md for the embed pattern) and the console shows tables
# only, with a notice.
#
# Environment:
#   SALESPULSE_CACHE   cache root (default $HOME/.cache/salespulse); the
#                      tarball's verified extract lands in
#                      $SALESPULSE_CACHE/echarts/VERSION/.
#   ECHARTS_VERSION    override the pinned version (then ECHARTS_SHA256 too).
#
# Idempotent: an installed file equal to the verified cache is left alone,
# and a verified cache is installed without touching the network.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION="${ECHARTS_VERSION:-6.1.0}"
# sha256 of echarts-6.1.0.tgz as served by the npm registry, and the
# registry's dist.integrity for it (npm view echarts@6.1.0 dist.integrity).
PINNED_SHA256_6_1_0="681aff88cc1038c3fa941a3a53d1b177a52250b05335efc607d6105ae13be481"
PINNED_SHA512_6_1_0="sha512-q0yaFPggC9FUdsWH4blavRWFmxdrIodbkoKNAjJudAI6CA9gNPxHtV2RcZNEepZVlk4yvBYkOkbk6HIVpIyHZA=="
SHA512=""
if [[ -n "${ECHARTS_SHA256:-}" ]]; then
	SHA256="$ECHARTS_SHA256"
elif [[ "$VERSION" == "6.1.0" ]]; then
	SHA256="$PINNED_SHA256_6_1_0"
	SHA512="$PINNED_SHA512_6_1_0"
else
	echo "fetch-echarts: no pinned sha256 for version $VERSION: set ECHARTS_SHA256" >&2
	exit 2
fi

die() { echo "fetch-echarts: $*" >&2; exit 1; }

DEST_DIR="internal/console/web/assets/vendor"
DEST="$DEST_DIR/echarts.min.js"
CACHE_ROOT="${SALESPULSE_CACHE:-${HOME:?HOME or SALESPULSE_CACHE must be set}/.cache/salespulse}"
DIR="$CACHE_ROOT/echarts/$VERSION"
STAMP="$DIR/.verified-$SHA256"

# install copies the verified cache into the source tree when it differs:
# an unchanged file keeps its mtime, so go build's cache stays warm.
install_vendor() {
	mkdir -p "$DEST_DIR"
	for f in echarts.min.js LICENSE NOTICE; do
		local to="$DEST_DIR/$f"
		[[ "$f" == echarts.min.js ]] || to="$DEST_DIR/echarts.$f"
		if ! cmp -s "$DIR/$f" "$to"; then
			cp -f "$DIR/$f" "$to.tmp.$$" && mv -f "$to.tmp.$$" "$to"
		fi
	done
	echo "$DEST"
}

# The stamp is written only after a verified extraction, so a half-extracted
# file from an interrupted run is never mistaken for a good one.
if [[ -f "$STAMP" && -f "$DIR/echarts.min.js" ]]; then
	install_vendor
	exit 0
fi

command -v curl >/dev/null || die "curl not found (apt-get install curl)"
command -v sha256sum >/dev/null || die "sha256sum not found (coreutils)"
mkdir -p "$DIR"
TMP="$(mktemp -d "$DIR/.fetch.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

URL="https://registry.npmjs.org/echarts/-/echarts-$VERSION.tgz"
TGZ="$TMP/echarts-$VERSION.tgz"
echo "fetch-echarts: $URL (~12 MB)" >&2
curl -fsSL --retry 3 -o "$TGZ" "$URL" || die "download $URL failed (is the npm registry reachable?)"

GOT="$(sha256sum "$TGZ" | cut -d' ' -f1)"
[[ "$GOT" == "$SHA256" ]] || die "checksum mismatch for $TGZ: got sha256 $GOT, pinned $SHA256"
if [[ -n "$SHA512" ]]; then
	command -v openssl >/dev/null || die "openssl not found: needed to check the registry's sha512 integrity"
	GOT512="sha512-$(openssl dgst -sha512 -binary "$TGZ" | base64 -w0)"
	[[ "$GOT512" == "$SHA512" ]] || die "integrity mismatch for $TGZ: got $GOT512, pinned $SHA512"
fi

# The minified browser bundle, plus the Apache-2.0 LICENSE and NOTICE that
# must travel with it (the binary redistributes it).
tar -xzf "$TGZ" -C "$TMP" package/dist/echarts.min.js package/LICENSE package/NOTICE \
	|| die "extract dist/echarts.min.js from $TGZ failed"
mv -f "$TMP/package/dist/echarts.min.js" "$TMP/package/LICENSE" "$TMP/package/NOTICE" "$DIR/"
rm -f "$DIR"/.verified-*
touch "$STAMP"
echo "fetch-echarts: verified and extracted echarts $VERSION into $DIR" >&2
install_vendor
