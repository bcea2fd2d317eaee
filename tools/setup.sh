#!/usr/bin/env bash
# Prepares this machine to build and test rules_img without internet access.
#
# Idempotent: every step checks first and does nothing when already done, so
# both README commands can start with it. What it installs lives outside the
# repository and outside /tmp (Bazel's sandbox hides /tmp), in $RULES_IMG_CACHE.
# Machines with internet access and bazelisk need none of this.
set -euo pipefail

CACHE=${RULES_IMG_CACHE:-/var/cache/rules_img}
BAZEL_VERSION=7.7.1
RULES_GO_VERSION=v0.55.1
GAZELLE_VERSION=v0.43.0
GO_SDK_MODULE=golang.org/toolchain@v0.0.1-go1.24.13.linux-amd64
BUILDTOOLS_VERSION=v0.0.0-20260904073137-eaa4d125b423
# Debian packages the tests drive as real peers.
# gcc: cgo for `go test -race` and the C++ recipe's cc_binary; zlib1g-dev:
# soci-snapshotter's ztoc code (e2e/socid, cgo); strace:
# the registry's durable writes (e2e/casreg_durable_test.go); dpkg-dev:
# dpkg-scanpackages, which indexes the Debian repository below; rpm:
# rpmbuild, whose packages pkg/rpm's test reads.
TEST_PACKAGES=(containerd runc skopeo docker-registry apache2-utils nginx-light pigz zstd docker.io podman busybox-static gcc zlib1g-dev strace dpkg-dev rpm)
# Only sid has these: buildbox-casd (a REAPI server with remote execution);
# stardoc and the Java tools its renderer builds with, for docs/rules.md;
# rules_pkg, a dependency of rules_img itself (layer_from_pkg); oras, which
# reads the artifacts image_manifest makes; stargz-snapshotter for ctr-remote,
# which pulls eStargz images lazily (the snapshotter itself is e2e/stargzd);
# aspect_bazel_lib (and its bazel_lib) for the platform_transition_filegroup
# that rules_oci's docs put around an image (examples/rules_oci).
SID_TEST_PACKAGES=(buildbox bazel-stardoc bazel-java-tools bazel-rules-pkg oras stargz-snapshotter bazel-aspect-bazel-lib bazel-lib cosign notation python3-cyclonedx-lib python3-jsonschema)
# Docker 28 (containerd image store) and containerd 2 from sid, unpacked into
# $CACHE/docker28 rather than installed: they would replace the ones above.
DOCKER28_PACKAGES=(docker.io docker-cli containerd)
# What examples/distroless and the shell, Python and Java recipes
# (docs/recipes.md) are made of. prepare_deb_repo downloads these and
# their dependencies for both architectures into a Debian repository on disk,
# which the tests serve on loopback: they must not depend on what the archive
# holds on the day they run.
DEB_REPO_PACKAGES=(base-files netbase tzdata ca-certificates libc6 libssl3 python3-minimal coreutils openjdk-17-jre-headless dash)
DEB_REPO_ARCHS=(amd64 arm64)
CRANE_VERSION=v0.20.7
# The OCI distribution-spec conformance suite (a program since 2025), run
# against img registry and CNCF Distribution by e2e/conformance_test.go.
CONFORMANCE_VERSION=v0.0.0-20260831232431-97274622c111

export GOTOOLCHAIN=local GOFLAGS=-mod=mod
log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root: it installs Debian packages and writes /etc/bazel.bazelrc"
command -v go >/dev/null || die "Go is needed on PATH to fetch modules from the Go module proxy"
mkdir -p "$CACHE"

# --- Debian packages -------------------------------------------------------

debian_mirror() {
	# Reuse the machine's configured mirror rather than naming one here.
	local f
	for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' "$f" && return 0
	done
	awk '$1 == "deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null
}

apt_updated=""
apt_update() {
	[ -n "$apt_updated" ] && return 0
	apt-get update -qq
	apt_updated=1
}

