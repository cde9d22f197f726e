using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Orchestrator.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class TaskLastLogSeq : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<long>(
                name: "LastLogSeq",
                table: "Tasks",
                type: "bigint",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "LastLogSeq",
                table: "Tasks");
        }
    }
}
