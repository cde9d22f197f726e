using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Orchestrator.Data.Migrations.Postgres
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
                type: "character varying(8256)",
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