bazel_ok() {
	command -v bazel >/dev/null || return 1
	local v
	v=$(bazel --version 2>/dev/null | awk '{print $2}')
	[ -n "$v" ] && [ "$(printf '%s\n%s\n' "$BAZEL_VERSION" "$v" | sort -V | head -n1)" = "$BAZEL_VERSION" ]
}

add_sid_suite() {
	[ -f /etc/apt/sources.list.d/sid.sources ] && return 0
	local mirror
	mirror=$(debian_mirror)
	[ -n "$mirror" ] || die "no Debian mirror found in /etc/apt to add the sid suite from"
	cat >/etc/apt/sources.list.d/sid.sources <<EOF
Types: deb
URIs: $mirror
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	# Low priority: sid only supplies what is asked for with -t unstable.
	cat >/etc/apt/preferences.d/sid-low <<EOF
Package: *
Pin: release a=unstable
Pin-Priority: 100
EOF
	apt_updated=""
}

install_bazel() {
	bazel_ok && return 0
	log "installing Bazel $BAZEL_VERSION from Debian sid (about 2 minutes)"
	add_sid_suite
	apt_update
	local args=(-y -q -t unstable -o Dpkg::Options::=--force-overwrite)
	export DEBIAN_FRONTEND=noninteractive
	# The first attempt can stop on a file conflict between two sid packages;
	# fixing the broken state and retrying completes it.
	if ! apt-get install "${args[@]}" bazel-bootstrap bazel-rules-shell >/dev/null; then
		apt-get --fix-broken install "${args[@]}" >/dev/null
		apt-get install "${args[@]}" bazel-bootstrap bazel-rules-shell >/dev/null
	fi
	bazel_ok || die "Bazel $BAZEL_VERSION did not install; see apt-get output above"
}

# Prints the packages among its arguments that are not installed.
missing_packages() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
	done
}

install_test_packages() {
	local missing
	mapfile -t missing < <(missing_packages "${TEST_PACKAGES[@]}")
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing test peers: ${missing[*]}"
	apt_update
	# policy-rc.d keeps Debian from starting system-wide daemons: tests start
	# their own on temp dirs and loopback ports.
	local had_policy=""
	[ -e /usr/sbin/policy-rc.d ] && had_policy=1
	[ -n "$had_policy" ] || printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
	# No recommends: they would add needrestart, apparmor and buildah.
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
	[ -n "$had_policy" ] || rm -f /usr/sbin/policy-rc.d
	# docker.io also enables its service for the next boot.
	if [[ " ${missing[*]} " == *" docker.io "* ]]; then
		systemctl disable docker.service docker.socket >/dev/null 2>&1 || update-rc.d docker disable >/dev/null 2>&1 || true
	fi
}

install_sid_test_packages() {
	local missing
	mapfile -t missing < <(missing_packages "${SID_TEST_PACKAGES[@]}")
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing test peers from Debian sid: ${missing[*]}"
	add_sid_suite
	apt_update
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q -t unstable --no-install-recommends "${missing[@]}" >/dev/null
}

