namespace Orchestrator.Audit;

/// <summary>What the API documentation (Swagger UI, the OpenAPI document) says about each route of this feature, in
/// one place: the summary stays beside its route, the longer description is here.</summary>
internal static class AuditDocs
{
    public const string List =
        "Who changed what and when. Paged with `limit` and `after`; the next page is in the `Link` header. Filter with " +
        "`action` and `subjectId`.";
}
