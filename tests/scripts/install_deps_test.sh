#!/usr/bin/env bash
# scripts/install-deps against a fake machine: PATH holds only fakes of dpkg-query, apt-get,
# systemctl, node, npm and java (and the few real tools the script needs), POS_PUBSUB_EMULATOR
# points at a fake emulator. Checks what the script says on stderr, its exit status and which
# apt-get and systemctl calls it made. Nothing is installed.
#   install_deps_test.sh <source dir>
set -euo pipefail

src=${1:?usage: install_deps_test.sh <source dir>}
script=$src/scripts/install-deps
tmp=$(mktemp -d "${TMPDIR:-/tmp}/install-deps-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# A fresh fake machine in $tmp/case-N. Packages listed in FAKE_MISSING are not installed; java is
# on PATH unless NO_JAVA=1; the system services listed in ACTIVE_SERVICES are active.
case_n=0
new_machine() {
  case_n=$((case_n + 1))
  machine=$tmp/case-$case_n
  fakebin=$machine/bin
  mkdir -p "$fakebin"
  for tool in bash dirname grep id cat; do
    ln -s "$(command -v "$tool")" "$fakebin/$tool"
  done
  : >"$machine/calls"
  cat >"$fakebin/dpkg-query" <<EOF
#!$(command -v bash)
pkg=\${!#}
for m in \${FAKE_MISSING:-}; do [ "\$m" = "\$pkg" ] && exit 1; done
printf 'install ok installed'
EOF
  cat >"$fakebin/apt-get" <<EOF
#!$(command -v bash)
echo "apt-get \$*" >>"$machine/calls"
EOF
  cat >"$fakebin/systemctl" <<EOF
#!$(command -v bash)
echo "systemctl \$*" >>"$machine/calls"
if [ "\$1" = is-active ]; then [[ " \${ACTIVE_SERVICES:-} " == *" \${@: -1} "* ]]; exit; fi
EOF
  # The installed playwright-core version equals the pinned one: nothing to do for npm.
  printf '#!%s\necho 1.0.0\n' "$(command -v bash)" >"$fakebin/node"
  printf '#!%s\necho "npm $*" >>"%s"\n' "$(command -v bash)" "$machine/calls" >"$fakebin/npm"
  printf '#!%s\nexec "$@"\n' "$(command -v bash)" >"$fakebin/sudo"
  if [ "${NO_JAVA:-0}" != 1 ]; then
    printf '#!%s\nexit 0\n' "$(command -v bash)" >"$fakebin/java"
  fi
  mkdir -p "$machine/emulator"
  printf '#!%s\nexit 0\n' "$(command -v bash)" >"$machine/emulator/cloud-pubsub-emulator"
  chmod +x "$fakebin"/* "$machine/emulator/cloud-pubsub-emulator"
}

# run_script [args...]: runs install-deps on the current fake machine; sets rc and err.
run_script() {
  rc=0
  env -i PATH="$fakebin" HOME="$machine" TMPDIR="$machine" \
    POS_PUBSUB_EMULATOR="${EMULATOR:-$machine/emulator/cloud-pubsub-emulator}" \
    FAKE_MISSING="${FAKE_MISSING:-}" ACTIVE_SERVICES="${ACTIVE_SERVICES:-}" \
    "$fakebin/bash" "$script" "$@" >"$machine/stdout" 2>"$machine/stderr" || rc=$?
  err=$(cat "$machine/stderr")
}

expect_rc() {  # expect_rc <case> <rc>
  if [ "$rc" != "$2" ]; then fail "$1: exit status $rc, expected $2; stderr: $err"; fi
}
expect_err() {  # expect_err <case> <text>
  if [[ $err != *"$2"* ]]; then fail "$1: stderr lacks '$2'; stderr: $err"; fi
}
expect_call() {  # expect_call <case> <text>
  if ! grep -qF -- "$2" "$machine/calls"; then
    fail "$1: no call '$2'; calls: $(cat "$machine/calls")"
  fi
}
expect_no_call() {  # expect_no_call <case> <text>
  if grep -qF -- "$2" "$machine/calls"; then fail "$1: unexpected call '$2'"; fi
}

c="everything there"
new_machine
run_script
expect_rc "$c" 0
if [ -n "$err" ]; then fail "$c: not quiet: $err"; fi
expect_no_call "$c" "apt-get"
run_script --check
expect_rc "$c --check" 0

c="emulator missing"
new_machine
EMULATOR=$machine/no/cloud-pubsub-emulator run_script
expect_rc "$c" 1
expect_err "$c" "the Pub/Sub emulator is missing: $machine/no/cloud-pubsub-emulator"
expect_err "$c" "gcloud components install pubsub-emulator"
EMULATOR=$machine/no/cloud-pubsub-emulator run_script --check
expect_rc "$c --check" 1
expect_err "$c --check" "the Pub/Sub emulator is missing"

c="java missing, its package installed but no java on PATH"
NO_JAVA=1 new_machine
run_script
expect_rc "$c" 1
expect_err "$c" "java is missing"
expect_err "$c" "apt-get install openjdk-17-jre-headless"
if [[ $err == *"Pub/Sub emulator is missing"* ]]; then fail "$c: blames the emulator: $err"; fi

c="java missing and its package too: installed"
NO_JAVA=1 new_machine
FAKE_MISSING=openjdk-17-jre-headless run_script
expect_call "$c" "apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless"
# The fake apt-get installs nothing, so the check after it still finds no java.
expect_rc "$c" 1
expect_err "$c" "java is missing"

c="--check with packages missing"
new_machine
FAKE_MISSING="jq mosquitto" run_script --check
expect_rc "$c" 1
expect_err "$c" "missing Debian packages: mosquitto jq"
expect_no_call "$c" "apt-get"
expect_no_call "$c" "systemctl"

c="mosquitto just installed, its service started"
new_machine
FAKE_MISSING=mosquitto ACTIVE_SERVICES=mosquitto run_script
expect_rc "$c" 0
expect_call "$c" "apt-get install -y -qq --no-install-recommends mosquitto"
expect_call "$c" "systemctl disable --now mosquitto"
expect_err "$c" "stopping and disabling the system mosquitto service"
expect_err "$c" "systemctl enable --now mosquitto"

c="prometheus just installed, its service started"
new_machine
FAKE_MISSING="prometheus" ACTIVE_SERVICES="mosquitto prometheus" run_script
expect_rc "$c" 0
expect_call "$c" "systemctl disable --now prometheus"
expect_no_call "$c" "systemctl disable --now mosquitto"
expect_err "$c" "stopping and disabling the system prometheus service"

c="mosquitto installed before, its service running"
new_machine
FAKE_MISSING=jq ACTIVE_SERVICES=mosquitto run_script
expect_rc "$c" 0
expect_call "$c" "apt-get install -y -qq --no-install-recommends jq"
expect_no_call "$c" "systemctl disable"
if [[ $err == *mosquitto* ]]; then fail "$c: mentions mosquitto: $err"; fi

if [ "$failures" != 0 ]; then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "install-deps: all $case_n cases passed"
