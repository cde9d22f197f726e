using Orchestrator.Tasks;

namespace Orchestrator.Tests.Tasks;

public sealed class CredentialRedactorTests
{
    [Fact]
    public void Every_credential_value_is_masked_longest_first()
    {
        var redactor = CredentialRedactor.For(new Dictionary<string, string> { ["user"] = "deploy", ["password"] = "deploy-secret-9" });

        var text = redactor.Redact("login deploy:deploy-secret-9 then deploy-secret-9 again");

        Assert.Equal($"login {CredentialRedactor.Mask}:{CredentialRedactor.Mask} then {CredentialRedactor.Mask} again", text);
    }

    [Fact]
    public void Values_too_short_to_be_secrets_are_left_alone_and_no_credentials_change_nothing()
    {
        Assert.Equal("exit code 1", CredentialRedactor.For(new Dictionary<string, string> { ["retries"] = "1" }).Redact("exit code 1"));
        Assert.Equal("plain", CredentialRedactor.For(null).Redact("plain"));
        Assert.True(CredentialRedactor.For(new Dictionary<string, string>()).IsEmpty);
    }
}
