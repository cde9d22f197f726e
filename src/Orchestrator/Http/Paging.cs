using System.Buffers.Text;
using System.Text;
using Microsoft.AspNetCore.Http.Extensions;

namespace Orchestrator.Http;

/// <summary><c>limit</c> and opaque <c>after</c> cursor from the query string; the next page goes into a <c>Link</c> header.</summary>
public readonly record struct Page(int Limit, string? After)
{
    public const int DefaultLimit = 100;
    public const int MaxLimit = 1000;

    /// <summary>Reads the paging parameters, or explains what is wrong with them.</summary>
    public static bool TryRead(HttpRequest request, out Page page, out Validation errors)
    {
        errors = new Validation();
        var limit = DefaultLimit;
        var rawLimit = request.Query["limit"].ToString();
        if (rawLimit.Length > 0 && (!int.TryParse(rawLimit, out limit) || limit < 1 || limit > MaxLimit))
        {
            errors.Add("limit", $"'limit' must be a whole number from 1 to {MaxLimit}.");
        }

        string? after = null;
        var rawAfter = request.Query["after"].ToString();
        if (rawAfter.Length > 0)
        {
            after = Decode(rawAfter);
            if (after is null)
            {
                errors.Add("after", "'after' is not a cursor this service issued.");
            }
        }

        page = new Page(limit, after);
        return errors.IsValid;
    }

    /// <summary>The cursor of a list ordered by id; a cursor that is not one is a 400, not a silent first page.</summary>
    public bool TryAfterId(Validation errors, out Guid? after)
    {
        after = null;
        if (After is null)
        {
            return true;
        }

        if (!Guid.TryParse(After, out var id))
        {
            errors.Add("after", "'after' is not a cursor this service issued.");
            return false;
        }

        after = id;
        return true;
    }

    /// <summary>Trims the one extra row fetched to learn whether there is a next page, and links to it.</summary>
    public List<T> Finish<T>(HttpContext context, List<T> rowsPlusOne, Func<T, string> cursorOf)
    {
        if (rowsPlusOne.Count <= Limit)
        {
            return rowsPlusOne;
        }

        rowsPlusOne.RemoveAt(Limit);
        var query = QueryString.Create(context.Request.Query
            .Where(q => q.Key is not ("after" or "limit"))
            .SelectMany(q => q.Value.Select(v => new KeyValuePair<string, string?>(q.Key, v)))
            .Append(new("limit", Limit.ToString(System.Globalization.CultureInfo.InvariantCulture)))
            .Append(new("after", Encode(cursorOf(rowsPlusOne[^1])))));
        var next = UriHelper.BuildRelative(context.Request.PathBase, context.Request.Path, query);
        context.Response.Headers.Append("Link", $"<{next}>; rel=\"next\"");
        return rowsPlusOne;
    }

    private static string Encode(string cursor) => Base64Url.EncodeToString(Encoding.UTF8.GetBytes(cursor));

    private static string? Decode(string cursor)
    {
        try
        {
            var decoded = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(cursor));
            return TextRules.FirstRefused(decoded) is null ? decoded : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
