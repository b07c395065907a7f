using System.Text.Json;
using PcieVirt.Tests.Platform;

namespace PcieVirt.Tests.Cli.Failover;

public class FailoverCommandTests
{
    static string Model => ModelFiles.DeviceModel("mriov-2host.json");

    [TestCase(new[] { "failover", "--seed", "1" }, "--ops N is required")]
    [TestCase(new[] { "failover", "--ops", "64" }, "--seed S is required")]
    [TestCase(new[] { "failover", "--ops", "x", "--seed", "1" }, "--ops 'x' is not 2..1000000")]
    [TestCase(new[] { "failover", "--ops", "1", "--seed", "1" }, "--ops '1' is not 2..1000000")]
    [TestCase(new[] { "failover", "--ops", "64", "--seed", "-3" }, "--seed '-3' is not a non-negative integer")]
    [TestCase(new[] { "failover", "--ops", "64", "--seed", "1", "--iodepth", "64" }, "--iodepth '64' is not 1..63")]
    [TestCase(new[] { "failover", "--ops", "64", "--seed", "1", "--bogus" }, "unknown argument '--bogus'")]
    [TestCase(new[] { "failover", "--ops", "64", "--seed", "1", "--trace-out" }, "--trace-out needs a value")]
    public void Bad_arguments_are_named_with_the_usage_and_exit_2(string[] args, string message)
    {
        var r = Pcievirt.Run(["--model", Model, .. args]);
        Assert.That(r.ExitCode, Is.EqualTo(2), r.ToString());
        Assert.That(r.Err, Does.Contain($"pcievirt failover: {message}"));
        Assert.That(r.Err, Does.Contain("usage: pcievirt failover"));
        Assert.That(r.Out, Is.Empty);
    }

    [Test]
    public void A_model_without_a_multi_root_part_is_refused_with_a_reason()
    {
        var r = Pcievirt.Run("--model", ModelFiles.DeviceModel("fabric-4x8.json"), "failover", "--ops", "16", "--seed", "1");
        Assert.That(r.ExitCode, Is.EqualTo(1), r.ToString());
        Assert.That(r.Err, Does.Contain("has no multi-root part"));
    }

    [Test]
    public void Text_output_names_the_figures_and_the_same_seed_prints_the_same()
    {
        var a = Pcievirt.Run("--model", Model, "failover", "--ops", "64", "--seed", "11");
        var b = Pcievirt.Run("--model", Model, "failover", "--ops", "64", "--seed", "11");
        Assert.That(a.ExitCode, Is.Zero, a.ToString());
        Assert.That(a.Out, Is.EqualTo(b.Out));
        Assert.That(a.Out, Does.Contain("lost acknowledged          0"));
        Assert.That(a.Out, Does.Contain("in flight at failure"));
        Assert.That(a.Out, Does.Contain("failover time"));
        Assert.That(a.Out, Does.Contain("BARs unchanged"));
    }

    [Test]
    public void Json_and_trace_out_are_valid()
    {
        string file = Path.Combine(Path.GetTempPath(), $"pcievirt-failover-{Environment.ProcessId}.json");
        try
        {
            var r = Pcievirt.Run("--model", Model, "failover", "--ops", "48", "--seed", "2", "--json", "--trace-out", file);
            Assert.That(r.ExitCode, Is.Zero, r.ToString());
            using var doc = JsonDocument.Parse(r.Out);
            Assert.That(doc.RootElement.GetProperty("lost_acknowledged").GetInt32(), Is.Zero);
            Assert.That(doc.RootElement.GetProperty("verified").GetInt32(), Is.EqualTo(48));
            Assert.That(doc.RootElement.GetProperty("failover_ns").GetUInt64(), Is.GreaterThan(doc.RootElement.GetProperty("rescan_ns").GetUInt64()));

            using var trace = JsonDocument.Parse(File.ReadAllText(file));
            var events = trace.RootElement.GetProperty("traceEvents").EnumerateArray().ToList();
            Assert.That(events.Where(e => e.GetProperty("ph").GetString() == "X").Select(e => e.GetProperty("name").GetString()),
                Is.SupersetOf(new[] { "detect", "move", "rescan", "bring-up" }));
            foreach (var e in events.Where(e => e.GetProperty("ph").GetString() is "X"))
                Assert.That(e.GetProperty("dur").GetDouble(), Is.GreaterThanOrEqualTo(0));
        }
        finally
        {
            File.Delete(file);
        }
    }
}
