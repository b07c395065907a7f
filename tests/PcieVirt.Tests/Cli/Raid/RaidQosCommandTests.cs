using System.Text.RegularExpressions;
using PcieVirt.Devices.Nvme.Qos;
using PcieVirt.Tests.Devices.RaidController;
using PcieVirt.Tests.Support;

namespace PcieVirt.Tests.Cli.Raid;

/// <summary>
/// Per-VF QoS from the shell: <c>raid BDF vf N qos …</c> through the PF's Set Controller QoS admin command,
/// its read-back and listings, its errors, and the noisy-neighbour scenario (script and <c>--json</c>).
/// </summary>
[TestFixture]
public class RaidQosCommandTests
{
    static string SmallModel()
    {
        string path = Path.Combine(Path.GetTempPath(), $"raidqos-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, DefaultModelJson.WithRaidSettings("{ \"drives\": 8, \"driveSize\": \"16M\", \"cacheSize\": \"256M\" }"));
        return path;
    }

    static CliResult Shell(params string[] lines)
    {
        string model = SmallModel();
        try { return Pcievirt.Shell(["--model", model], lines); }
        finally { File.Delete(model); }
    }

    [Test]
    public void Set_ThenReadBack_ShowAndList()
    {
        var r = Shell(
            "sriov 01:00.0 numvfs=2",
            "raid 01:00.0 vf 1 qos",
            "raid 01:00.0 vf 1 qos iops=20000,bw=100M,weight=4",
            "raid 01:00.0 vf 1 qos weight=2",
            "raid 01:00.0 vf 1 qos",
            "raid 01:00.0 vf 2 qos bw=off",
            "raid 01:00.0 qos",
            "raid 01:00.0 show");
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Assert.That(r.Err, Is.Empty);
        var lines = r.Out.Split('\n');
        Assert.That(lines, Has.Some.EqualTo("vf1 (controller 2): iops=unlimited bw=unlimited weight=1 (QoS is off)"), "read-back before any setting");
        Assert.That(lines, Has.Some.StartsWith("QoS arbiter on"), "the first setting switches the arbiter on");
        Assert.That(lines, Has.Some.EqualTo("vf1 (controller 2): iops=20000 bw=100M weight=4"));
        Assert.That(lines.Count(l => l == "vf1 (controller 2): iops=20000 bw=100M weight=2"), Is.EqualTo(2), "weight alone changed; read back the same");
        Assert.That(lines, Has.Some.EqualTo("QoS on, 8 channels"));
        Assert.That(lines, Has.Some.EqualTo("  vf1 (controller 2): iops=20000 bw=100M weight=2"));
        Assert.That(lines, Has.Some.EqualTo("  vf2 (controller 3): iops=unlimited bw=unlimited weight=1"));
        Assert.That(lines, Has.Some.Match(@"^vf1\s+2\s+offline\s+0\s+0\s+-\s+iops=20000 bw=100M weight=2$"), "raid show lists the VF with its QoS");
        Assert.That(lines, Has.Some.Contains("QoS on (8 channels)"));
    }

    [Test]
    public void Set_GoesThroughThePfsSetControllerQosCommand_AndTheArbiterEnforcesIt()
    {
        using var s = new LiveShell();
        {
            Assert.That(s.Run("sriov 01:00.0 numvfs=1").Code, Is.Zero);
            var pfCommands = s.Device.Primary.CommandsCompleted;
            var r = s.Run("raid 01:00.0 vf 1 qos iops=3000,bw=64K,weight=7");
            Assert.That(r.Code, Is.Zero, r.Err);
            Assert.That(s.Device.Primary.CommandsCompleted, Is.GreaterThan(pfCommands), "an admin command on the PF carried it");
            Assert.That(s.Device.Arbiter!.LimitsOf(2), Is.EqualTo(new QosLimits(3000, 64 * 1024, 7)));
            Assert.That(s.Device.Arbiter.Controllers, Has.Member(s.Device.Primary));
            var off = s.Run("raid 01:00.0 qos off");
            Assert.That(off.Code, Is.Zero, off.Err);
            Assert.That(s.Device.QosEnabled, Is.False);
            Assert.That(s.Run("raid 01:00.0 vf 1 qos").Out, Does.Contain("iops=3000 bw=64K weight=7 (QoS is off)"), "kept while off");
        }
    }

