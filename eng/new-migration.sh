#!/usr/bin/env bash
# Adds a migration with the same name for both providers: eng/new-migration.sh AddSomething
# dotnet ef starts from eng/DesignTime, which holds the design-time package, so the service's output does not.
set -euo pipefail
name=${1:?usage: eng/new-migration.sh MigrationName}
cd "$(dirname "$0")/.."
dotnet tool restore >/dev/null
dotnet restore eng/DesignTime >/dev/null
for provider in Sqlite Postgres; do
  dotnet ef migrations add "$name" --project src/Orchestrator --startup-project eng/DesignTime \
    --context "${provider}OrchestratorDbContext" --output-dir "Data/Migrations/$provider"
done
# The service starts on compiled models: they follow the mappings.
eng/compile-models.sh
