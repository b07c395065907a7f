using System.Text.Json;

namespace PcieVirt.Tests.Cli.Io;

/// <summary><c>--trace-out</c> on <c>io</c> and <c>shell</c>: Chrome trace-event JSON of the TLPs and NVMe commands.</summary>
public class IoTraceOutTests
{
    sealed record Event(string Name, string Ph, string? Cat, double Ts, double Dur, int Pid, int Tid, string Track, string? Detail);

    static List<Event> Load(string file, out List<string> processes)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(file));
        var raw = doc.RootElement.GetProperty("traceEvents").EnumerateArray().ToList();
        var tracks = raw.Where(e => e.GetProperty("ph").GetString() == "M" && e.GetProperty("name").GetString() == "thread_name")
            .ToDictionary(e => (e.GetProperty("pid").GetInt32(), e.GetProperty("tid").GetInt32()), e => e.GetProperty("args").GetProperty("name").GetString()!);
        processes = raw.Where(e => e.GetProperty("ph").GetString() == "M" && e.GetProperty("name").GetString() == "process_name")
            .Select(e => e.GetProperty("args").GetProperty("name").GetString()!).ToList();
        var events = new List<Event>();
        foreach (var e in raw.Where(e => e.GetProperty("ph").GetString() != "M"))
        {
            string ph = e.GetProperty("ph").GetString()!;
            int pid = e.GetProperty("pid").GetInt32(), tid = e.GetProperty("tid").GetInt32();
            if (ph == "i") Assert.That(e.GetProperty("s").GetString(), Is.EqualTo("t"), "instant events are thread-scoped");
            events.Add(new Event(e.GetProperty("name").GetString()!, ph, e.TryGetProperty("cat", out var c) ? c.GetString() : null,
                e.GetProperty("ts").GetDouble(), ph == "X" ? e.GetProperty("dur").GetDouble() : 0, pid, tid, tracks[(pid, tid)],
                e.GetProperty("args").TryGetProperty("detail", out var d) ? d.GetString() : null));
        }
        return events;
    }

    /// <summary>Trace viewers need the complete events of one thread to nest: none may end inside another it started after.</summary>
    static void AssertSlicesNest(IEnumerable<Event> events)
    {
        foreach (var track in events.Where(e => e.Ph == "X").GroupBy(e => (e.Pid, e.Tid)))
        {
            var open = new Stack<double>();
            foreach (var e in track.OrderBy(e => e.Ts).ThenByDescending(e => e.Dur))
            {
                while (open.Count > 0 && open.Peek() <= e.Ts + 1e-9) open.Pop();
                if (open.Count > 0) Assert.That(e.Ts + e.Dur, Is.LessThanOrEqualTo(open.Peek() + 1e-9), $"{e.Name} on {e.Track} at {e.Ts} overlaps its neighbour");
                open.Push(e.Ts + e.Dur);
            }
        }
    }

    static string TempFile() => Path.Combine(Path.GetTempPath(), $"pcievirt-trace-{Guid.NewGuid():N}.json");

    [Test]
    public void Io_trace_has_one_complete_event_per_command_and_the_tlps_each_caused()
    {
        string file = TempFile();
        try
        {
            const int Ops = 40;
            var r = Pcievirt.Run("io", "--function", "01:00.0", "--ops", Ops.ToString(), "--json", "--trace-out", file);
            Assert.That(r.ExitCode, Is.Zero, r.ToString());
            Assert.That(r.Err, Is.Empty, "TLPs go to the file, not to stderr");
            var events = Load(file, out var processes);
            Assert.That(processes, Is.EqualTo(new[] { "pcievirt io 01:00.0" }));

            var reads = events.Where(e => e.Ph == "X" && e.Cat == "nvme" && e.Name == "read").ToList();
            Assert.That(reads, Has.Count.EqualTo(Ops));
            Assert.That(reads.Select(e => e.Track).Distinct(), Is.EqualTo(new[] { "01:00.0 sq1" }), "QD1: one lane");
            Assert.That(reads.Select(e => e.Detail), Is.Unique, "each has its own command identifier");
            Assert.That(reads.All(e => e.Detail!.Contains("status=success") && e.Detail.Contains("bytes=4096")));
            // The controller's part (fetch to completion) of each command fits in what the host measured.
            using var result = JsonDocument.Parse(r.Out);
            double maxUs = result.RootElement.GetProperty("lat_ns").GetProperty("max").GetDouble() / 1000;
            Assert.That(reads.Select(e => e.Dur), Is.All.GreaterThan(0).And.All.LessThanOrEqualTo(maxUs + 1e-6));
            // The driver's set-up went through the admin queue.
            Assert.That(events.Where(e => e.Ph == "X" && e.Track == "01:00.0 sq0").Select(e => e.Name),
                Does.Contain("identify").And.Contain("create io cq").And.Contain("create io sq"));

            // TLPs: doorbell writes from the host, DMA reads of the SQEs, one MSI per completion.
            var tlps = events.Where(e => e.Ph == "i" && e.Cat == "tlp").ToList();
            Assert.That(tlps.Count(e => e.Track == "01:00.0 mmio" && e.Name == "MWr"), Is.GreaterThanOrEqualTo(2 * Ops), "SQ tail and CQ head doorbells");
            Assert.That(tlps.Count(e => e.Track == "01:00.0 dma" && e.Name == "MRd"), Is.GreaterThanOrEqualTo(Ops), "the controller fetches each SQE");
            Assert.That(tlps.Count(e => e.Track == "01:00.0 msi" && e.Name == "MSI"), Is.GreaterThanOrEqualTo(Ops));
            Assert.That(tlps.Where(e => e.Track == "01:00.0 msi").All(e => e.Detail!.Contains("address=0xfee")), "MSI writes land in the x86 MSI window");
            AssertSlicesNest(events);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Test]
    public void Io_trace_at_depth_puts_overlapping_commands_on_lanes_that_nest()
    {
        string file = TempFile();
        try
        {
            var r = Pcievirt.Run("io", "--function", "01:00.0", "--ops", "64", "--iodepth", "8", "--trace-out", file);
            Assert.That(r.ExitCode, Is.Zero, r.ToString());
            var events = Load(file, out _);
            var reads = events.Where(e => e.Ph == "X" && e.Name == "read").ToList();
            Assert.That(reads, Has.Count.EqualTo(64));
            Assert.That(reads.Select(e => e.Track).Distinct().Count(), Is.InRange(2, 8), "commands overlap at depth 8, never more than 8 at once");
            AssertSlicesNest(events);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Test]
    public void Shell_trace_has_config_tlps_per_function_and_a_span_per_command()
    {
        string file = TempFile();
        try
        {
            var r = Pcievirt.RunWithInput("setpci -s 01:00.0 COMMAND=0006\nio --function 01:00.0 --ops 5\nsetpci -s 01:00.0 COMMAND\n",
                "shell", "--trace-out", file);
            Assert.That(r.ExitCode, Is.Zero, r.ToString());
            var events = Load(file, out var processes);
            Assert.That(processes, Is.EqualTo(new[] { "pcievirt shell" }));
            var commands = events.Where(e => e.Track == "commands").ToList();
            Assert.That(commands.Select(e => e.Name), Is.EqualTo(new[] { "setpci", "io", "setpci" }));
            Assert.That(commands.All(e => e.Ph == "X"));
            // setpci's write of the Command register (offset 04h) is a type 1 config write routed to bus 1 (§7.2.2.2).
            var config = events.Where(e => e.Track == "01:00.0 config").ToList();
            Assert.That(config.Any(e => e.Name == "CfgWr1" && e.Detail!.Contains("register=0x004")), Is.True, string.Join("\n", config.Select(e => e.Detail)));
            Assert.That(config.All(e => e.Ph == "i"));
            Assert.That(events.Count(e => e.Ph == "X" && e.Name == "read"), Is.EqualTo(5));
            // Boot enumeration is not part of the trace: it starts with the script's first command.
            Assert.That(events.Min(e => e.Ts), Is.EqualTo(commands[0].Ts));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [TestCase("1")]
    [TestCase("8")]
    public void Bench_trace_slices_nest_on_every_track_and_lanes_appear_only_at_depth(string depth)
    {
        string file = TempFile();
        try
        {
            var r = Pcievirt.Run("bench", "paths", "--ops", "64", "--iodepth", depth, "--paths", "vf,emulated", "--trace-out", file);
            Assert.That(r.ExitCode, Is.Zero, r.ToString());
            var events = Load(file, out var processes);
            Assert.That(processes, Is.EqualTo(new[] { "vf", "emulated" }));
            AssertSlicesNest(events);
            var lanes = events.Select(e => e.Track).Where(t => t.Contains(" +")).Distinct().ToList();
            if (depth == "1") Assert.That(lanes, Is.Empty, "one I/O at a time: nothing overlaps");
            else Assert.That(lanes, Does.Contain("device +1"), "eight I/Os in flight overlap on the device");
            // The CPU tracks run one thing at a time whatever the depth.
            Assert.That(lanes.Where(t => t.StartsWith("vcpu", StringComparison.Ordinal) || t.StartsWith("vmm", StringComparison.Ordinal)), Is.Empty);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [TestCase("io", "--function", "01:00.0", "--trace-out")]
    [TestCase("io", "--trace-out", "--function", "01:00.0")]
    [TestCase("shell", "--trace-out")]
    public void Trace_out_without_a_file_is_refused(params string[] args)
    {
        var r = Pcievirt.Run(args);
        Assert.That(r.ExitCode, Is.EqualTo(2));
        Assert.That(r.Err, Does.Contain("--trace-out needs a file name"));
    }

    [Test]
    public void Trace_out_given_twice_is_refused()
    {
        var r = Pcievirt.Run("io", "--function", "01:00.0", "--trace-out", "a.json", "--trace-out", "b.json");
        Assert.That(r.ExitCode, Is.EqualTo(2));
        Assert.That(r.Err, Does.Contain("--trace-out given twice"));
    }

    [Test]
    public void An_unwritable_trace_file_is_an_error_after_the_run()
    {
        string file = Path.Combine(Path.GetTempPath(), $"no-such-dir-{Guid.NewGuid():N}", "t.json");
        var r = Pcievirt.Run("io", "--function", "01:00.0", "--ops", "3", "--trace-out", file);
        Assert.That(r.ExitCode, Is.EqualTo(1));
        Assert.That(r.Out, Does.Contain("ops=3"), "the run's own result is still printed");
        Assert.That(r.Err, Does.Contain("cannot write the trace").And.Contain("t.json"));
    }
}
