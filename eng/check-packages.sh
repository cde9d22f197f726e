#!/usr/bin/env bash
# Packs what Orchestrator ships as NuGet packages (the projects in eng/packages.slnf) and checks them as a user would
# take them: the client library (Orchestrator.Client with the Orchestrator.Contracts it depends on) and the agent as
# the dotnet tool `orchestrator-agent`, installed into a throwaway tool path and run. Used by .ci/run; by hand:
#   bash eng/check-packages.sh [--no-build] [OUT_DIR]   (packages stay in OUT_DIR, default a temporary directory)
# By default it builds Release, as a release would. --no-build packs the Debug build already made (what .ci/run just
# tested): the packages' layout, dependencies and the tool's install do not depend on the configuration.
set -euo pipefail
cd "$(dirname "$0")/.."
pack=(-c Release -p:ContinuousIntegrationBuild=true)
if [ "${1:-}" = --no-build ]; then
  pack=(-c Debug --no-build)
  shift
fi
out=${1:-}
scratch=$(mktemp -d "${TMPDIR:-/tmp}/orchestrator-packages-XXXXXX")
trap 'rm -rf "$scratch"' EXIT
out=${out:-$scratch/packages}
mkdir -p "$out"

# The shipped projects are listed in eng/packages.slnf: one MSBuild process packs the three (2 s here, against 5 s
# for a process each).
dotnet pack eng/packages.slnf "${pack[@]}" -o "$out" --nologo -v quiet

fail() { echo "check-packages: $*" >&2; exit 1; }
# Listed into a variable first: `unzip | grep -q` fails under pipefail when grep stops reading early.
has_entry() { local listing; listing=$(unzip -Z1 "$1"); grep -qx -- "$2" <<<"$listing"; }

package() { local found=("$out/$1".[0-9]*.nupkg); [ -e "${found[0]}" ] || fail "no $1 package in $out"; echo "${found[-1]}"; }
client=$(package Orchestrator.Client)
contracts=$(package Orchestrator.Contracts)
agent=$(package Orchestrator.Agent)
has_entry "$client" 'lib/net10.0/Orchestrator.Client.dll' || fail "$client has no lib/net10.0/Orchestrator.Client.dll"
has_entry "$contracts" 'lib/net10.0/Orchestrator.Contracts.dll' || fail "$contracts has no lib/net10.0/Orchestrator.Contracts.dll"
nuspec=$(unzip -p "$client" Orchestrator.Client.nuspec)
grep -q 'id="Orchestrator.Contracts"' <<<"$nuspec" || fail "the client package does not depend on Orchestrator.Contracts"
has_entry "$agent" 'tools/net10.0/any/Orchestrator.Agent.dll' || fail "$agent is not a dotnet tool package"

# The tool installs from the package alone (its dependencies are inside it) and answers as users call it. Only the
# packages just made are a source: a package of the same name on a public feed must not stand in for ours.
cat >"$scratch/nuget.config" <<CONFIG
<configuration><packageSources><clear /><add key="packed" value="$out" /></packageSources></configuration>
CONFIG
dotnet tool install Orchestrator.Agent --tool-path "$scratch/tools" --configfile "$scratch/nuget.config" >/dev/null
help=$("$scratch/tools/orchestrator-agent" run --help)
for flag in --server --token-file --token --state-dir --ca-file --ca-fingerprint --name --label --capability --max-tasks --docker-host --allow-shell; do
  grep -q -- "$flag" <<<"$help" || fail "orchestrator-agent run --help does not list $flag"
done
status=0
"$scratch/tools/orchestrator-agent" run >/dev/null 2>&1 || status=$?
[ "$status" = 64 ] || fail "orchestrator-agent run without flags exited $status, not 64 (usage)"
echo "check-packages: $(basename "$client"), $(basename "$contracts") and the orchestrator-agent tool ($(basename "$agent")) pack, install and run"
