using Microsoft.Extensions.Options;

namespace Orchestrator.Hosting;

public enum DatabaseProvider
{
    Sqlite,
    Postgres,
}

public sealed class DatabaseOptions
{
    public const string Section = "Orchestrator:Database";

    public DatabaseProvider Provider { get; set; } = DatabaseProvider.Sqlite;
}

/// <summary>The connection string in force: <c>ConnectionStrings:Orchestrator</c>, or for SQLite a file in the data directory.</summary>
public sealed class DatabaseConnection
{
    public DatabaseConnection(IConfiguration configuration, IOptions<DatabaseOptions> database, DataDirectory dataDirectory)
    {
        Provider = database.Value.Provider;
        var configured = configuration.GetConnectionString("Orchestrator");
        if (!string.IsNullOrWhiteSpace(configured))
        {
            ConnectionString = configured;
        }
        else if (Provider == DatabaseProvider.Sqlite)
        {
            ConnectionString = $"Data Source={dataDirectory.File("orchestrator.db")};Default Timeout=30";
        }
        else
        {
            throw new OptionsValidationException("ConnectionStrings:Orchestrator", typeof(DatabaseOptions),
                ["ConnectionStrings:Orchestrator is required when Orchestrator:Database:Provider is Postgres."]);
        }
    }

    public DatabaseProvider Provider { get; }
    public string ConnectionString { get; }
}
