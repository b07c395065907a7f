using System.Text.Json;
using PcieVirt.Tests.Cli;

namespace PcieVirt.Tests.Fuzz;

public class FuzzCommandTests
{
    [Test]
    public void Text_summary_names_iterations_steps_violations_and_wall_time()
    {
        var r = Pcievirt.Run("fuzz", "--iterations", "400", "--seed", "3");
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Assert.That(r.Out, Does.Contain("400 iterations").And.Contain("invariant violations: 0").And.Contain("wall time:")
            .And.Contain("MalformedSqe").And.Contain("ValidIo"));
        Assert.That(r.Out, Does.Not.Contain("replay:"));
    }

    [Test]
    public void Json_summary_has_the_documented_keys()
    {
        var r = Pcievirt.Run("fuzz", "--iterations", "300", "--seed", "4", "--vfs", "2", "--timed", "--json");
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        using var doc = JsonDocument.Parse(r.Out);
        var root = doc.RootElement;
        Assert.That(root.GetProperty("iterations").GetInt64(), Is.EqualTo(300));
        Assert.That(root.GetProperty("seed").GetUInt64(), Is.EqualTo(4));
        Assert.That(root.GetProperty("vfs").GetInt32(), Is.EqualTo(2));
        Assert.That(root.GetProperty("timed").GetBoolean(), Is.True);
        Assert.That(root.GetProperty("violations").GetInt64(), Is.Zero);
        Assert.That(root.GetProperty("steps_by_kind").EnumerateObject().Sum(p => p.Value.GetInt64()), Is.EqualTo(300));
        Assert.That(root.GetProperty("wall_seconds").ValueKind, Is.EqualTo(JsonValueKind.Number));
    }

    [TestCase(new[] { "fuzz", "--seed", "1" }, "--iterations N is required")]
    [TestCase(new[] { "fuzz", "--iterations", "10" }, "--seed S is required")]
    [TestCase(new[] { "fuzz", "--iterations", "0", "--seed", "1" }, "--iterations '0' is not a positive integer")]
    [TestCase(new[] { "fuzz", "--iterations", "ten", "--seed", "1" }, "--iterations 'ten' is not a positive integer")]
    [TestCase(new[] { "fuzz", "--iterations", "10", "--seed", "-1" }, "--seed '-1' is not a non-negative integer")]
    [TestCase(new[] { "fuzz", "--iterations", "10", "--seed", "1", "--vfs", "0" }, "--vfs '0' is not 1..32")]
    [TestCase(new[] { "fuzz", "--iterations", "10", "--seed", "1", "--frobnicate" }, "unknown argument '--frobnicate'")]
    [TestCase(new[] { "fuzz", "--iterations" }, "--iterations needs a value")]
    public void Bad_arguments_exit_2_with_a_message_and_the_usage(string[] args, string message)
    {
        var r = Pcievirt.Run(args);
        Assert.That(r.ExitCode, Is.EqualTo(2), r.ToString());
        Assert.That(r.Err, Does.Contain($"pcievirt fuzz: {message}").And.Contain("usage: pcievirt fuzz"));
        Assert.That(r.Out, Is.Empty);
    }

    [Test]
    public void A_model_without_a_raid_controller_is_refused_with_a_message()
    {
        var r = Pcievirt.Run("--model", Pcievirt.Fabric4x8, "fuzz", "--iterations", "10", "--seed", "1");
        Assert.That(r.ExitCode, Is.EqualTo(1), r.ToString());
        Assert.That(r.Err, Does.Contain("pcievirt fuzz:").And.Contain("RAID controller"));
    }
}
