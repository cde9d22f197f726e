#!/usr/bin/env bash
# Regenerates the compiled EF models the service starts on (src/Orchestrator/CompiledModels), for both providers.
# Run it after any change to the mappings (eng/new-migration.sh runs it); HostTests fails while they lag behind.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet tool restore >/dev/null
dotnet restore eng/DesignTime >/dev/null
for provider in Sqlite Postgres; do
  dotnet ef dbcontext optimize --project src/Orchestrator --startup-project eng/DesignTime \
    --context "${provider}OrchestratorDbContext" --output-dir "CompiledModels/$provider" --namespace "Orchestrator.CompiledModels.$provider"
done
