#!/usr/bin/env bash
# Makes a release of rules_img: tools/release.sh VERSION OUTDIR [URL_BASE]
#
# Writes into OUTDIR:
#   rules_img-VERSION.tar.gz     the module as users get it: no e2e, bench,
#                                examples or development files; its
#                                MODULE.bazel carries VERSION and the checksums
#                                of the binaries below, found under URL_BASE
#   img-VERSION-OS-ARCH[.exe]    img for linux, darwin and windows on amd64 and
#                                arm64: static, -trimpath, reproducible
#   SHA256SUMS                   of all of the above
#   RELEASE_NOTES.md             the MODULE.bazel lines that install this
#                                version, from a registry or pinned to the
#                                archive by its integrity
#   registry/                    a Bazel module registry serving this version,
#                                its archive at URL_BASE/rules_img-VERSION.tar.gz
#
# URL_BASE defaults to the project's release download URL; tests pass
# file://OUTDIR. Everything is reproducible: the same checkout and Go give the
# same bytes. The checkout must be clean (RULES_IMG_RELEASE_DIRTY=1 takes the
# work tree as it is, for tests).
set -euo pipefail

die() { printf 'release: error: %s\n' "$*" >&2; exit 1; }
log() { printf 'release: %s\n' "$*" >&2; }

