using Orchestrator.Agent.Workers;

namespace Orchestrator.Agent.Tests.Unit;

public sealed class TaskLedgerTests
{
    [Fact]
    public void A_task_is_taken_once_however_often_it_is_delivered()
    {
        var ledger = new TaskLedger();
        var id = Guid.NewGuid();

        Assert.True(ledger.TryTake(id));
        Assert.False(ledger.TryTake(id));
        ledger.Finish(id);
        Assert.False(ledger.TryTake(id));
        Assert.Equal(0, ledger.ActiveCount);
    }

    [Fact]
    public void Finished_ids_are_forgotten_oldest_first_beyond_the_capacity()
    {
        var ledger = new TaskLedger(capacity: 2);
        var ids = Enumerable.Range(0, 3).Select(_ => Guid.NewGuid()).ToList();
        foreach (var id in ids)
        {
            ledger.TryTake(id);
            ledger.Finish(id);
        }

        Assert.True(ledger.TryTake(ids[0]));
        Assert.False(ledger.TryTake(ids[1]));
        Assert.False(ledger.TryTake(ids[2]));
    }
}

public sealed class TaskLogTests
{
    [Fact]
    public void Every_credential_value_is_masked_longest_first()
    {
        var log = new TaskLog(Guid.NewGuid(), ["token-abc", "token-abc-extended", "ab"]);

        log.Info("auth token-abc-extended then token-abc and ab");

        var line = Assert.Single(log.TakeUnsent(10).Lines);
        Assert.Equal("auth *** then *** and ab", line.Message);
    }

    [Fact]
    public void Waiting_lines_are_bounded_and_the_drop_is_reported_first()
    {
        var log = new TaskLog(Guid.NewGuid(), [], capacity: 3);
        for (var i = 0; i < 5; i++)
        {
            log.Info($"line {i}");
        }

        Assert.Contains("2 log lines were dropped", log.Peek()!.Line.Message, StringComparison.Ordinal);
        log.Sent();
        Assert.Equal("line 2", log.Peek()!.Line.Message);
        log.Sent();
        log.Acknowledged(1);
        var unsent = log.TakeUnsent(10);
        Assert.Equal(2, unsent.FirstSeq);
        Assert.Equal(["line 3", "line 4"], unsent.Lines.Select(l => l.Message));
    }

    [Fact]
    public void The_completion_gets_the_newest_unsent_lines_and_says_how_many_were_left_out()
    {
        var log = new TaskLog(Guid.NewGuid(), []);
        for (var i = 0; i < 10; i++)
        {
            log.Info($"line {i}");
        }

        var (firstSeq, lines) = log.TakeUnsent(4);

        Assert.Equal(4, lines.Count);
        Assert.Contains("7 earlier log lines were dropped", lines[0].Message, StringComparison.Ordinal);
        Assert.Equal(["line 7", "line 8", "line 9"], lines.Skip(1).Select(l => l.Message));
        // The note stands for lines 0 to 6 and takes the last one's number: the numbers still follow on.
        Assert.Equal(6, firstSeq);
    }

    [Fact]
    public void A_sent_line_is_kept_until_acknowledged_and_a_new_stream_sends_it_again()
    {
        var log = new TaskLog(Guid.NewGuid(), []);
        for (var i = 0; i < 3; i++)
        {
            log.Info($"line {i}");
            Assert.Equal(i, log.Peek()!.Seq);
            log.Sent();
        }

        log.Acknowledged(0);
        Assert.False(log.HasPending);
        log.Resend();

        Assert.Equal((1L, "line 1"), (log.Peek()!.Seq, log.Peek()!.Line.Message));
        log.Sent();
        log.Acknowledged(1);
        var (firstSeq, lines) = log.TakeUnsent(10);
        Assert.Equal(2, firstSeq);
        Assert.Equal(["line 2"], lines.Select(l => l.Message));
    }

    [Fact]
    public void Overlong_lines_are_cut_to_what_the_server_takes()
    {
        var log = new TaskLog(Guid.NewGuid(), []);

        log.Info(new string('x', 10_000));

        Assert.Equal(TaskLog.MaxLineLength + 1, log.Peek()!.Line.Message!.Length);
    }
}
