#!/usr/bin/env bash
# On-demand benchmark of `img layer` against tar piped into pigz, gzip and
# zstd, and plain `tar -cf`. Not part of the test suite: run it by hand.
#
#   bench/layer/run.sh
#
# It generates (once) a deterministic ~1 GiB tree under
# $RULES_IMG_CACHE/bench/tree, builds img, runs every variant RUNS times
# (img and its peer alternately, the page cache warm), prints a markdown
# table of the medians and writes it with context to docs/benchmarks/layer.md.
#
# Environment:
#   RULES_IMG_CACHE  cache root (default /var/cache/rules_img)
#   RUNS             runs per tool and variant, median reported (default 3)
#   ZSTD_PAIRS       img-level:zstd-CLI-level pairs to compare (default "2:3")
#   BENCH_TREE       use this existing tree instead of the generated one
#   BENCH_DOC        write the report here (default docs/benchmarks/layer.md;
#                    "-" writes none)
#   UPSTREAM_IMG     an `img` binary of upstream rules_img (img_tool/cmd/img),
#                    built by hand: its `img layer` joins as a third tool. This
#                    script never fetches or builds it.
set -euo pipefail
export GOTOOLCHAIN=local LC_ALL=C

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${RULES_IMG_CACHE:-/var/cache/rules_img}
BENCH=$CACHE/bench
BIN=$BENCH/bin
OUT=$BENCH/out # outputs: same disk for every tool, outside the repo and /tmp
RUNS=${RUNS:-3}
ZSTD_PAIRS=${ZSTD_PAIRS:-2:3}
DOC=${BENCH_DOC:-$REPO/docs/benchmarks/layer.md}
log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

# --- tools -------------------------------------------------------------------

