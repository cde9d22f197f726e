using Microsoft.Extensions.Options;

namespace Orchestrator.Hosting;

public static class HostingRegistration
{
    /// <summary>What every feature stands on: the clock, the root settings, the data directory and the database
    /// connection. A bad setting stops the service at start with a message that names it.</summary>
    public static IServiceCollection AddOrchestratorHosting(this IServiceCollection services)
    {
        // Everything takes the service's clock, TimeProvider: this replica's own, kept on the database's time.
        services.AddKeyedSingleton(DatabaseClock.ReplicaKey, TimeProvider.System);
        services.AddSingleton<DatabaseClock>();
        services.AddSingleton<TimeProvider>(sp => sp.GetRequiredService<DatabaseClock>());
        services.AddValidatedOptions<OrchestratorOptions, OrchestratorOptionsValidator>(OrchestratorOptions.Section);
        // An unknown provider name fails the bind, at start.
        services.AddValidatedOptions<DatabaseOptions, DatabaseOptionsValidator>(DatabaseOptions.Section);
        services.AddSingleton<DataDirectory>();
        services.AddSingleton<DatabaseConnection>();
        // The first hosted service: nothing has stamped a time yet.
        services.AddHostedService<DatabaseClockCheck>();
        return services;
    }

    /// <summary>Cluster events over the configured database: LISTEN/NOTIFY on PostgreSQL, this process alone on SQLite.</summary>
    public static IServiceCollection AddClusterEvents(this IServiceCollection services)
    {
        services.AddSingleton<ClusterEventMetrics>();
        services.AddSingleton<PostgresClusterEvents>();
        services.AddSingleton<LocalClusterEvents>();
        services.AddSingleton<IClusterEvents>(sp => sp.GetRequiredService<DatabaseConnection>().Provider == DatabaseProvider.Postgres
            ? sp.GetRequiredService<PostgresClusterEvents>()
            : sp.GetRequiredService<LocalClusterEvents>());
        // AddSingleton, not AddHostedService: the latter refuses a factory typed as IHostedService itself.
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<DatabaseConnection>().Provider == DatabaseProvider.Postgres
            ? sp.GetRequiredService<PostgresClusterEvents>()
            : (IHostedService)sp.GetRequiredService<LocalClusterEvents>());
        return services;
    }

    /// <summary>Binds <typeparamref name="TOptions"/> to <paramref name="section"/> and checks it with its validator
    /// when the host starts, so a bad setting stops the service naming the setting instead of failing on first use.
    /// Every feature registers its settings this way, beside the feature, with a source-generated validator. Rules whose
    /// message names the setting are written in <c>IValidatableObject</c>, not <c>[Range]</c>: the generated validator
    /// drops a <c>[Range]</c>'s <c>ErrorMessage</c> (.NET 10.0).</summary>
    public static OptionsBuilder<TOptions> AddValidatedOptions<TOptions, TValidator>(this IServiceCollection services, string section)
        where TOptions : class
        where TValidator : class, IValidateOptions<TOptions>
    {
        services.AddSingleton<IValidateOptions<TOptions>, TValidator>();
        return services.AddOptions<TOptions>().BindConfiguration(section).ValidateOnStart();
    }
}
