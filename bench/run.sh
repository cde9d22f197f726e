#!/usr/bin/env bash
# Benchmarks: publishes the service in Release, starts a throwaway PostgreSQL, drives it, writes docs/benchmarks.md.
#   bash bench/run.sh                      # everything, 1000 agents
#   bash bench/run.sh --agents 200 --scenario heartbeat --out -
set -euo pipefail
cd "$(dirname "$0")/.."
# For this machine's runtime, so it is compiled ahead of time (ReadyToRun), as the Dockerfile publishes it.
dotnet publish src/Orchestrator -c Release -r linux-x64 --self-contained false -o bench/out/service -v quiet -nologo >/dev/null
# The same without ReadyToRun: the start-up scenario's baseline.
dotnet publish src/Orchestrator -c Release -o bench/out/service-jit -v quiet -nologo >/dev/null
# dotnet-trace, for the heartbeat scenario's CPU samples (collect-linux: root and Linux 6.4 or later).
[ -x bench/out/tools/dotnet-trace ] || dotnet tool install --tool-path bench/out/tools dotnet-trace --version 10.0.750501 >/dev/null ||
  echo "bench: dotnet-trace could not be installed; the heartbeat's CPU will not be sampled" >&2
exec dotnet run -c Release --project bench/Orchestrator.Benchmarks -- "$@"