need_debs=()
[ -x /usr/bin/time ] || need_debs+=(time)
for t in pigz zstd gzip tar; do command -v "$t" >/dev/null || need_debs+=("$t"); done
if [ ${#need_debs[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] || die "missing ${need_debs[*]}; install them (apt-get install ${need_debs[*]}) or run tools/setup.sh as root"
	log "installing ${need_debs[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_debs[@]}" >/dev/null
fi
command -v go >/dev/null || die "Go is needed on PATH to build img and the tree generator"

mkdir -p "$BIN" "$OUT"
log "building img and gentree"
(cd "$REPO" && go build -o "$BIN/img" ./cmd/img && go build -o "$BIN/gentree" ./bench/layer/gentree)
IMG=$BIN/img

# --- tree --------------------------------------------------------------------

if [ -n "${BENCH_TREE:-}" ]; then
	TREE=$(cd "$BENCH_TREE" && pwd)
else
	TREE=$BENCH/tree
	# The stamp is the generator's source hash: a changed generator means a
	# different tree, so it is regenerated.
	stamp=$(sha256sum "$REPO/bench/layer/gentree/main.go" | cut -d' ' -f1)
	if [ ! -d "$TREE" ] || [ "$(cat "$BENCH/tree.stamp" 2>/dev/null)" != "$stamp" ]; then
		log "generating the tree in $TREE (about 20 s)"
		rm -rf "$TREE" "$TREE.partial" "$BENCH/tree.stamp"
		"$BIN/gentree" -out "$TREE.partial" >&2
		mv "$TREE.partial" "$TREE"
		echo "$stamp" >"$BENCH/tree.stamp"
	fi
fi
read -r TREE_FILES TREE_BYTES < <(find "$TREE" -type f -printf '%s\n' | awk '{n++; s+=$1} END {print n+0, s+0}')
TREE_DIRS=$(find "$TREE" -type d | wc -l)
TREE_MIB=$(awk -v b="$TREE_BYTES" 'BEGIN {printf "%.0f", b/1048576}')
# Files img's dedup pass hashes up front: those whose size another file shares.
read -r DEDUP_FILES DEDUP_BYTES < <(find "$TREE" -type f -size +0 -printf '%s\n' | sort -n | uniq -c |
	awk '$1 > 1 {f += $1; b += $1 * $2} END {print f+0, b+0}')
DEDUP_MIB=$(awk -v b="$DEDUP_BYTES" 'BEGIN {printf "%.0f", b/1048576}')
DEDUP_PCT=$(awk -v b="$DEDUP_BYTES" -v t="$TREE_BYTES" 'BEGIN {printf "%.0f", 100*b/t}')
log "tree: $TREE_FILES files, $TREE_DIRS directories, $TREE_MIB MiB"

SPEC=$BENCH/spec.json
printf '{"target": "//bench:layer", "create_parent_directories": true, "entries": [{"path": "/data", "type": "tree", "source": "%s"}]}\n' "$TREE" >"$SPEC"

# Warm the page cache. Not `tar -cf /dev/null`: GNU tar notices /dev/null
# and skips reading file contents.
log "warming the page cache"
tar -cf - -C "$TREE" . | cat >/dev/null

# --- measuring ---------------------------------------------------------------

# run_once CMD: runs CMD (a bash command line) under GNU time with the output
# in $OUT/blob and prints "seconds rss_kib blob_bytes cpu_seconds" (CPU is
# user + system of the command and all its children). Pipelines time each
# stage with `$T $OUT/rss.N` so their RSS is the sum of the stages (which run
# at the same time), not the largest stage alone.
T="/usr/bin/time -f %M -o"
run_once() {
	rm -f "$OUT"/blob "$OUT"/meta.json "$OUT"/rss.* "$OUT"/time
	sync # previous outputs' writeback must not land in this run
	/usr/bin/time -f '%e %M %U %S' -o "$OUT/time" bash -c "set -o pipefail; $1" ||
		die "failed: $1"
	local secs rss user sys
	read -r secs rss user sys < <(tail -n1 "$OUT/time")
	if compgen -G "$OUT/rss.*" >/dev/null; then
		rss=$(tail -q -n1 "$OUT"/rss.* | awk '{s+=$1} END {print s}')
	fi
	echo "$secs $rss $(stat -c %s "$OUT/blob") $(awk -v u="$user" -v s="$sys" 'BEGIN {print u + s}')"
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

TAB=$'\t'
ROWS=() # tab-separated: variant, tool, secs, cpu_secs, rss_kib, bytes, img/peer ratio
IMG_MAX_RSS=0
bench_pair() {
	local variant=$1 img_cmd=$2 peer=$3 peer_cmd=$4 i r
	local is=() ir=() ib=() ic=() ps=() pr=() pb=() pc=()
	for ((i = 1; i <= RUNS; i++)); do
		r=$(run_once "$img_cmd")
		read -r -a r <<<"$r"
		is+=("${r[0]}") ir+=("${r[1]}") ib+=("${r[2]}") ic+=("${r[3]}")
		r=$(run_once "$peer_cmd")
		read -r -a r <<<"$r"
		ps+=("${r[0]}") pr+=("${r[1]}") pb+=("${r[2]}") pc+=("${r[3]}")
		log "$variant run $i/$RUNS: img ${is[-1]} s, $peer ${ps[-1]} s"
	done
	local imed pmed irss
	imed=$(median "${is[@]}") pmed=$(median "${ps[@]}") irss=$(median "${ir[@]}")
	[ "$irss" -gt "$IMG_MAX_RSS" ] && IMG_MAX_RSS=$irss
	ROWS+=("$variant${TAB}img${TAB}$imed${TAB}$(median "${ic[@]}")${TAB}$irss${TAB}$(median "${ib[@]}")${TAB}$(awk -v a="$imed" -v b="$pmed" 'BEGIN {printf "%.2f", a/b}')")
	ROWS+=("$variant${TAB}$peer${TAB}$pmed${TAB}$(median "${pc[@]}")${TAB}$(median "${pr[@]}")${TAB}$(median "${pb[@]}")${TAB}")
	if [ -n "${UPSTREAM_IMG:-}" ] && [ -n "${5:-}" ]; then
		local us=() ur=() ub=() uc=() umed
		for ((i = 1; i <= RUNS; i++)); do
			r=$(run_once "$5")
			read -r -a r <<<"$r"
			us+=("${r[0]}") ur+=("${r[1]}") ub+=("${r[2]}") uc+=("${r[3]}")
		done
		umed=$(median "${us[@]}")
		log "$variant: upstream rules_img ${umed} s"
		UP_ROWS+=("$variant${TAB}upstream img layer${TAB}$umed${TAB}$(median "${uc[@]}")${TAB}$(median "${ur[@]}")${TAB}$(median "${ub[@]}")${TAB}$(awk -v a="$imed" -v b="$umed" 'BEGIN {printf "%.2f", a/b}')")
	fi
}
UP_ROWS=()

# Share of CPU left idle over 3 s: other processes' load, which inflates the
# seconds measured (not the CPU time).
idle_pct() {
	local a b
	a=$(awk '/^cpu / {print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat)
	sleep 3
	b=$(awk '/^cpu / {print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat)
	awk -v a="$a" -v b="$b" 'BEGIN {split(a, x, " "); split(b, y, " "); printf "%.0f", 100 * (y[1] - x[1]) / (y[2] - x[2])}'
}
IDLE_START=$(idle_pct)
[ "$IDLE_START" -ge 90 ] ||
	log "warning: the CPUs were only $IDLE_START% idle before the runs; other processes will inflate the seconds (CPU time is reported too)"
IMGL="\"$IMG\" layer --spec \"$SPEC\" --blob \"$OUT/blob\" --metadata \"$OUT/meta.json\""
TAR="$T \"$OUT/rss.1\" tar -cf - -C \"$TREE\" ."
NPROC=$(nproc)
UPL="\"${UPSTREAM_IMG:-}\" layer --add /data=\"$TREE\" --create-parent-directories --metadata \"$OUT/meta.json\""

bench_pair "gzip -6, parallel" "$IMGL --compress gzip --level 6 --jobs 0" \
	"tar \| pigz -6" "$TAR | $T \"$OUT/rss.2\" pigz -6 >\"$OUT/blob\"" \
	"$UPL --format gzip --compression-level 6 --compressor-jobs nproc \"$OUT/blob\""
bench_pair "gzip -6, 1 thread" "$IMGL --compress gzip --level 6 --jobs 1" \
	"tar \| gzip -6" "$TAR | $T \"$OUT/rss.2\" gzip -6 >\"$OUT/blob\"" \
	"$UPL --format gzip --compression-level 6 --compressor-jobs 1 \"$OUT/blob\""
ZSTD_CMDS=()
for pair in $ZSTD_PAIRS; do
	il=${pair%%:*} zl=${pair#*:}
	bench_pair "zstd img $il ≈ CLI -$zl" "$IMGL --compress zstd --level $il --jobs 0" \
		"tar \| zstd -T0 -$zl" "$TAR | $T \"$OUT/rss.2\" zstd -q -T0 -$zl -c >\"$OUT/blob\"" \
		"$UPL --format zstd \"$OUT/blob\""
	ZSTD_CMDS+=("img layer --compress zstd --level $il --jobs 0   vs   tar -cf - -C TREE . | zstd -q -T0 -$zl -c > OUT")
done
# zstd-long: one frame with a 128 MiB window, against the zstd CLI's long mode
# (--long=27 is the same window); the level pair is the first of ZSTD_PAIRS.
il=${ZSTD_PAIRS%%:*} zl=${ZSTD_PAIRS#*:} zl=${zl%% *}
bench_pair "zstd-long img $il ≈ CLI -$zl --long=27" "$IMGL --compress zstd-long --level $il" \
	"tar \| zstd --long=27 -$zl" "$TAR | $T \"$OUT/rss.2\" zstd -q -$zl --long=27 -c >\"$OUT/blob\""
bench_pair "none" "$IMGL --compress none --jobs 1" \
	"tar -cf" "$T \"$OUT/rss.1\" tar -cf \"$OUT/blob\" -C \"$TREE\" ." \
	"$UPL --format none \"$OUT/blob\""

# References: reading every file once with cat and hashing
# the uncompressed tar once with sha256sum; img's none variant does
# both.
REF_READ=() REF_HASH=()
tar -cf "$OUT/ref.tar" -C "$TREE" .
for ((i = 1; i <= RUNS; i++)); do
	REF_READ+=("$(run_once "find \"$TREE\" -type f -print0 | xargs -0 cat >/dev/null; : >\"$OUT/blob\"" | cut -d' ' -f1)")
	REF_HASH+=("$(run_once "sha256sum \"$OUT/ref.tar\" >\"$OUT/blob\"" | cut -d' ' -f1)")
done
rm -f "$OUT/ref.tar"
REF_READ_S=$(median "${REF_READ[@]}") REF_HASH_S=$(median "${REF_HASH[@]}")
IMG_NONE_S=$(for row in "${ROWS[@]}"; do IFS=$'\t' read -r -a r <<<"$row"; if [ "${r[0]}" = none ] && [ "${r[1]}" = img ]; then echo "${r[2]}"; fi; done)
log "references: cat of every file $REF_READ_S s, sha256sum of the tar $REF_HASH_S s"
rm -f "$OUT"/blob "$OUT"/meta.json "$OUT"/rss.* "$OUT"/time
IDLE_END=$(idle_pct)

# --- report ------------------------------------------------------------------

table() {
	echo "| variant | tool | seconds | MB/s | CPU s | peak RSS MiB | output MiB | img/${1:-peer} time |"
	echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
	local row
	for row in "${@:2}"; do
		awk -F'\t' -v tb="$TREE_BYTES" '{
			printf "| %s | %s | %.2f | %.0f | %.1f | %.1f | %.1f | %s |\n", $1, $2, $3, tb/1e6/$3, $4, $5/1024, $6/1048576, ($7 == "" ? "" : $7 "×")
		}' <<<"$row"
	done
}

# One sentence per variant, from the numbers.
verdicts() {
	local i img peer
	for ((i = 0; i < ${#ROWS[@]}; i += 2)); do
		IFS=$'\t' read -r -a img <<<"${ROWS[i]}"
		IFS=$'\t' read -r -a peer <<<"${ROWS[i + 1]}"
		awk -v v="${img[0]}" -v p="${peer[1]}" -v a="${img[2]}" -v b="${peer[2]}" -v sa="${img[5]}" -v sb="${peer[5]}" -v ca="${img[3]}" -v cb="${peer[3]}" 'BEGIN {
			r = a / b
			how = r < 0.95 ? "faster" : r > 1.05 ? "slower" : "about even"
			gsub(/\\\|/, "|", p)
			printf "- **%s**: img takes %.2f× the time of `%s` (%s) and %.2f× its CPU time; its output is %.1f%% of that size.\n", v, r, p, how, ca / cb, 100 * sa / sb
		}'
	done
}

CPU=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
MEM=$(awk '/^MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$REPO" diff --quiet HEAD -- cmd pkg go.mod go.sum 2>/dev/null || COMMIT="$COMMIT + uncommitted changes in cmd/ pkg/"
RSS_VERDICT=$(awk -v m="$IMG_MAX_RSS" 'BEGIN {
	if (m < 100 * 1024) printf "img'"'"'s peak RSS stayed below 100 MiB in every variant (largest median: %.1f MiB).", m/1024
	else printf "**img'"'"'s peak RSS exceeded 100 MiB** (largest median: %.1f MiB).", m/1024 }')

SIZE_NOTE="" DUP_NOTE=""
if [ -n "${BENCH_TREE:-}" ]; then
	TREE_ORIGIN="given by BENCH_TREE ($TREE)."
else
	TREE_ORIGIN="generated by \`bench/layer/gentree\` (seed 1): ~25,000 small
  source-like text files, 160 medium files (JSON lines, CSV, low-entropy binary,
  random), 4 × 128 MiB files mixing random, repetitive and text chunks in
  different proportions, and byte-identical copies of a 32 MiB file (2 copies)
  and of 8 medium files."
	SIZE_NOTE="; the four 128 MiB files share a size" DUP_NOTE=" (the ~77 MiB of copies in \`dup/\`)"
fi

upstream_section() {
	if [ ${#UP_ROWS[@]} -eq 0 ]; then
		printf '\n%s\n' "Upstream rules_img's layer tool is not in this run: set UPSTREAM_IMG to an \`img\` binary built from its \`img_tool\` module (it builds offline from the Go module proxy) to add it."
		return
	fi
	printf '\n%s\n\n' "Upstream rules_img's own layer tool (\`img layer\` of its \`img_tool\` module, built by hand from the Go module proxy; \`--add /data=TREE --create-parent-directories\`, zstd at its default level), in the same run:"
	table upstream "${UP_ROWS[@]}"
}

report() {
	cat <<EOF
# \`img layer\` benchmark

Generated by \`bench/layer/run.sh\` on $(date -u +%Y-%m-%d); rerun it to refresh this
page. Not part of the test suite.

- **Machine**: $NPROC CPUs ($CPU), $MEM memory, $(uname -sr).
- **Versions**: img at $COMMIT built with $(go version | cut -d' ' -f3);
  $(tar --version | head -n1), pigz $(pigz --version 2>&1 | cut -d' ' -f2),
  $(gzip --version | head -n1), zstd $(zstd -V | grep -o 'v[0-9.]*' | head -n1).
- **Tree**: $TREE_MIB MiB ($TREE_BYTES bytes) in $TREE_FILES files and $TREE_DIRS
  directories, $TREE_ORIGIN
- **Method**: page cache warmed with one \`tar -cf - . | cat\` pass; each
  variant run $RUNS times, img and its peer alternately, and the median
  reported. Output goes to a file on the same disk for every tool; \`sync\`
  runs (untimed) before each run. Seconds and peak RSS come from GNU
  \`/usr/bin/time -f '%e %M'\`; for a pipeline the RSS is the sum of its
  stages' peaks. CPU s is user + system time of all processes (\`%U + %S\`).
  The CPUs were $IDLE_START% idle over 3 s just before the runs and
  $IDLE_END% just after: other load on the machine inflates the seconds, not
  the CPU time. MB/s is tree bytes (10⁶) per second.

## Results

$(table peer "${ROWS[@]}")
$(upstream_section)

## References

| reference | seconds | MB/s | img \`none\` / reference |
| --- | ---: | ---: | ---: |
| \`cat\` of every file to /dev/null (one file at a time) | $REF_READ_S | $(awk -v b="$TREE_BYTES" -v s="$REF_READ_S" 'BEGIN {printf "%.0f", b/1e6/s}') | $(awk -v a="$IMG_NONE_S" -v b="$REF_READ_S" 'BEGIN {printf "%.2f×", a/b}') |
| \`sha256sum\` of the uncompressed tar (portable C SHA-256) | $REF_HASH_S | $(awk -v b="$TREE_BYTES" -v s="$REF_HASH_S" 'BEGIN {printf "%.0f", b/1e6/s}') | $(awk -v a="$IMG_NONE_S" -v b="$REF_HASH_S" 'BEGIN {printf "%.2f×", a/b}') |

These are the speeds of single-threaded tools, not of the hardware: \`cat\`
opens and reads one file at a time, and coreutils' \`sha256sum\` hashes
without the CPU's SHA instructions. img's \`none\` variant reads small files
on a goroutine of its own ahead of the tar, and hashes with Go's SHA-256,
which uses those instructions (about 1.8 GB/s here), on another one, so it
can beat both.

## Commands

\`\`\`
img layer --spec SPEC --blob OUT --metadata OUT.json --compress gzip --level 6 --jobs 0   vs   tar -cf - -C TREE . | pigz -6 > OUT     (pigz: $NPROC threads, its default)
img layer --spec SPEC --blob OUT --metadata OUT.json --compress gzip --level 6 --jobs 1   vs   tar -cf - -C TREE . | gzip -6 > OUT
$(printf '%s\n' "${ZSTD_CMDS[@]}" | sed 's/^img layer /img layer --spec SPEC --blob OUT --metadata OUT.json /')
img layer --spec SPEC --blob OUT --metadata OUT.json --compress none --jobs 1             vs   tar -cf OUT -C TREE .
\`\`\`

SPEC is one \`tree\` entry: \`{"path": "/data", "type": "tree", "source": TREE}\`.
\`--jobs 0\` means max(nproc, 2) workers. img's zstd levels map onto
klauspost/compress's encoder levels (pkg/compress): 1 SpeedFastest ≈ \`zstd -1\`,
2 (default) SpeedDefault ≈ \`zstd -3\`, 3 SpeedBetterCompression ≈ \`zstd -7\`,
4 SpeedBestCompression ≈ \`zstd -11\`; the pairs above use those equivalents.

## Interpretation

$(verdicts)
- $RSS_VERDICT

What differs between img and its peers:

- **Hashing** (costs img time): img computes SHA-256 of the tar stream
  (diffID) and of the compressed stream (digest) in the same pass; the peers
  hash nothing. With \`--compress none\` the two are the same bytes, hashed
  once.
- **Deduplication** (cuts both ways): while writing, img looks at every
  regular file whose size another file shares: here $DEDUP_FILES files,
  $DEDUP_MIB MiB ($DEDUP_PCT% of the tree$SIZE_NOTE). It hashes their first
  64 KiB (the whole of a small file); only when a file's size and first
  64 KiB match a file written before are both hashed to their ends, and a
  copy$DUP_NOTE is stored as a hardlink, compressed and written once; tar
  stores every copy. Every file is read once, except both files of such a
  pair: the earlier one is read again to be hashed (and the later one too
  when it differs after 64 KiB).
- **Goroutines**: img builds the tar in one goroutine; a second one reads
  the small files (up to 64 KiB) ahead of it, in tar order. With
  \`--jobs 0\` the compressors (pgzip blocks, zstd frames) run on workers and
  a writer goroutine writes and hashes the blob; the diffID is hashed inline.
  With \`--jobs 1\` both SHA-256 hashes run on goroutines of their own
  beside the single-threaded compressor. With \`none\` hashing and writing
  the blob run on two goroutines beside the tar's. \`tar | pigz\` and
  \`tar | zstd\` overlap reading with compressing across processes.
- **Format**: img's tar is deterministic (sorted, uid 0, mtime 0); tar
  records host metadata. Header overhead is the same order for both.
- **gzip engines**: img uses klauspost/compress's flate (\`--jobs 1\`) and
  pgzip with fixed 1 MiB blocks (\`--jobs 0\`), whose output does not depend
  on the worker count; pigz uses zlib with 128 KiB blocks; gzip its own
  deflate.
- **zstd threads**: with \`--jobs 0\` img cuts the tar into fixed 4 MiB
  chunks and compresses each whole (EncodeAll) as an independent zstd frame
  (klauspost/compress/zstd, one single-threaded encoder per worker), so the
  bytes depend on the chunk size but not on the worker count; every frame
  restarts its history, which costs a little ratio (0.4% against one
  frame). \`zstd -T0\` compresses
  jobs of several MiB on every core inside one frame, each job seeing the
  previous one's tail.
EOF
}

echo
table peer "${ROWS[@]}"
[ ${#UP_ROWS[@]} -eq 0 ] || table upstream "${UP_ROWS[@]}"
if [ "$DOC" != "-" ]; then
	mkdir -p "$(dirname "$DOC")"
	report >"$DOC.partial"
	mv "$DOC.partial" "$DOC"
	log "wrote $DOC"
fi
