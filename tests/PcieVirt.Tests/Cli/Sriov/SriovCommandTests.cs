using PcieVirt.Cli;

namespace PcieVirt.Tests.Cli.Sriov;

/// <summary>The shell's <c>sriov</c> and <c>advance</c> commands on the default platform.</summary>
[TestFixture]
public class SriovCommandTests
{
    [Test]
    public void Sriov_WithoutArguments_ListsThePfs()
    {
        using var s = new SriovSession();
        Assert.That(s.Ok("sriov"), Is.EqualTo(
            "0000:01:00.0: TotalVFs 64, NumVFs 0\n0000:05:00.0: TotalVFs 8, NumVFs 0\n0000:05:00.1: TotalVFs 8, NumVFs 0\n"));
    }

    [Test]
    public void Sriov_Bdf_PrintsTheSysfsAttributes()
    {
        // default.json: raid0 has totalVfs 64, vfDeviceId 0x002f, offset "auto" (= 1 after function 0), stride 1.
        // Linux prints sriov_vf_device with "%x": no leading zeros.
        using var s = new SriovSession();
        Assert.That(s.Ok("sriov 01:00.0"), Is.EqualTo(
            "sriov_totalvfs: 64\nsriov_numvfs: 0\nsriov_offset: 1\nsriov_stride: 1\nsriov_vf_device: 2f\n"));
        Assert.That(s.Ok("sriov 0000:05:00.1"), Is.EqualTo(
            "sriov_totalvfs: 8\nsriov_numvfs: 0\nsriov_offset: 384\nsriov_stride: 4\nsriov_vf_device: 1520\n"));
    }

    [Test]
    public void SriovNumVfs_EnablesAsLinuxDoes_AndSysfsShowsTheVirtfnLinks()
    {
        using var s = new SriovSession();
        Assert.That(s.Ok("sriov 01:00.0 numvfs=3"), Is.EqualTo(
            "0000:01:00.0: NumVFs = 3; First VF Offset 1, VF Stride 1\n"
            + "0000:01:00.0: SR-IOV Control = 0x0019 (VF Enable, VF MSE, ARI Capable Hierarchy); waited 100 ms\n"
            + "0000:01:00.0: enabled 3 VFs: 0000:01:00.1 .. 0000:01:00.3\n"));
        Assert.That(s.Ok("sriov 01:00.0"), Is.EqualTo(
            "sriov_totalvfs: 64\nsriov_numvfs: 3\nsriov_offset: 1\nsriov_stride: 1\nsriov_vf_device: 2f\nsriov_vf_total_msix: 48\n"
            + "virtfn0 -> 0000:01:00.1\nvirtfn1 -> 0000:01:00.2\nvirtfn2 -> 0000:01:00.3\n"));
        Assert.That(s.Ok("lspci -s 01:"), Is.EqualTo(
            "01:00.0 RAID bus controller: Broadcom / LSI MegaRAID SAS 2208 [Thunderbolt] (rev 05)\n"
            + "01:00.1 RAID bus controller: Broadcom / LSI MegaRAID SAS 2208 IOV [Thunderbolt] (rev 05)\n"
            + "01:00.2 RAID bus controller: Broadcom / LSI MegaRAID SAS 2208 IOV [Thunderbolt] (rev 05)\n"
            + "01:00.3 RAID bus controller: Broadcom / LSI MegaRAID SAS 2208 IOV [Thunderbolt] (rev 05)\n"));
    }

    [Test]
    public void SriovNumVfsZero_Disables()
    {
        using var s = new SriovSession();
        s.Ok("sriov 05:00.0 numvfs=8");
        Assert.That(s.Ok("sriov 05:00.0 numvfs=0"), Is.EqualTo(
            "0000:05:00.0: SR-IOV Control = 0x0000 (VF Enable and VF MSE cleared); waited 1 s\n0000:05:00.0: NumVFs = 0; disabled 8 VFs\n"));
        Assert.That(s.Ok("lspci -s 06:"), Is.Empty);
        Assert.That(s.Ok("sriov 05:00.0"), Does.Contain("sriov_numvfs: 0\n").And.Not.Contain("virtfn"));
    }

    [TestCase("sriov 01:00.0 numvfs=65", 1, "Numerical result out of range")]
    [TestCase("sriov 01:00.0 numvfs=x", 2, "expected numvfs=N")]
    [TestCase("sriov 01:00.0 numvfs=-1", 2, "expected numvfs=N")]
    [TestCase("sriov 1:0", 2, "not a function address")]
    [TestCase("sriov 01:00.0 numvfs=1 extra", 2, "usage")]
    [TestCase("sriov 04:00.0 numvfs=1", 1, "is not an SR-IOV PF")]
    [TestCase("sriov 0001:01:00.0", 1, "is not an SR-IOV PF")]
    [TestCase("advance", 2, "usage: advance")]
    [TestCase("advance 1.5ms", 2, "usage: advance")]
    public void BadInput_FailsWithAClearMessage(string line, int status, string message)
    {
        using var s = new SriovSession();
        var (st, stdout, stderr) = s.Run(line);
        Assert.That(st, Is.EqualTo(status));
        Assert.That(stderr, Does.Contain(message));
        Assert.That(stdout, Is.Empty);
        Assert.That(s.Ok("sriov"), Does.Not.Contain("NumVFs 1"), "nothing changed");
    }

    [Test]
    public void SriovNumVfs_WhileEnabled_IsBusy()
    {
        using var s = new SriovSession();
        s.Ok("sriov 01:00.0 numvfs=2");
        var (st, _, stderr) = s.Run("sriov 01:00.0 numvfs=4");
        Assert.That(st, Is.EqualTo(1));
        Assert.That(stderr, Does.Contain("2 VFs already enabled. Disable before enabling 4 VFs").And.Contain("Device or resource busy"));
        Assert.That(s.Ok("sriov 01:00.0"), Does.Contain("sriov_numvfs: 2\n"));
    }

    [Test]
    public void Advance_MovesVirtualTime()
    {
        using var s = new SriovSession();
        Assert.That(s.Ok("advance 100ms"), Is.EqualTo("host0: t=100 ms\n"));
        Assert.That(s.Ok("advance 250us"), Is.EqualTo("host0: t=100250 us\n"));
    }

    [Test]
    public void Trace_ShowsEveryConfigTlpOfTheEnableSequence()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int rc = Program.Run(["shell", "--trace", "-"], new StringReader("sriov 01:00.0 numvfs=2\n"), stdout, stderr);
        Assert.That(rc, Is.Zero, stderr.ToString());
        var trace = stderr.ToString();
        // raid0's SR-IOV capability is at 0x148 (lspci: "Capabilities: [148 v1] Single Root I/O Virtualization"):
        // NumVFs (0x158) = 2, then Control (0x150, low word) = VF Enable | VF MSE | ARI Capable Hierarchy.
        int numVfs = trace.IndexOf("CfgWr1 requester=00:00.0 target=01:00.0 register=0x158 be=0x3 data=0x00000002 status=SC", StringComparison.Ordinal);
        int control = trace.IndexOf("CfgWr1 requester=00:00.0 target=01:00.0 register=0x150 be=0x3 data=0x00000019 status=SC", StringComparison.Ordinal);
        int vfRead = trace.IndexOf("CfgRd1 requester=00:00.0 target=01:00.1 register=0x008", StringComparison.Ordinal);
        Assert.That(numVfs, Is.GreaterThan(0));
        Assert.That(control, Is.GreaterThan(numVfs));
        Assert.That(vfRead, Is.GreaterThan(control), "the VF is scanned after VF Enable");
    }
}
