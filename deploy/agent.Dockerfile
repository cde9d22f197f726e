# The Orchestrator agent as a container. It drives the host's Docker Engine through its socket:
#   docker build -f deploy/agent.Dockerfile -t orchestrator-agent .
#   docker run -d --name orchestrator-agent --restart on-failure \
#     -v /var/run/docker.sock:/var/run/docker.sock -v orchestrator-agent:/var/lib/orchestrator-agent \
#     -v /etc/orchestrator-agent:/etc/orchestrator-agent:ro \
#     -e OrchestratorAgent__Server=https://orchestrator.example.com:8443 \
#     -e OrchestratorAgent__CaFile=/etc/orchestrator-agent/ca.pem -e OrchestratorAgent__TokenFile=/etc/orchestrator-agent/token \
#     orchestrator-agent
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY global.json Directory.Build.props Directory.Packages.props .editorconfig ./
COPY src/Orchestrator.Contracts/ src/Orchestrator.Contracts/
COPY src/Orchestrator.Client/ src/Orchestrator.Client/
COPY src/Orchestrator.Agent/ src/Orchestrator.Agent/
RUN dotnet publish src/Orchestrator.Agent/Orchestrator.Agent.csproj -c Release -o /out

FROM mcr.microsoft.com/dotnet/runtime:10.0
# compose.up/compose.down run the compose CLI (docker-compose here); everything else goes through the Engine API.
RUN apt-get update && apt-get install -y --no-install-recommends docker-compose && rm -rf /var/lib/apt/lists/*
COPY --from=build /out /app
ENV OrchestratorAgent__StateDir=/var/lib/orchestrator-agent
VOLUME /var/lib/orchestrator-agent
STOPSIGNAL SIGTERM
ENTRYPOINT ["dotnet", "/app/Orchestrator.Agent.dll"]
CMD ["run"]
