#!/usr/bin/env bash
# Benchmarks: publishes the service in Release, starts a throwaway PostgreSQL, drives it, writes docs/benchmarks.md.
#   bash bench/run.sh                      # everything, 1000 agents
#   bash bench/run.sh --agents 200 --scenario heartbeat --out -
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet publish src/Orchestrator -c Release -o bench/out/service -v quiet -nologo >/dev/null
exec dotnet run -c Release --project bench/Orchestrator.Benchmarks -- "$@"
