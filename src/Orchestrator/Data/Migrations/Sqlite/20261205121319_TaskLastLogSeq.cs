using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Orchestrator.Data.Migrations.Sqlite
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
                type: "INTEGER",
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