# The harness runs dockerd 28 from here with its own containerd 2 (usr/bin,
# usr/sbin first on PATH). VERSIONS is written last and marks it complete.
install_docker28() {
	local dest=$CACHE/docker28 deb
	[ -f "$dest/VERSIONS" ] && return 0
	log "unpacking ${DOCKER28_PACKAGES[*]} from Debian sid into $dest"
	add_sid_suite
	apt_update
	rm -rf "$dest.partial"
	mkdir -p "$dest.partial/debs"
	# Sandbox user root: _apt cannot write into the root-owned cache dir.
	(cd "$dest.partial/debs" &&
		apt-get download -q -o APT::Sandbox::User=root "${DOCKER28_PACKAGES[@]/%//unstable}" >/dev/null)
	for deb in "$dest.partial"/debs/*.deb; do
		dpkg-deb -x "$deb" "$dest.partial"
		dpkg-deb -W --showformat='${Package} ${Version}\n' "$deb" >>"$dest.partial/versions.partial"
	done
	rm -rf "$dest.partial/debs"
	mv "$dest.partial/versions.partial" "$dest.partial/VERSIONS"
	rm -rf "$dest"
	mv "$dest.partial" "$dest"
}

# A flat Debian repository (pool/*.deb and Packages.gz) of DEB_REPO_PACKAGES
# and everything they depend on (alternatives too), from the machine's
# stable suites. apt runs with a state of its own, so the machine's package
# lists, architectures and preferences stay as they were.
prepare_deb_repo() {
	local dir=$CACHE/debrepo
	local want="${DEB_REPO_PACKAGES[*]} / ${DEB_REPO_ARCHS[*]}"
	[ -f "$dir/Packages.gz" ] && [ "$(cat "$dir/CONTENTS" 2>/dev/null)" = "$want" ] && return 0
	local sources=/etc/apt/sources.list.d/debian.sources
	[ -f "$sources" ] || die "no $sources: the Debian repository for the tests is made from the machine's stable suites"
	log "downloading Debian packages for the base image tests into $dir"
	local tmp=$dir.partial arch
	rm -rf "$tmp"
	mkdir -p "$tmp/pool"
	for arch in "${DEB_REPO_ARCHS[@]}"; do
		local state=$tmp/apt-$arch
		mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$state/sources.list.d" "$state/preferences.d"
		cp "$sources" "$state/sources.list.d/"
		: >"$state/status"
		local opts=(-o "APT::Architecture=$arch" -o "APT::Architectures=$arch"
			-o "Dir::State::Lists=$state/lists" -o "Dir::Cache=$state/cache" -o "Dir::State::status=$state/status"
			-o "Dir::Etc::SourceParts=$state/sources.list.d" -o Dir::Etc::SourceList=/dev/null
			-o "Dir::Etc::PreferencesParts=$state/preferences.d" -o Dir::Etc::Preferences=/dev/null)
		apt-get "${opts[@]}" update -qq
		local closure
		closure=$(apt-cache "${opts[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts \
			--no-breaks --no-replaces --no-enhances "${DEB_REPO_PACKAGES[@]}" | grep -v '^[ <]' | sort -u)
		# shellcheck disable=SC2086 # one word per package
		(cd "$tmp/pool" && apt-get "${opts[@]}" download $closure >/dev/null 2>&1) ||
			die "apt-get download failed for $arch"
		rm -rf "$state"
	done
	(cd "$tmp" && dpkg-scanpackages --multiversion pool /dev/null >Packages 2>/dev/null && gzip -9n Packages)
	printf '%s\n' "$want" >"$tmp/CONTENTS"
	rm -rf "$dir"
	mv "$tmp" "$dir"
}

# --- Go module proxy -------------------------------------------------------

module_dir() { go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'; }

# Copies a module from the module cache into $CACHE/$2, writable, atomically.
copy_module() {
	local mod=$1 dest=$CACHE/$2 src
	[ -d "$dest" ] && return 0
	log "fetching $mod"
	src=$(module_dir "$mod")
	[ -n "$src" ] || die "could not download $mod through the Go module proxy"
	rm -rf "$dest.partial"
	cp -a "$src" "$dest.partial"
	chmod -R u+w "$dest.partial"
	if [ -n "${3:-}" ]; then (cd "$dest.partial" && eval "$3"); fi
	mv "$dest.partial" "$dest"
}

prepare_modules() {
	copy_module "$GO_SDK_MODULE" go-sdk 'chmod +x bin/* pkg/tool/*/*'
	copy_module "github.com/bazelbuild/rules_go@$RULES_GO_VERSION" rules_go
	# gazelle's repository tools build with GO111MODULE=off: they need vendor/.
	copy_module "github.com/bazelbuild/bazel-gazelle@$GAZELLE_VERSION" gazelle 'go mod vendor'
	local m
	for m in protobuf apple_support buildozer zlib; do
		if [ ! -f "$CACHE/stubs/$m/MODULE.bazel" ]; then
			mkdir -p "$CACHE/stubs/$m"
			printf 'module(name = "%s")\n' "$m" >"$CACHE/stubs/$m/MODULE.bazel"
			: >"$CACHE/stubs/$m/BUILD.bazel"
		fi
	done
	prepare_default_sdk
	prepare_local_jdk
	write_registry
	if [ ! -x "$CACHE/bin/buildifier" ]; then
		log "building buildifier"
		GOBIN=$CACHE/bin go install "github.com/bazelbuild/buildtools/buildifier@$BUILDTOOLS_VERSION"
	fi
	# With the Go 1.24 SDK: whatever go is on PATH may be older than crane needs.
	if [ "$("$CACHE/bin/crane" version 2>/dev/null)" != "$CRANE_VERSION" ]; then
		log "building crane $CRANE_VERSION"
		GOBIN=$CACHE/bin "$CACHE/go-sdk/bin/go" install "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION"
	fi
	if [ "$(cat "$CACHE/bin/conformance.version" 2>/dev/null)" != "$CONFORMANCE_VERSION" ]; then
		log "building the OCI distribution conformance suite $CONFORMANCE_VERSION"
		GOBIN=$CACHE/bin "$CACHE/go-sdk/bin/go" install "github.com/opencontainers/distribution-spec/conformance@$CONFORMANCE_VERSION"
		echo "$CONFORMANCE_VERSION" >"$CACHE/bin/conformance.version"
	fi
}

