using Microsoft.Extensions.Logging.Abstractions;
using PcieVirt.Cli;
using PcieVirt.Cli.Shell;
using PcieVirt.Devices.Raid;
using PcieVirt.Platform.Model;
using PcieVirt.Tests.Support;

namespace PcieVirt.Tests.Cli.Raid;

/// <summary>The shell's <c>raid</c> commands on the default model's RAID controller (drives shrunk to 16 MiB).</summary>
[TestFixture]
public class RaidCommandTests
{
    sealed class Shell : IDisposable
    {
        readonly StringWriter _out = new() { NewLine = "\n" }, _err = new() { NewLine = "\n" };
        readonly string _model;

        public Shell()
        {
            string json = DefaultModelJson.WithRaidSettings("{ \"drives\": 8, \"driveSize\": \"16M\", \"cacheSize\": \"256M\" }");
            _model = Path.Combine(Path.GetTempPath(), $"raidcli-{Guid.NewGuid():N}.json");
            File.WriteAllText(_model, json);
            Session = PcieVirt.Cli.Session.Open(_model, NullLoggerFactory.Instance, _out, _err)!;
            Assert.That(Session, Is.Not.Null, _err.ToString());
            Bdf = Session.System.Hosts[0].RaidControllers().Single().Bdf.ToString();
        }

        public PcieVirt.Cli.Session Session { get; }
        public string Bdf { get; }
        public PcieVirt.Devices.RaidController.RaidControllerDevice Device =>
            Session.System.Hosts[0].RaidControllers().Single().Device;