    [TestCase("raid 01:00.0 vf 1 qos iops=many", 2, "qos: iops=many is not a count")]
    [TestCase("raid 01:00.0 vf 1 qos iops=5000000000", 2, "qos: iops=5000000000 is not a count")]
    [TestCase("raid 01:00.0 vf 1 qos weight=0", 2, "qos: weight=0 is not 1..255")]
    [TestCase("raid 01:00.0 vf 1 qos weight=256", 2, "qos: weight=256 is not 1..255")]
    [TestCase("raid 01:00.0 vf 1 qos bw=1000", 2, "qos: bw=1000 is not a whole number of KiB/s")]
    [TestCase("raid 01:00.0 vf 1 qos bw=fast", 2, "qos: bw=fast:")]
    [TestCase("raid 01:00.0 vf 1 qos burst=1", 2, "qos: unexpected 'burst=1'")]
    [TestCase("raid 01:00.0 vf 1 qos iops=1,iops=2", 2, "qos: iops= given twice")]
    [TestCase("raid 01:00.0 vf 2 qos iops=100", 1, "vf 2 is not enabled")]
    [TestCase("raid 01:00.0 vf 65 qos", 1, "vf 65: the PF has 64 VF controllers")]
    [TestCase("raid 01:00.0 qos maybe", 2, "usage: raid BDF qos [on|off]")]
    public void BadQosCommands_AreRefused_WithoutChangingAnything(string line, int code, string message)
    {
        using var s = new LiveShell();
        Assert.That(s.Run("sriov 01:00.0 numvfs=1").Code, Is.Zero);
        var r = s.Run(line);
        Assert.That(r.Code, Is.EqualTo(code), r.Err);
        Assert.That(r.Err, Does.Contain(message));
        Assert.That(s.Device.QosEnabled, Is.False, "nothing was switched on");
        Assert.That(s.Device.QosOf(1), Is.Null, "no limits were recorded");
    }

    static readonly Regex Row = new(@"^(without QoS|with QoS)\s+(\S+)\s+(noisy|quiet)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)$", RegexOptions.Multiline);

    [Test]
    public void NoisyNeighbourScript_PrintsBothVfsPercentiles_WithoutAndWithQos()
    {
        var r = Pcievirt.Run("shell", Pcievirt.Script("noisy-neighbour.pcv"));
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Assert.That(r.Err, Is.Empty);
        var rows = Row.Matches(r.Out).Select(m => (Run: m.Groups[1].Value, Function: m.Groups[2].Value, Role: m.Groups[3].Value,
            Iops: double.Parse(m.Groups[4].Value, System.Globalization.CultureInfo.InvariantCulture),
            P50: double.Parse(m.Groups[5].Value, System.Globalization.CultureInfo.InvariantCulture),
            P99: double.Parse(m.Groups[7].Value, System.Globalization.CultureInfo.InvariantCulture),
            Errors: int.Parse(m.Groups[9].Value, System.Globalization.CultureInfo.InvariantCulture))).ToList();
        Assert.That(rows.Select(x => (x.Run, x.Function, x.Role)), Is.EqualTo(new[]
        {
            ("without QoS", "01:00.1", "noisy"), ("without QoS", "01:00.2", "quiet"),
            ("with QoS", "01:00.1", "noisy"), ("with QoS", "01:00.2", "quiet"),
        }));
        Assert.That(rows.All(x => x.Errors == 0));
        Assert.That(rows[2].Iops, Is.LessThanOrEqualTo(5000 * 1.01), "the script caps VF 1 at 5000 IOPS");
        Assert.That(rows[0].Iops, Is.GreaterThan(5000 * 2), "without QoS VF 1 takes what the media gives");
        Assert.That(rows[3].P99, Is.LessThan(rows[1].P99 / 2), "with QoS the quiet VF's tail latency is held down");
    }