[ $# -ge 2 ] && [ $# -le 3 ] || die "usage: tools/release.sh VERSION OUTDIR [URL_BASE]"
VERSION=$1
OUT=$2
URL_BASE=${3:-https://github.com/rules-img/rules_img/releases/download/v$VERSION}
URL_BASE=${URL_BASE%/}
[[ $VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] || die "VERSION $VERSION is not MAJOR.MINOR.PATCH[-PRERELEASE]"

cd "$(dirname "$0")/.."
ROOT=$PWD
GO=${GO:-go}
export GOTOOLCHAIN=${GOTOOLCHAIN:-local} GOFLAGS=-mod=readonly CGO_ENABLED=0

if [ -z "${RULES_IMG_RELEASE_DIRTY:-}" ] && [ -n "$(git status --porcelain)" ]; then
	die "the checkout has changes (git status); commit or stash them, so the release is what the commit says"
fi

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
STAGE=$(mktemp -d "${TMPDIR:-/var/tmp}/rules_img_release.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT

# --- binaries ---------------------------------------------------------------
PLATFORMS=(linux_amd64 linux_arm64 darwin_amd64 darwin_arm64 windows_amd64 windows_arm64)
declare -A SUMS
for p in "${PLATFORMS[@]}"; do
	os=${p%_*} arch=${p#*_} ext=""
	[ "$os" = windows ] && ext=.exe
	name=img-$VERSION-$os-$arch$ext
	log "building $name"
	# -buildid= and -trimpath: no path or build ID of this machine in the bytes.
	GOOS=$os GOARCH=$arch "$GO" build -trimpath -buildvcs=false \
		-ldflags "-s -w -buildid= -X main.version=$VERSION" -o "$STAGE/$name" ./cmd/img
	mv "$STAGE/$name" "$OUT/$name"
	SUMS[$p]=$(sha256sum "$OUT/$name" | cut -d' ' -f1)
done

# --- the module archive -----------------------------------------------------
# What a user's build reads: the Starlark API, the sources img is built from
# by img_tool.source(), and the docs; and e2e/bcr, the Bazel Central
# Registry's test module (.bcr/presubmit.yml). Go BUILD files, tests and fuzz
# corpora are development files (rules_go is a dev dependency).
module_files() {
	git ls-files --cached --others --exclude-standard -- \
		img oci cosign container cmd pkg docs README.md CHANGELOG.md LICENSE go.mod go.sum e2e/bcr |
		grep -v -e '_test\.go$' -e '/testdata/' -e '^img/private/tests/' -e '^docs/BUILD.bazel$' |
		while read -r f; do
			[ -f "$f" ] || continue
			case $f in
			cmd/img/BUILD.bazel | pkg/*BUILD.bazel) continue ;;
			esac
			echo "$f"
		done
}

TOP=rules_img-$VERSION
mkdir -p "$STAGE/$TOP"
module_files | while read -r f; do
	mkdir -p "$STAGE/$TOP/$(dirname "$f")"
	cp "$f" "$STAGE/$TOP/$f"
done

# MODULE.bazel: this version, this release's binaries, no development section.
sha_dict=$(for p in "${PLATFORMS[@]}"; do printf '        "%s": "%s",\n' "$p" "${SUMS[$p]}"; done)
awk -v version="$VERSION" -v url_base="$URL_BASE" -v shas="$sha_dict" '
	/^# ---- Development only/ { skip = 1 }
	skip && /^# ---- End of development section/ { skip = 0; after = 1; next }
	skip { next }
	after && /^$/ { after = 0; next }
	/^module\(/ { in_module = 1 }
	in_module && /^    version = / { print "    version = \"" version "\","; next }
	in_module && /^\)/ { in_module = 0 }
	/^img_tool.release\(/ { in_release = 1; print; next }
	in_release && /^    sha256 = / { print "    sha256 = {"; print shas; print "    },"; next }
	in_release && /^    url_base = / { print "    url_base = \"" url_base "\","; next }
	in_release && /^    version = / { print "    version = \"" version "\","; next }
	in_release && /^\)/ { in_release = 0 }
	{ print }
' MODULE.bazel >"$STAGE/$TOP/MODULE.bazel"
grep -q "\"linux_amd64\": \"${SUMS[linux_amd64]}\"" "$STAGE/$TOP/MODULE.bazel" ||
	die "MODULE.bazel's img_tool.release(...) block has a shape this script does not know; checksums were not written"
cat >"$STAGE/$TOP/BUILD.bazel" <<'EOF'
# rules_img's root package: the Go module files img_tool.source() builds from.
exports_files([
    "go.mod",
    "go.sum",
])
EOF

ARCHIVE=rules_img-$VERSION.tar.gz
# Sorted names, one owner, one time, no gzip name or time: the same bytes on
# every run.
(cd "$STAGE" && find "$TOP" -print0 | LC_ALL=C sort -z |
	tar --null --no-recursion -T - --format=gnu --owner=0 --group=0 --numeric-owner \
		--mtime=@0 --mode='u+rwX,go+rX,go-w' -cf -) | gzip -n -9 >"$OUT/$ARCHIVE.partial"
mv "$OUT/$ARCHIVE.partial" "$OUT/$ARCHIVE"

# --- the registry -----------------------------------------------------------
REG=$OUT/registry
rm -rf "$REG"
mkdir -p "$REG/modules/rules_img/$VERSION"
echo '{}' >"$REG/bazel_registry.json"
cat >"$REG/modules/rules_img/metadata.json" <<EOF
{
    "homepage": "https://github.com/rules-img/rules_img",
    "maintainers": [],
    "repository": ["github:rules-img/rules_img"],
    "versions": ["$VERSION"],
    "yanked_versions": {}
}
EOF
cp "$STAGE/$TOP/MODULE.bazel" "$REG/modules/rules_img/$VERSION/MODULE.bazel"
integrity=sha256-$(openssl dgst -sha256 -binary "$OUT/$ARCHIVE" | base64 -w0)
cat >"$REG/modules/rules_img/$VERSION/source.json" <<EOF
{
    "url": "$URL_BASE/$ARCHIVE",
    "integrity": "$integrity",
    "strip_prefix": "$TOP"
}
EOF

# The lines users paste, with this archive's real integrity.
cat >"$OUT/RELEASE_NOTES.md" <<EOF
# rules_img $VERSION

## Install

In \`MODULE.bazel\`, from a registry that has this release (the Bazel Central
Registry, or the \`registry/\` published beside it):

\`\`\`starlark
bazel_dep(name = "rules_img", version = "$VERSION")
\`\`\`

Or pinned to this release's archive, with no registry:

\`\`\`starlark
bazel_dep(name = "rules_img", version = "$VERSION")
archive_override(
    module_name = "rules_img",
    integrity = "$integrity",
    strip_prefix = "$TOP",
    urls = ["$URL_BASE/$ARCHIVE"],
)
\`\`\`

\`img\` comes prebuilt for your machine, checked against the checksums in the
archive's \`MODULE.bazel\` (also in \`SHA256SUMS\`); no Go is needed. What
changed: CHANGELOG.md in the archive.
EOF

(cd "$OUT" && sha256sum "$ARCHIVE" img-"$VERSION"-* >SHA256SUMS)
# The binaries' bytes depend on the Go that built them: say which.
log "img built with $("$GO" version)"
log "wrote $OUT: $ARCHIVE, ${#PLATFORMS[@]} img binaries, SHA256SUMS, RELEASE_NOTES.md, registry/ (archive at $URL_BASE/$ARCHIVE)"
