#!/usr/bin/env bash
# Prepares a Debian 12 machine for pfsim: system packages, npm dependencies, build.
# Idempotent: installs only what is missing and reinstalls node_modules only when the
# lockfile is newer. Needs root only when a system package is missing.
# Prints one line per step; on failure prints the failing tool's output tail and one
# "setup: ..." line, and exits non-zero.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export DEBIAN_FRONTEND=noninteractive

# what pfsim needs from Debian: the native addon and BPF toolchain, pcap, and the
# kernel-side tools the tests drive (iptables/nft backends, ip netns, bpftool), headless
# Chromium for the report test, and clang's fuzzer runtime for the libFuzzer targets
PACKAGES=(
  build-essential python3 clang llvm libbpf-dev libelf-dev zlib1g-dev libpcap-dev
  pkg-config iptables nftables iproute2 bpftool tcpdump linux-libc-dev ca-certificates git
  chromium fonts-dejavu-core libclang-rt-14-dev time
)

LOG="$(mktemp -t pfsim-setup.XXXXXX.log)"
trap 'rm -f "$LOG"' EXIT

step() { printf 'setup: %s\n' "$*"; }

die() {
  printf 'setup: error: %s\n' "$*" >&2
  exit 1
}

# run a noisy command with its output in $LOG; on failure show the tail, then one line
run_logged() {
  local what="$1"
  shift
  if ! "$@" >"$LOG" 2>&1; then
    tail -n 80 "$LOG" >&2
    die "$what failed (exit above)"
  fi
}

# node: present, major >= 20, and its headers installed locally, since node-gyp cannot
# download headers here (only the npm registry and Debian are reachable)
command -v node >/dev/null 2>&1 || die "node not found in PATH; install Node.js 20 or later"
command -v npm >/dev/null 2>&1 || die "npm not found in PATH; install npm with Node.js"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[[ "$node_major" =~ ^[0-9]+$ ]] || die "cannot read the Node.js version from 'node -p'"
((node_major >= 20)) || die "Node.js $(node --version) is too old; pfsim needs 20 or later"
node_prefix="$(cd "$(dirname "$(command -v node)")/.." && pwd)"
[[ -f "$node_prefix/include/node/node_api.h" ]] ||
  die "Node.js headers missing at $node_prefix/include/node (node-gyp cannot download them here)"
step "node $(node --version) with headers in $node_prefix/include/node"

missing=()
for pkg in "${PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
  [[ "$status" == "installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  step "system packages: all ${#PACKAGES[@]} present"
else
  if [[ "$(id -u)" -ne 0 ]]; then
    die "missing packages: ${missing[*]}; run as root: sudo bash scripts/setup.sh"
  fi
  step "system packages: installing ${missing[*]}"
  # wait for a dpkg lock held by another apt run instead of failing at once
  apt_opts=(-o DPkg::Lock::Timeout=900 -o Acquire::Retries=3)
  run_logged "apt-get update" apt-get "${apt_opts[@]}" update
  run_logged "apt-get install ${missing[*]}" \
    apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}"
  step "system packages: installed ${#missing[@]}"
fi

# npm writes node_modules/.package-lock.json on every install: its age says how fresh
# node_modules is relative to the lockfile and package.json
marker="node_modules/.package-lock.json"
npm_flags=(--no-audit --no-fund)
if [[ -f package-lock.json ]]; then
  if [[ ! -f "$marker" || package-lock.json -nt "$marker" || package.json -nt "$marker" ]]; then
    step "npm ci"
    run_logged "npm ci" npm ci "${npm_flags[@]}"
  else
    step "npm dependencies up to date"
  fi
else
  if [[ ! -f "$marker" || package.json -nt "$marker" ]]; then
    step "npm install (no package-lock.json)"
    run_logged "npm install" npm install "${npm_flags[@]}"
  else
    step "npm dependencies up to date"
  fi
fi

step "npm run build"
run_logged "npm run build" npm run build
step "done"