# The remote snapshotters as commands, each a module of its own so that its
# dependencies stay out of rules_img's, rebuilt when its sources change:
# e2e/stargzd (the stargz snapshotter) and e2e/socid (soci-snapshotter,
# whose ztoc code is cgo over zlib: gcc and zlib1g-dev). GOTOOLCHAIN=auto:
# the modules need a newer Go than rules_img, which the Go module proxy
# serves when the one on PATH is older.
install_snapshotter() {
	local name=$1 src bin sum
	src=$(cd "$(dirname "$0")/../e2e/$name" && pwd)
	bin=$CACHE/bin/$name
	sum=$(cat "$src/go.mod" "$src/go.sum" "$src"/*.go | sha256sum | cut -d' ' -f1)
	[ -x "$bin" ] && [ "$(cat "$bin.sum" 2>/dev/null)" = "$sum" ] && return 0
	log "building the snapshotter e2e/$name (about a minute)"
	mkdir -p "$CACHE/bin"
	(cd "$src" && CGO_ENABLED=1 GOTOOLCHAIN=auto go build -o "$bin.partial" .)
	mv "$bin.partial" "$bin"
	printf '%s\n' "$sum" >"$bin.sum"
}

# npm's cdxgen, the peer SBOM generator the distroless test compares
# image_sbom with, at the version tools/cdxgen/package-lock.json pins.
install_cdxgen() {
	local src dest=$CACHE/cdxgen sum
	src=$(cd "$(dirname "$0")/cdxgen" && pwd)
	sum=$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -d' ' -f1)
	[ -x "$dest/node_modules/.bin/cdxgen" ] && [ "$(cat "$dest/SUM" 2>/dev/null)" = "$sum" ] && return 0
	command -v npm >/dev/null || die "npm is needed for cdxgen (tools/cdxgen)"
	log "installing cdxgen with npm (tools/cdxgen, about 10 s)"
	rm -rf "$dest"
	mkdir -p "$dest"
	cp "$src/package.json" "$src/package-lock.json" "$dest/"
	# npm ci refuses the lock for optional packages of other platforms; install keeps to it.
	(cd "$dest" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
	printf '%s\n' "$sum" >"$dest/SUM"
}

# rules_go's own default SDK (repository go_default_sdk) would be downloaded
# from the internet. This builds that repository from the Go 1.24 SDK above,
# the way rules_go's host-SDK rule does, so any workspace without go_sdk tags
# (e2e/, examples/, a user's) resolves it offline via --override_repository.
prepare_default_sdk() {
	local dest=$CACHE/go_default_sdk sdk=$CACHE/go-sdk version
	[ -f "$dest/REPO.bazel" ] && return 0
	rm -rf "$dest"
	version=$(head -n1 "$sdk/VERSION" | sed 's/^go//')
	rm -rf "$dest.partial"
	mkdir -p "$dest.partial"
	local e
	for e in "$sdk"/*; do ln -s "$e" "$dest.partial/$(basename "$e")"; done
	: >"$dest.partial/ROOT"
	: >"$dest.partial/REPO.bazel"
	sed -e 's/{goos}/linux/g' -e 's/{goarch}/amd64/g' -e 's/{exe}//g' \
		-e "s/{version}/$version/g" -e 's/{experiments}/["nocoverageredesign"]/g' \
		-e 's#{exec_compatible_with}#["@platforms//cpu:x86_64", "@platforms//os:linux"]#g' \
		"$CACHE/rules_go/go/private/BUILD.sdk.bazel" >"$dest.partial/BUILD.bazel"
	IFS=. read -r major minor patch <<<"$version"
	printf 'MAJOR_VERSION = "%s"\nMINOR_VERSION = "%s"\nPATCH_VERSION = "%s"\nPRERELEASE_SUFFIX = ""\n' \
		"$major" "$minor" "${patch:-0}" >"$dest.partial/version.bzl"
	mv "$dest.partial" "$dest"
}

# rules_java's Java toolchain names a downloaded JDK 21 (remotejdk21_linux)
# even when every Java action runs on the local JDK. This repository stands
# in for it with the system JDK (stardoc's renderer is the only Java here).
prepare_local_jdk() {
	local dest=$CACHE/local_jdk_repo home e
	home=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
	[ -f "$dest/JAVA_HOME" ] && [ "$(cat "$dest/JAVA_HOME")" = "$home" ] && return 0
	rm -rf "$dest.partial"
	mkdir -p "$dest.partial"
	for e in "$home"/*; do ln -s "$e" "$dest.partial/$(basename "$e")"; done
	: >"$dest.partial/REPO.bazel"
	cat >"$dest.partial/BUILD.bazel" <<'EOF'
load("@rules_java//java:defs.bzl", "java_runtime")

package(default_visibility = ["//visibility:public"])

java_runtime(
    name = "jdk",
    srcs = glob(["bin/**", "conf/**", "lib/**", "release"], allow_empty = True),
    java_home = ".",
)
EOF
	echo "$home" >"$dest.partial/JAVA_HOME"
	rm -rf "$dest"
	mv "$dest.partial" "$dest"
}

# A file registry that serves rules_go, gazelle, rules_shell, stardoc,
# rules_pkg, aspect_bazel_lib and bazel_lib from local directories. Unlike --override_module, which is an
# error in any workspace whose graph lacks the module, a registry entry only
# answers when asked.
# Each version some module in our graphs requests maps to the one local copy.
REGISTRY_MODULES=(
	"rules_go $CACHE/rules_go 0.55.1 0.50.1"
	"gazelle $CACHE/gazelle 0.43.0 0.36.0"
	"rules_shell /usr/share/bazel/rules/shell 0.4.1 0.3.0 0.2.0"
	"stardoc /usr/share/bazel/tools/stardoc 0.8.1 0.7.1"
	"rules_pkg /usr/share/bazel/rules/pkg 0.9.1"
	"aspect_bazel_lib /usr/share/bazel/tools/aspect_bazel_lib 2.22.5"
	"bazel_lib /usr/share/bazel/tools/bazel_lib 3.7.2 3.0.0"
)
write_registry() {
	local reg=$CACHE/registry line name dir v versions
	mkdir -p "$reg"
	[ -f "$reg/bazel_registry.json" ] || echo '{}' >"$reg/bazel_registry.json"
	for line in "${REGISTRY_MODULES[@]}"; do
		read -r name dir versions <<<"$line"
		mkdir -p "$reg/modules/$name"
		printf '{"versions": [%s]}\n' "$(printf '"%s",' $versions | sed 's/,$//')" >"$reg/modules/$name/metadata.json"
		for v in $versions; do
			mkdir -p "$reg/modules/$name/$v"
			# The registry's copy of MODULE.bazel carries the version asked for.
			sed "0,/version = \"[^\"]*\"/s//version = \"$v\"/" "$dir/MODULE.bazel" >"$reg/modules/$name/$v/MODULE.bazel"
			printf '{"type": "local_path", "path": "%s"}\n' "$dir" >"$reg/modules/$name/$v/source.json"
		done
	done
}

# --- /etc/bazel.bazelrc ----------------------------------------------------

write_bazelrc() {
	local JAVA_TOOLS
	JAVA_TOOLS=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)/bazel/java_tools
	local rc=/etc/bazel.bazelrc begin="# >>> rules_img offline setup >>>" end="# <<< rules_img offline setup <<<"
	local block
	block=$(
		cat <<EOF
$begin
# Written by rules_img's tools/setup.sh: lets every workspace on this machine
# build offline. Edit the script, not this block.
common --registry=file://$CACHE/registry
common --noenable_workspace
# Only modules every graph has (through bazel_tools) may be overridden here.
common --override_module=protobuf=$CACHE/stubs/protobuf
common --override_module=apple_support=$CACHE/stubs/apple_support
common --override_module=buildozer=$CACHE/stubs/buildozer
common --override_module=zlib=$CACHE/stubs/zlib
common --repo_env=GOROOT=$CACHE/go-sdk
common --override_repository=rules_go~~go_sdk~go_default_sdk=$CACHE/go_default_sdk
# Java (stardoc's renderer) from Debian's JDK and java_tools, not downloads.
common --override_repository=rules_java~~toolchains~remote_java_tools=$JAVA_TOOLS
common --override_repository=rules_java~~toolchains~remote_java_tools_linux=$JAVA_TOOLS
common --override_repository=rules_java~~toolchains~remotejdk21_linux=$CACHE/local_jdk_repo
common --java_runtime_version=local_jdk
common --tool_java_runtime_version=local_jdk
common --disk_cache=$CACHE/disk-cache
common --repository_cache=$CACHE/repository-cache
$end
EOF
	)
	local current=""
	[ -f "$rc" ] && current=$(cat "$rc")
	local others
	others=$(printf '%s\n' "$current" | sed "/^$begin\$/,/^$end\$/d")
	local want
	if [ -n "$others" ]; then want=$(printf '%s\n%s' "$others" "$block"); else want=$block; fi
	[ "$current" = "$want" ] && return 0
	log "writing $rc"
	printf '%s\n' "$want" >"$rc.partial"
	mv "$rc.partial" "$rc"
}

# Debian's rc turns sandbox_debug on after reading ours, which floods every
# build with sandbox traces; comment it out.
quiet_debian_bazelrc() {
	local rc=/etc/bazel/bazelrc
	[ -f "$rc" ] && grep -q '^build --sandbox_debug' "$rc" || return 0
	sed -i 's/^build --sandbox_debug/# build --sandbox_debug  (disabled by rules_img setup)/' "$rc"
}

install_bazel
quiet_debian_bazelrc
install_test_packages
install_sid_test_packages
install_docker28
prepare_deb_repo
prepare_modules
install_snapshotter stargzd
install_snapshotter socid
install_cdxgen
write_bazelrc
log "ready (cache: $CACHE, $(bazel --version))"
