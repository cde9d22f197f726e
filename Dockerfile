# Build: docker build -t orchestrator .
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY global.json Directory.Build.props Directory.Packages.props .editorconfig ./
COPY src/Orchestrator/Orchestrator.csproj src/Orchestrator/
RUN dotnet restore src/Orchestrator/Orchestrator.csproj -r linux-x64
COPY src/ src/
RUN dotnet publish src/Orchestrator/Orchestrator.csproj -c Release -r linux-x64 --self-contained false -o /app --no-restore

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
# curl serves the container health check.
RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app ./
RUN mkdir -p /var/lib/orchestrator && chown "$APP_UID" /var/lib/orchestrator
USER $APP_UID
ENV ASPNETCORE_URLS=https://+:8443 \
    Orchestrator__DataDirectory=/var/lib/orchestrator
VOLUME ["/var/lib/orchestrator"]
EXPOSE 8443
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsk https://localhost:8443/health/ready || exit 1
ENTRYPOINT ["dotnet", "Orchestrator.dll"]