    [Test]
    public void NoisyNeighbour_Json_HasBothRunsAndBothFunctions()
    {
        var r = Shell(
            "sriov 01:00.0 numvfs=2",
            "raid 01:00.0 vf 1 assign vq=4 vi=4", "raid 01:00.0 vf 1 online",
            "raid 01:00.0 vf 2 assign vq=2 vi=2", "raid 01:00.0 vf 2 online",
            "raid 01:00.0 volume create a level=5 drives=0,1,2,3", "raid 01:00.0 attach a vf=1",
            "raid 01:00.0 volume create b level=10 drives=4,5,6,7", "raid 01:00.0 attach b vf=2",
            "io --function 01:00.1 --noisy-neighbour 01:00.2 --ops 500 --quiet-ops 50 --json");
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        using var doc = System.Text.Json.JsonDocument.Parse(r.Out[r.Out.IndexOf("{\n", StringComparison.Ordinal)..]);
        var root = doc.RootElement;
        Assert.That(root.GetProperty("noisy").GetString(), Does.EndWith("01:00.1"));
        Assert.That(root.GetProperty("quiet").GetString(), Does.EndWith("01:00.2"));
        Assert.That(root.GetProperty("qos").GetProperty("noisy").GetProperty("weight").GetInt32(), Is.EqualTo(1));
        foreach (string run in new[] { "without_qos", "with_qos" })
        {
            Assert.That(root.GetProperty(run).GetProperty("noisy").GetProperty("ops").GetInt64(), Is.EqualTo(500), run);
            Assert.That(root.GetProperty(run).GetProperty("quiet").GetProperty("ops").GetInt64(), Is.EqualTo(50), run);
            Assert.That(root.GetProperty(run).GetProperty("quiet").GetProperty("lat_ns").GetProperty("p99").GetUInt64(), Is.Positive, run);
        }
    }

    [TestCase("--noisy-neighbour 01:00.1", "names the same function")]
    [TestCase("--noisy-neighbour zz", "--noisy-neighbour 'zz' is not a PCI address")]
    [TestCase("--quiet-ops 5", "--quiet-ops needs --noisy-neighbour")]
    public void NoisyNeighbour_BadArguments(string extra, string message)
    {
        var r = Pcievirt.Run(["io", "--function", "01:00.1", .. extra.Split(' ')]);
        Assert.That(r.ExitCode, Is.EqualTo(2), r.ToString());
        Assert.That(r.Err, Does.Contain(message));
    }

    /// <summary>A session kept open between lines, to look at the device between commands.</summary>
    internal sealed class LiveShell : IDisposable
    {
        readonly StringWriter _out = new() { NewLine = "\n" }, _err = new() { NewLine = "\n" };
        readonly string _model = SmallModel();

        public LiveShell()
        {
            Session = PcieVirt.Cli.Session.Open(_model, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance, _out, _err)!;
            Assert.That(Session, Is.Not.Null, _err.ToString());
        }

        public PcieVirt.Cli.Session Session { get; }
        public PcieVirt.Devices.RaidController.RaidControllerDevice Device => Session.System.Hosts[0].RaidControllers().Single().Device;

        public (int Code, string Out, string Err) Run(string line)
        {
            _out.GetStringBuilder().Clear();
            _err.GetStringBuilder().Clear();
            var (words, error) = PcieVirt.Cli.Shell.ShellLexer.Split(line);
            Assert.That(error, Is.Null);
            int rc = Session.Execute(words);
            return (rc, _out.ToString(), _err.ToString());
        }

        public void Dispose()
        {
            Session.Dispose();
            File.Delete(_model);
        }
    }
}