        /// <summary>Runs one line; returns exit code, stdout and stderr of that line.</summary>
        public (int Code, string Out, string Err) Run(string line)
        {
            _out.GetStringBuilder().Clear();
            _err.GetStringBuilder().Clear();
            var (words, error) = ShellLexer.Split(line.Replace("BDF", Bdf));
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

    [Test]
    public void List_Drives_ShowsTheModelsDrives()
    {
        using var s = new Shell();
        var r = s.Run("raid BDF drives");
        Assert.That(r.Code, Is.Zero, r.Err);
        var lines = r.Out.TrimEnd().Split('\n');
        Assert.That(lines, Has.Length.EqualTo(9), "header + 8 drives from settings.drives");
        Assert.That(lines[1], Does.StartWith("d0").And.Contain("nand").And.Contain("available"));
        var list = s.Run("raid");
        Assert.That(list.Out, Does.Contain($"{s.Bdf} raid0: 8 drives, 0 volumes, 64 VF controllers"));
    }

    [Test]
    public void VolumeCreate_Attach_Snapshot_Volumes()
    {
        using var s = new Shell();
        var c = s.Run("raid BDF volume create vol0 level=5 drives=0,1,2,3 stripe=64K");
        Assert.That(c.Code, Is.Zero, c.Err);
        Assert.That(c.Out, Does.Contain("volume vol0: 48 MiB, nsid 1"), "RAID 5 of 4 × 16 MiB keeps 3 drives of data");
        Assert.That(s.Run("raid BDF attach vol0 vf=1").Code, Is.Zero);
        Assert.That(s.Run("raid BDF volume create pv level=1 drives=4,5").Code, Is.Zero);
        Assert.That(s.Run("raid BDF pool create p0 pv").Code, Is.Zero);
        var snap = s.Run("raid BDF snapshot vol0 snap0");
        Assert.That(snap.Code, Is.Zero, snap.Err);
        var v = s.Run("raid BDF volumes");
        Assert.That(v.Out, Does.Match(@"vol0\s+raid5\s+optimal\s+48 MiB\s+1\s+vf1"));
        Assert.That(v.Out, Does.Match(@"snap0\s+snapshot"));
        Assert.That(s.Device.Subsystem.FindNamespace(1)!.IsAttachedTo(2), Is.True, "VF1 = CNTLID 2");
    }

    [Test]
    public void Fail_SpareAdd_Rebuild_ReturnsTheVolumeToOptimal()
    {
        using var s = new Shell();
        Assert.That(s.Run("raid BDF volume create v level=5 drives=0,1,2").Code, Is.Zero);
        Assert.That(s.Run("raid BDF fail d1").Code, Is.Zero);
        Assert.That(s.Device.Engine.FindVolume("v")!.State, Is.EqualTo(VolumeState.Degraded));
        Assert.That(s.Run("raid BDF spare add d3").Code, Is.Zero);
        var r = s.Run("raid BDF rebuild all");
        Assert.That(r.Code, Is.Zero, r.Err);
        Assert.That(r.Out, Does.Contain("0 rows remaining"));
        Assert.That(s.Device.Engine.FindVolume("v")!.State, Is.EqualTo(VolumeState.Optimal));
    }

    [Test]
    public void Replace_RebuildsOntoTheNamedDrive()
    {
        using var s = new Shell();
        Assert.That(s.Run("raid BDF volume create m level=1 drives=0,1").Code, Is.Zero);
        var none = s.Run("raid BDF replace d7");
        Assert.That(none.Code, Is.EqualTo(1));
        Assert.That(none.Err, Does.Contain("no volume is missing a member"));
        Assert.That(s.Run("raid BDF fail d0").Code, Is.Zero);
        var r = s.Run("raid BDF replace d7");
        Assert.That(r.Code, Is.Zero, r.Err);
        Assert.That(r.Out, Does.Contain("m: rebuilding onto d7"));
        Assert.That(s.Run("raid BDF rebuild all").Code, Is.Zero);
        Assert.That(s.Run("raid BDF drives").Out, Does.Match(@"d7\s+nand\s+16 MiB\s+512\s+member\s+m"));
    }

    [Test]
    public void VfOnlineOffline_GoesThroughVirtualizationManagement()
    {
        using var s = new Shell();
        var refused = s.Run("raid BDF vf 1 online");
        Assert.That(refused.Code, Is.EqualTo(1));
        Assert.That(refused.Err, Does.Contain("Invalid Secondary Controller State"), "no resources assigned yet");
        Assert.That(s.Run("raid BDF vf 1 assign vq=2 vi=1").Code, Is.Zero);
        Assert.That(s.Run("raid BDF vf 1 online").Code, Is.Zero);
        var sc = s.Device.Subsystem.FindSecondary(2)!;
        Assert.That((sc.IsOnline, sc.QueueResources, sc.InterruptResources), Is.EqualTo((true, (ushort)2, (ushort)1)));
        Assert.That(s.Run("raid BDF vf 1 offline").Code, Is.Zero);
        Assert.That(sc.IsOnline, Is.False);
    }

    [TestCase("raid BDF volume create v level=7 drives=0,1", 2, "level '7'")]
    [TestCase("raid BDF volume create v level=5 drives=0,1", 1, "")]
    [TestCase("raid BDF volume create v level=5", 2, "drives=")]
    [TestCase("raid BDF volume create v level=5 drives=0,1,2 bogus=1", 2, "unexpected 'bogus=1'")]
    [TestCase("raid BDF volume create v level=5 drives=0,1,2 size=1G", 2, "only for level=thin")]
    [TestCase("raid BDF attach nosuch vf=1", 1, "no volume 'nosuch'")]
    [TestCase("raid BDF attach x vf=zero", 2, "expected vf=N")]
    [TestCase("raid BDF fail d99", 1, "d99")]
    [TestCase("raid BDF rebuild -3", 2, "not a positive number")]
    [TestCase("raid BDF vf 999 online", 1, "64 VF controllers")]
    [TestCase("raid BDF frobnicate", 2, "unknown subcommand")]
    [TestCase("raid 00:1f.7 drives", 1, "not a RAID controller")]
    [TestCase("raid zz drives", 2, "not a function address")]
    [TestCase("raid BDF snapshot v s", 1, "")]
    public void BadRequests_PrintAnError_AndExitNonZero(string line, int code, string message)
    {
        using var s = new Shell();
        var r = s.Run(line);
        Assert.That(r.Code, Is.EqualTo(code), r.Out + r.Err);
        Assert.That(r.Err, Is.Not.Empty);
        Assert.That(r.Err, Does.Contain(message));
    }

    [Test]
    public void AttachTwice_IsRefused_WithAClearMessage()
    {
        using var s = new Shell();
        s.Run("raid BDF volume create v level=0 drives=0,1");
        Assert.That(s.Run("raid BDF attach v pf").Code, Is.Zero);
        var r = s.Run("raid BDF attach v pf");
        Assert.That(r.Code, Is.EqualTo(1));
        Assert.That(r.Err, Does.Contain("already attached to the PF"));
    }

    [Test]
    public void PfResetBehindTheSessionsBack_IsReported_ThenRecovered()
    {
        using var s = new Shell();
        Assert.That(s.Run("raid BDF vf 1 assign vq=2 vi=1").Code, Is.Zero);
        // Clear Memory Space and Bus Master on the PF: the session's PF driver can no longer reach it.
        Assert.That(s.Run("setpci -s BDF COMMAND=0").Code, Is.Zero);
        var r = s.Run("raid BDF vf 1 online");
        Assert.That(r.Code, Is.EqualTo(1), r.Out + r.Err);
        Assert.That(r.Err, Does.Contain("did not answer"));
        var again = s.Run("raid BDF vf 1 assign vq=2 vi=1");
        Assert.That(again.Code, Is.Zero, again.Err);
    }
}
