using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Orchestrator.Data;

/// <summary>Which constraint a failed write broke, on either provider: the writes that race on purpose (two
/// registrations of one name, a certificate issued while its agent is deleted) answer these with a 4xx.</summary>
public static class ConstraintViolations
{
    // https://www.sqlite.org/rescode.html: SQLITE_CONSTRAINT and its extended code for a foreign key.
    private const int SqliteConstraint = 19;
    private const int SqliteConstraintForeignKey = 787;

    /// <summary>A unique index or primary key already had the value.</summary>
    public static bool IsUniqueViolation(DbUpdateException exception) => exception.InnerException switch
    {
        PostgresException pg => pg.SqlState == PostgresErrorCodes.UniqueViolation,
        SqliteException sqlite => sqlite.SqliteErrorCode == SqliteConstraint && sqlite.SqliteExtendedErrorCode != SqliteConstraintForeignKey,
        _ => false,
    };

    /// <summary>A row names a parent that is not there (deleted meanwhile).</summary>
    public static bool IsForeignKeyViolation(DbUpdateException exception) => exception.InnerException switch
    {
        PostgresException pg => pg.SqlState == PostgresErrorCodes.ForeignKeyViolation,
        SqliteException sqlite => sqlite.SqliteExtendedErrorCode == SqliteConstraintForeignKey,
        _ => false,
    };
}
