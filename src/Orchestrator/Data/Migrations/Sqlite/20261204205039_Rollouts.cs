using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Orchestrator.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class Rollouts : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<Guid>(
                name: "RolloutId",
                table: "Tasks",
                type: "TEXT",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "Rollouts",
                columns: table => new
                {
                    Id = table.Column<Guid>(type: "TEXT", nullable: false),
                    Name = table.Column<string>(type: "TEXT", maxLength: 128, nullable: true),
                    Status = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    StatusReason = table.Column<string>(type: "TEXT", maxLength: 512, nullable: true),
                    TaskType = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    PayloadJson = table.Column<string>(type: "TEXT", nullable: true),
                    ProtectedCredentials = table.Column<string>(type: "TEXT", nullable: true),
                    Priority = table.Column<int>(type: "INTEGER", nullable: false),
                    TimeoutSeconds = table.Column<int>(type: "INTEGER", nullable: false),
                    BatchSize = table.Column<int>(type: "INTEGER", nullable: true),
                    BatchPercent = table.Column<int>(type: "INTEGER", nullable: true),
                    MaxFailures = table.Column<int>(type: "INTEGER", nullable: true),
                    MaxFailurePercent = table.Column<int>(type: "INTEGER", nullable: true),
                    PauseSeconds = table.Column<int>(type: "INTEGER", nullable: false),
                    Canary = table.Column<int>(type: "INTEGER", nullable: true),
                    FailureLimit = table.Column<int>(type: "INTEGER", nullable: false),
                    BatchCount = table.Column<int>(type: "INTEGER", nullable: false),
                    CurrentBatch = table.Column<int>(type: "INTEGER", nullable: false),
                    BatchStartedAt = table.Column<DateTime>(type: "TEXT", nullable: true),
                    NextBatchAt = table.Column<DateTime>(type: "TEXT", nullable: true),
                    IdempotencyKey = table.Column<string>(type: "TEXT", maxLength: 128, nullable: true),
                    CreatedBy = table.Column<string>(type: "TEXT", maxLength: 160, nullable: false),
                    CancelledBy = table.Column<string>(type: "TEXT", maxLength: 160, nullable: true),
                    CreatedAt = table.Column<DateTime>(type: "TEXT", nullable: false),
                    StartedAt = table.Column<DateTime>(type: "TEXT", nullable: true),
                    CompletedAt = table.Column<DateTime>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_Rollouts", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "RolloutEvents",
                columns: table => new
                {
                    Id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    RolloutId = table.Column<Guid>(type: "TEXT", nullable: false),
                    At = table.Column<DateTime>(type: "TEXT", nullable: false),
                    Type = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    DataJson = table.Column<string>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_RolloutEvents", x => x.Id);
                    table.ForeignKey(
                        name: "FK_RolloutEvents_Rollouts_RolloutId",
                        column: x => x.RolloutId,
                        principalTable: "Rollouts",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "RolloutTargets",
                columns: table => new
                {
                    RolloutId = table.Column<Guid>(type: "TEXT", nullable: false),
                    AgentId = table.Column<Guid>(type: "TEXT", nullable: false),
                    AgentName = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    Batch = table.Column<int>(type: "INTEGER", nullable: false),
                    Position = table.Column<int>(type: "INTEGER", nullable: false),
                    TaskId = table.Column<Guid>(type: "TEXT", nullable: true),
                    Status = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    StatusReason = table.Column<string>(type: "TEXT", maxLength: 512, nullable: true),
                    EndedAt = table.Column<DateTime>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_RolloutTargets", x => new { x.RolloutId, x.AgentId });
                    table.ForeignKey(
                        name: "FK_RolloutTargets_Rollouts_RolloutId",
                        column: x => x.RolloutId,
                        principalTable: "Rollouts",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_Tasks_RolloutId_AgentId",
                table: "Tasks",
                columns: new[] { "RolloutId", "AgentId" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_RolloutEvents_RolloutId_Id",
                table: "RolloutEvents",
                columns: new[] { "RolloutId", "Id" });

            migrationBuilder.CreateIndex(
                name: "IX_RolloutTargets_RolloutId_Position",
                table: "RolloutTargets",
                columns: new[] { "RolloutId", "Position" });

            migrationBuilder.CreateIndex(
                name: "IX_Rollouts_IdempotencyKey",
                table: "Rollouts",
                column: "IdempotencyKey",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_Rollouts_Status",
                table: "Rollouts",
                column: "Status");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "RolloutEvents");

            migrationBuilder.DropTable(
                name: "RolloutTargets");

            migrationBuilder.DropTable(
                name: "Rollouts");

            migrationBuilder.DropIndex(
                name: "IX_Tasks_RolloutId_AgentId",
                table: "Tasks");

            migrationBuilder.DropColumn(
                name: "RolloutId",
                table: "Tasks");
        }
    }
}
