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
exec dotnet run -c Release --project bench/Orchestrator.Benchmarks -- "$@"
