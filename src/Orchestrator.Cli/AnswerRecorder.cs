namespace Orchestrator.Cli;

/// <summary>Keeps the bodies of the API's successful JSON answers, so <c>-o json</c> prints exactly what the API said
/// (fields this version of the client does not know included) while the command works with the typed client.</summary>
public sealed class AnswerRecorder : DelegatingHandler
{
    private readonly List<byte[]> _answers = [];

    /// <summary>The JSON bodies since the last <see cref="Clear"/>, oldest first.</summary>
    public IReadOnlyList<byte[]> Answers
    {
        get
        {
            lock (_answers)
            {
                return [.. _answers];
            }
        }
    }

    public void Clear()
    {
        lock (_answers)
        {
            _answers.Clear();
        }
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken);
        if (response.IsSuccessStatusCode && response.Content.Headers.ContentType?.MediaType == "application/json")
        {
            // Buffered here, the body can still be read by the client afterwards.
            var body = await response.Content.ReadAsByteArrayAsync(cancellationToken);
            lock (_answers)
            {
                _answers.Add(body);
            }
        }

        return response;
    }
}
