using Orchestrator.Agent.Identity;
using Orchestrator.Testing;

namespace Orchestrator.Agent.Tests.Unit;

[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class IdentityStoreTests
{
    private static StoredIdentity Identity(string keyFile = "agent-key-x.pem") => new(Guid.NewGuid(), "host-1", "https://orchestrator:8443/",
        "-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----", "jwt.token.value", keyFile, DateTime.UtcNow, DateTime.UtcNow.AddDays(1), 30, 5);

    [Fact]
    public void The_state_directory_is_owner_only_even_when_it_existed_with_wider_rights()
    {
        var path = TempDirectories.New();
        File.SetUnixFileMode(path, (UnixFileMode)0b111_101_101);

        new StateDirectory(path).Ensure();

        Assert.Equal(StateDirectory.OwnerOnlyDirectory, File.GetUnixFileMode(path));
    }

    [Fact]
    public void The_identity_and_the_key_are_written_owner_only_and_read_back_as_they_were()
    {
        var state = new StateDirectory(TempDirectories.New()).Ensure();
        var keys = new KeyStore(state);
        var store = new CredentialStore(state);
        using var key = KeyStore.NewKey();

        var keyFile = keys.Save(key);
        var identity = Identity(keyFile);
        store.Save(identity);

        Assert.Equal(identity, store.Load());
        Assert.Equal(StateDirectory.OwnerOnlyFile, File.GetUnixFileMode(store.IdentityPath));
        Assert.Equal(StateDirectory.OwnerOnlyFile, File.GetUnixFileMode(state.File(keyFile)));
        using var loaded = keys.Load(keyFile);
        Assert.Equal(key.ExportSubjectPublicKeyInfo(), loaded.ExportSubjectPublicKeyInfo());
    }

    [Fact]
    public void Replacing_the_identity_leaves_no_temporary_file_and_the_new_content_whole()
    {
        var state = new StateDirectory(TempDirectories.New()).Ensure();
        var store = new CredentialStore(state);
        store.Save(Identity());
        var second = Identity() with { Token = "renewed" };

        store.Save(second);

        Assert.Equal("renewed", store.Load()!.Token);
        Assert.Equal([CredentialStore.IdentityFile], Directory.GetFiles(state.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void No_identity_file_means_no_identity_but_a_damaged_one_is_an_error_that_says_what_to_do()
    {
        var state = new StateDirectory(TempDirectories.New()).Ensure();
        var store = new CredentialStore(state);
        Assert.Null(store.Load());

        File.WriteAllText(store.IdentityPath, "{ not json");

        var damaged = Assert.Throws<InvalidDataException>(store.Load);
        Assert.Contains("move it away", damaged.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void After_a_rotation_only_the_key_in_use_is_kept()
    {
        var state = new StateDirectory(TempDirectories.New()).Ensure();
        var keys = new KeyStore(state);
        using var old = KeyStore.NewKey();
        using var current = KeyStore.NewKey();
        var oldFile = keys.Save(old);
        var currentFile = keys.Save(current);

        keys.DeleteAllBut(currentFile);

        Assert.False(File.Exists(state.File(oldFile)));
        Assert.True(File.Exists(state.File(currentFile)));
    }

    [Fact]
    public void A_key_name_outside_the_store_is_refused()
    {
        var keys = new KeyStore(new StateDirectory(TempDirectories.New()).Ensure());

        Assert.Throws<InvalidDataException>(() => keys.Load("../../etc/shadow"));
    }
}

public sealed class RenewalDecisionTests
{
    private static readonly DateTime Received = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
    private static readonly DateTime Expires = Received.AddHours(24);

    [Theory]
    [InlineData(0, RenewalDecision.Action.None)]
    [InlineData(15.9, RenewalDecision.Action.None)]
    [InlineData(16, RenewalDecision.Action.Renew)]
    [InlineData(23.9, RenewalDecision.Action.Renew)]
    [InlineData(24, RenewalDecision.Action.Expired)]
    [InlineData(100, RenewalDecision.Action.Expired)]
    public void Renewal_is_due_after_two_thirds_of_the_life_and_expiry_is_final(double hours, RenewalDecision.Action expected) =>
        Assert.Equal(expected, RenewalDecision.Decide(Received.AddHours(hours), Received, Expires));

    [Fact]
    public void Short_lifetimes_follow_the_same_rule()
    {
        var expires = Received.AddSeconds(6);

        Assert.Equal(RenewalDecision.Action.None, RenewalDecision.Decide(Received.AddSeconds(3.9), Received, expires));
        Assert.Equal(RenewalDecision.Action.Renew, RenewalDecision.Decide(Received.AddSeconds(4), Received, expires));
    }
}
