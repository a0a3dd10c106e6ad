#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# fuzz.sh - builds the libFuzzer targets of native/fuzz/ (clang -fsanitize=fuzzer,address,
# undefined, linking the project's C sources directly, not the addon) and runs each for a
# chosen time, one after another, at the lowest CPU priority.
#
#   bash scripts/fuzz.sh [--seconds N] [--minimize] [--list] [TARGET...]
#
# Every target (all by default) starts from its committed seed corpus (native/fuzz/corpus/
# TARGET, read only) and adds what it finds to native/fuzz/out/corpus/TARGET; --seconds
# defaults to 60. A crash, leak, sanitizer report or timeout stops that target; its input is
# saved under native/fuzz/out/artifacts/TARGET/, the script prints the path and the report's
# first lines, runs the remaining targets, and exits 1. --minimize merges the seeds and what
# runs found back into the committed seed corpus, keeping only inputs that add coverage
# (libFuzzer -merge=1); without --seconds it merges what earlier runs found and fuzzes nothing.
# Needs clang and its fuzzer runtime (Debian: clang, libclang-rt-14-dev; setup.sh installs both).
#
# Environment: FUZZ_OUT (default native/fuzz/out), CC (default clang), FUZZ_RSS_MB (2048),
# FUZZ_CFLAGS (added to every compile; -DPFSIM_FUZZ_SELFTEST plants a bug in the decode target
# so that a test can see a finding reported).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fuzz_dir=$root/native/fuzz
out=${FUZZ_OUT:-$fuzz_dir/out}
cc=${CC:-clang}
rss_mb=${FUZZ_RSS_MB:-2048}
read -r -a user_cflags <<<"${FUZZ_CFLAGS:-}"

all_targets=(capture decode frame lpm classify classify_grouped classifier_load)

# sources of each target besides its own fuzz_*.c
capture_srcs=(src/capture/capture.c src/capture/decode.c)
decode_srcs=(src/capture/decode.c)
frame_srcs=(src/bpf/bpf_frame.c src/capture/decode.c)
lpm_srcs=(src/lpm.c)
classify_srcs=(src/classifier.c src/lpm.c src/podmap.c src/conntrack.c)

usage() {
	sed -n '4,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

die() {
	echo "fuzz.sh: $*" >&2
	exit 2
}

# target name -> its harness file, its project sources, extra compiler flags, the longest
# input it is given (max_len) and the longest kept in its committed seeds (seed_len: cut
# longer, so the committed corpus stays small)
describe_target() {
	local t=$1
	harness=fuzz_$t.c
	extra=()
	max_len=4096
	seed_len=1024
	case $t in
	capture) srcs=("${capture_srcs[@]}"); max_len=16384; seed_len=2048 ;;
	decode) srcs=("${decode_srcs[@]}") ;;
	frame) srcs=("${frame_srcs[@]}") ;;
	lpm) srcs=("${lpm_srcs[@]}"); max_len=16384 ;;
	classify) srcs=("${classify_srcs[@]}"); max_len=11264; seed_len=512 ;;
	classify_grouped)
		# the same harness, every batch on the grouped (prefetching) path
		harness=fuzz_classify.c
		srcs=("${classify_srcs[@]}")
		extra=(-DPFS_WALK_BYTES=0)
		max_len=11264
		seed_len=512
		;;
	classifier_load) srcs=("${classify_srcs[@]}"); max_len=8192; seed_len=512 ;;
	*) die "unknown target '$t' (targets: ${all_targets[*]})" ;;
	esac
}

