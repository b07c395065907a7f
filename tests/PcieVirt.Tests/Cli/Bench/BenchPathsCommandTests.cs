using System.Text.Json;

namespace PcieVirt.Tests.Cli.Bench;

public class BenchPathsCommandTests
{
    [Test]
    public void Json_has_the_four_paths_with_the_documented_keys()
    {
        var r = Pcievirt.Run("bench", "paths", "--ops", "100", "--media", "optane", "--json");
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        using var doc = JsonDocument.Parse(r.Out);
        foreach (var path in new[] { "baremetal", "vf", "paravirtual", "emulated" })
        {
            var p = doc.RootElement.GetProperty(path);
            foreach (var key in new[] { "p50_us", "p99_us", "iops", "exits_per_io", "host_cpu_us_per_io" })
                Assert.That(p.GetProperty(key).ValueKind, Is.EqualTo(JsonValueKind.Number), $"{path}.{key}");
            // The breakdown sums to the mean latency (rounded to the nanosecond per component).
            double sum = p.GetProperty("breakdown").EnumerateObject().Sum(c => c.Value.GetDouble());
            Assert.That(sum, Is.EqualTo(p.GetProperty("mean_us").GetDouble()).Within(0.02), path);
        }
        Assert.That(doc.RootElement.GetProperty("emulated").GetProperty("exits_per_io").GetDouble(),
            Is.GreaterThan(doc.RootElement.GetProperty("vf").GetProperty("exits_per_io").GetDouble()));
    }

    [Test]
    public void Text_table_puts_the_paths_side_by_side()
    {
        var r = Pcievirt.Run("bench", "paths", "--ops", "50", "--paths", "baremetal,emulated");
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        var header = r.Out.Split('\n')[1];
        Assert.That(header, Does.Contain("baremetal").And.Contain("emulated").And.Not.Contain("paravirtual"));
        Assert.That(r.Out, Does.Contain("p99 latency (us)").And.Contain("exits per I/O").And.Contain("host CPU per I/O (us)").And.Contain("instruction_decode"));
    }

    [Test]
    public void Trace_out_writes_valid_trace_event_json_with_a_process_per_path()
    {
        string file = Path.Combine(Path.GetTempPath(), $"pcievirt-trace-{Guid.NewGuid():N}.json");
        try
        {
            var r = Pcievirt.Run("bench", "paths", "--ops", "3", "--paths", "vf,emulated", "--trace-out", file);
            Assert.That(r.ExitCode, Is.Zero, r.ToString());
            using var doc = JsonDocument.Parse(File.ReadAllText(file));
            var events = doc.RootElement.GetProperty("traceEvents").EnumerateArray().ToList();
            var processes = events.Where(e => e.GetProperty("ph").GetString() == "M" && e.GetProperty("name").GetString() == "process_name")
                .Select(e => e.GetProperty("args").GetProperty("name").GetString()).ToList();
            Assert.That(processes, Is.EqualTo(new[] { "vf", "emulated" }));
            var complete = events.Where(e => e.GetProperty("ph").GetString() == "X").ToList();
            Assert.That(complete, Is.Not.Empty);
            foreach (var e in complete)
            {
                Assert.That(e.GetProperty("ts").GetDouble(), Is.GreaterThanOrEqualTo(0));
                Assert.That(e.GetProperty("dur").GetDouble(), Is.GreaterThanOrEqualTo(0));
            }
            // The emulated process decodes instructions; the VF process never does.
            int pidOf(string name) => events.First(e => e.GetProperty("ph").GetString() == "M" && e.GetProperty("name").GetString() == "process_name"
                && e.GetProperty("args").GetProperty("name").GetString() == name).GetProperty("pid").GetInt32();
            Assert.That(complete.Count(e => e.GetProperty("pid").GetInt32() == pidOf("emulated") && e.GetProperty("name").GetString() == "instruction_decode"), Is.EqualTo(6));
            Assert.That(complete.Count(e => e.GetProperty("pid").GetInt32() == pidOf("vf") && e.GetProperty("name").GetString() == "instruction_decode"), Is.Zero);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [TestCase("--iodepth", "0", "--iodepth '0'")]
    [TestCase("--paths", "vf,xen", "'xen' is not one of")]
    [TestCase("--media", "tape", "--media 'tape'")]
    [TestCase("--bogus", "1", "unknown argument '--bogus'")]
    public void Bad_arguments_are_refused_before_anything_runs(string flag, string value, string message)
    {
        var r = Pcievirt.Run("bench", "paths", flag, value);
        Assert.That(r.ExitCode, Is.EqualTo(2));
        Assert.That(r.Err, Does.Contain(message));
    }

    [Test]
    public void A_timing_override_in_the_model_reaches_the_paths_and_bad_names_are_reported_with_their_place()
    {
        string json = PcieVirt.Platform.Model.PlatformModel.ReadDefaultJson();
        int brace = json.IndexOf('{');
        string file = Path.Combine(Path.GetTempPath(), $"pcievirt-timing-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllText(file, json[..(brace + 1)] + "\n  \"timing\": { \"vmexit_roundtrip_ns\": 800 },\n" + json[(brace + 1)..]);
            var slow = Pcievirt.Run("--model", file, "bench", "paths", "--ops", "20", "--paths", "emulated", "--media", "optane", "--json");
            var normal = Pcievirt.Run("bench", "paths", "--ops", "20", "--paths", "emulated", "--media", "optane", "--json");
            Assert.That(slow.ExitCode, Is.Zero, slow.ToString());
            double Mean(CliResult c) => JsonDocument.Parse(c.Out).RootElement.GetProperty("emulated").GetProperty("mean_us").GetDouble();
            Assert.That(Mean(slow) - Mean(normal), Is.EqualTo(0.3).Within(0.002)); // two exits, 150 ns more each

            File.WriteAllText(file, json[..(brace + 1)] + "\n  \"timing\": { \"vmexit_rountrip_ns\": 800 },\n" + json[(brace + 1)..]);
            var bad = Pcievirt.Run("--model", file, "bench", "paths", "--ops", "20");
            Assert.That(bad.ExitCode, Is.Not.Zero);
            Assert.That(bad.Err, Does.Contain("vmexit_rountrip_ns").And.Contain("vmexit_roundtrip_ns"));
        }
        finally
        {
            File.Delete(file);
        }
    }
}
