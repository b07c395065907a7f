using PcieVirt.Fabric;
using PcieVirt.Platform;
using PcieVirt.Tests.Platform;

namespace PcieVirt.Tests.Cli.Sriov;

/// <summary>
/// devicemodels/scripts/sriov-enable-by-hand.pcv does Linux's enable sequence with setpci lines; the
/// result must be what <c>sriov 01:00.0 numvfs=4</c> (the host OS model) produces.
/// </summary>
[TestFixture]
public class ReplayScriptTests
{
    static string ScriptPath => Path.Combine(ModelFiles.RepoRoot, "devicemodels", "scripts", "sriov-enable-by-hand.pcv");

    static SriovSession ByHand(out string output)
    {
        var s = new SriovSession();
        using var script = File.OpenText(ScriptPath);
        s.Out.GetStringBuilder().Clear();
        int status = s.Session.RunScript(script, "sriov-enable-by-hand.pcv");
        Assert.That(status, Is.Zero, s.Err.ToString());
        output = s.Out.ToString();
        return s;
    }

    static SriovSession ByOs()
    {
        var s = new SriovSession();
        s.Ok("sriov 01:00.0 numvfs=4");
        return s;
    }

    static string SriovSection(string lspci) =>
        lspci[lspci.IndexOf("\tCapabilities: [148 v1] Single Root I/O Virtualization", StringComparison.Ordinal)..];

    [Test]
    public void Script_ReadsWhatTheSpecAndTheModelSay()
    {
        using var s = ByHand(out var output);
        var lines = output.Split('\n');
        string After(string header, int k) => lines[Array.FindIndex(lines, l => l.StartsWith(header, StringComparison.Ordinal)) + k];
        Assert.Multiple(() =>
        {
            Assert.That(After("== what the PF offers", 1), Is.EqualTo("0040"), "TotalVFs 64");
            Assert.That(After("== what the PF offers", 2), Is.EqualTo("002f"), "VF Device ID");
            Assert.That(After("== what the PF offers", 3), Is.EqualTo("00000001"), "System Page Size 4 KiB");
            Assert.That(After("== what the PF offers", 4), Is.EqualTo("0010"), "ARI Capable Hierarchy set at boot");
            Assert.That(After("== 2.", 1), Is.EqualTo("0001"), "First VF Offset");
            Assert.That(After("== 2.", 2), Is.EqualTo("0001"), "VF Stride");
            Assert.That(After("== 5.", 1), Is.EqualTo("ffff"), "VF Vendor ID");
            Assert.That(After("== 5.", 2), Is.EqualTo("ffff"), "VF Device ID");
            Assert.That(After("== 5.", 3), Is.EqualTo("0104"), "the PF's class");
            Assert.That(After("== 5.", 4), Is.EqualTo("00"), "Header Type 0");
            Assert.That(After("== 5.", 5) + After("== 5.", 6), Is.EqualTo("10009266"), "the PF's subsystem IDs");
            Assert.That(After("== 5.", 8), Is.EqualTo("0000"), "Interrupt Disable does not stick in a VF");
        });
    }

    [Test]
    public void Script_GivesTheSameVfsAsTheOs()
    {
        using var hand = ByHand(out _);
        using var os = ByOs();
        Assert.That(hand.Host.Functions(), Is.EqualTo(os.Host.Functions()));
        var vfs = ((HostSystem)os.Host).Os.VirtualFunctions.Select(v => v.Address).ToArray();
        Assert.That(vfs, Has.Length.EqualTo(4));
        foreach (var vf in vfs)
        {
            var a = hand.Host.Describe(vf)!;
            var b = os.Host.Describe(vf)!;
            Assert.That(a.IsVirtualFunction && b.IsVirtualFunction, Is.True);
            Assert.That(a.Bars, Is.EqualTo(b.Bars), $"{vf}: VF BAR addresses");
            Assert.That((a.PresentedVendorId, a.PresentedDeviceId), Is.EqualTo((b.PresentedVendorId, b.PresentedDeviceId)));
        }
    }

    [Test]
    public void Script_LeavesTheSameSriovCapability_AndVfConfig()
    {
        using var hand = ByHand(out _);
        using var os = ByOs();
        Assert.That(SriovSection(hand.Ok("lspci -vvv -s 01:00.0")), Is.EqualTo(SriovSection(os.Ok("lspci -vvv -s 01:00.0"))));
        Assert.That(hand.Ok("lspci -vvv -s 01:00.1"), Is.EqualTo(os.Ok("lspci -vvv -s 01:00.1")));
        Assert.That(hand.Ok("lspci -xxxx -s 01:00"), Is.EqualTo(os.Ok("lspci -xxxx -s 01:00")), "every config byte of the PF and its VFs");
    }
}