# builds native/fuzz/out/bin/TARGET unless it is newer than every file it is made of and was
# built with the same flags
build_target() {
	local t=$1 bin=$out/bin/$1 f stale=0 paths=() flags
	describe_target "$t"
	flags="${extra[*]} ${user_cflags[*]}"
	paths=("$fuzz_dir/$harness" "$fuzz_dir/fuzz_input.h" "$root/native/include"/*.h "$root/native/src"/*.h
		"$root/native/src/capture"/*.h "$root/native/src/bpf"/*.h)
	for f in "${srcs[@]}"; do paths+=("$root/native/$f"); done
	[[ -f $bin.flags && $(<"$bin.flags") == "$flags" ]] || stale=1
	if [[ -x $bin ]]; then
		for f in "${paths[@]}" "${BASH_SOURCE[0]}"; do
			[[ $f -nt $bin ]] && stale=1
		done
	else
		stale=1
	fi
	((stale)) || return 0
	mkdir -p "$out/bin"
	local cmd=("$cc" -g -O1 -std=c11 -Wall -Wextra -Werror -fno-omit-frame-pointer
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
		-I"$root/native/include" -I"$root/native/src" -I"$root/native/src/capture"
		"${extra[@]}" "${user_cflags[@]}" -o "$bin.tmp" "$fuzz_dir/$harness")
	for f in "${srcs[@]}"; do cmd+=("$root/native/$f"); done
	if ! "${cmd[@]}" 2>"$out/bin/$t.build.log"; then
		cat "$out/bin/$t.build.log" >&2
		echo "fuzz.sh: $t: build failed (is libclang-rt-14-dev installed?)" >&2
		return 1
	fi
	mv "$bin.tmp" "$bin"
	printf '%s' "$flags" >"$bin.flags"
}

# "N files, M KiB" of a directory
corpus_size() {
	find "$1" -type f -printf '%s\n' 2>/dev/null |
		awk '{ n++; b += $1 } END { printf "%d files, %d KiB\n", n, (b + 1023) / 1024 }'
}

# runs one target; returns 1 when it found something
run_target() {
	local t=$1 seeds=$fuzz_dir/corpus/$1 work=$out/corpus/$1 art=$out/artifacts/$1
	local log=$out/logs/$1.log rc=0 runs found
	describe_target "$t"
	mkdir -p "$work" "$art" "$out/logs" "$seeds"
	# artifacts of earlier runs stay; only those of this run are reported
	local stamp=$out/logs/$t.start
	touch "$stamp"
	nice -n 19 "$out/bin/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb="$rss_mb" \
		-max_len="$max_len" -print_final_stats=1 -artifact_prefix="$art/" \
		"$work" "$seeds" >"$log" 2>&1 || rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	found=$(find "$art" -type f -newer "$stamp" 2>/dev/null | sort)
	if ((rc != 0)) || [[ -n $found ]]; then
		echo "$t: FAILED after ${runs:-?} runs (exit $rc); log: $log"
		grep -m1 -E '^==[0-9]+==ERROR|runtime error:|check failed|ERROR: libFuzzer' "$log" | sed 's/^/  /' || true
		if [[ -n $found ]]; then
			echo "$found" | sed 's/^/  input saved to: /'
		else
			grep 'Test unit written to' "$log" | sed 's/^.*Test unit written to /  input saved to: /' || true
		fi
		return 1
	fi
	echo "$t: ok, ${runs:-?} runs in ${seconds} s; corpus $(corpus_size "$work") found + $(corpus_size "$seeds") seeds"
}

# keeps, of the seeds and what runs found (out/corpus), the inputs that add coverage, cut to seed_len
minimize_target() {
	local t=$1 seeds=$fuzz_dir/corpus/$1 work=$out/corpus/$1 merged
	describe_target "$t"
	merged=$(mktemp -d "$out/merge-$t.XXXXXX")
	if ! nice -n 19 "$out/bin/$t" -merge=1 -max_len="$seed_len" -rss_limit_mb="$rss_mb" "$merged" \
		"$seeds" "$work" >"$out/logs/$t.merge.log" 2>&1; then
		echo "$t: merge failed; log: $out/logs/$t.merge.log" >&2
		rm -rf "$merged"
		return 1
	fi
	rm -rf "$seeds"
	mv "$merged" "$seeds"
	chmod 755 "$seeds"
	echo "$t: seed corpus minimized to $(corpus_size "$seeds")"
}

seconds=
minimize=0
targets=()
while (($#)); do
	case $1 in
	--seconds)
		[[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "--seconds needs a positive whole number"
		seconds=$2
		shift 2
		;;
	--seconds=*)
		seconds=${1#--seconds=}
		[[ $seconds =~ ^[1-9][0-9]*$ ]] || die "--seconds needs a positive whole number"
		shift
		;;
	--minimize) minimize=1; shift ;;
	--list) printf '%s\n' "${all_targets[@]}"; exit 0 ;;
	-h | --help) usage; exit 0 ;;
	-*) die "unknown option '$1' (see --help)" ;;
	*) describe_target "$1"; targets+=("$1"); shift ;;
	esac
done
((${#targets[@]})) || targets=("${all_targets[@]}")
[[ -n $seconds ]] || ((minimize)) || seconds=60
command -v "$cc" >/dev/null || die "$cc not found (Debian: apt-get install clang libclang-rt-14-dev)"

mkdir -p "$out"
for t in "${targets[@]}"; do
	build_target "$t" || exit 2
done

failed=()
if [[ -n $seconds ]]; then
	for t in "${targets[@]}"; do
		run_target "$t" || failed+=("$t")
	done
fi
if ((minimize)); then
	for t in "${targets[@]}"; do
		minimize_target "$t" || failed+=("$t (merge)")
	done
fi
if ((${#failed[@]})); then
	echo "fuzz.sh: findings in: ${failed[*]}" >&2
	exit 1
fi
