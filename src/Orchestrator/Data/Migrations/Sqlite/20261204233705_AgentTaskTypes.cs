using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Orchestrator.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class AgentTaskTypes : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "TaskTypes",
                table: "Agents",
                type: "TEXT",
                maxLength: 8256,
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "TaskTypes",
                table: "Agents");
        }
    }
}
