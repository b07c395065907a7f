using System.Text.RegularExpressions;
using PcieVirt.Fabric;
using PcieVirt.Platform;
using PcieVirt.Tests.Support;

namespace PcieVirt.Tests.Cli.Sriov;

/// <summary>
/// Our lspci on a live platform with VFs enabled against the real pciutils lspci reading our <c>-xxxx</c>
/// dump (<c>lspci -F</c>). From config bytes alone the outputs must be identical, the SR-IOV capability of
/// the PFs (IOVCap … VF Migration) and the VFs' own capabilities included. The live listing differs only
/// where Linux's sysfs tells lspci more than a dump can: a VF's name line (sysfs presents the PF's Vendor
/// ID and the VF Device ID; in the dump the VF's ID registers read FFFFh, which pciutils names "Illegal
/// Vendor ID"), the VF's [virtual] regions, BAR [size=…] annotations, and the AtomicOpsCap line, which
/// pciutils prints only for functions it knows to have a memory BAR.
/// </summary>
[TestFixture]
[Category("Interop")]
public partial class SriovLspciInteropTests
{
    SriovSession _s = null!;
    DumpFile _dump = null!;
    HashSet<string> _vfs = [];

    [GeneratedRegex(@" \[size=[0-9]+[KMGT]?\]$", RegexOptions.Multiline)]
    private static partial Regex SizeAnnotation();

    [OneTimeSetUp]
    public void EnableVfsAndDump()
    {
        RealPciutils.IgnoreUnlessInstalled();
        _s = new SriovSession();
        _s.Ok("sriov 01:00.0 numvfs=3");
        _s.Ok("sriov 05:00.0 numvfs=2");
        _s.Ok("sriov 05:00.1 numvfs=1");
        var host = (HostSystem)_s.Host;
        _vfs = host.Os.VirtualFunctions.Select(v => v.Address.Bdf.ToString()).ToHashSet();
        Assert.That(_vfs, Has.Count.EqualTo(6));
        _dump = new DumpFile(Ours.Lspci(host, "-xxxx"));
    }

    [OneTimeTearDown]
    public void Cleanup()
    {
        _s?.Dispose();
        _dump?.Dispose();
    }

    [TestCase("-vvv")]
    [TestCase("-vv")]
    [TestCase("-v")]
    [TestCase("-nn", "-vvv")]
    [TestCase("-t")]
    [TestCase("-tv")]
    [TestCase("-xxx")]
    [TestCase("-s", "01:00.2", "-vvv")]
    [TestCase("-s", "06:", "-vvv")]
    public void FromConfigBytes_SameAsRealLspci(params string[] args)
    {
        var real = RealPciutils.Lspci(_dump.Path, args);
        Assert.That(real, Is.Not.Empty);
        Assert.That(Ours.Lspci(new ConfigOnly(_s.Host), args), Is.EqualTo(real));
    }

    [Test]
    public void PfSriovCapability_DecodedAsRealLspciDoes()
    {
        // The enabled state shows in the decode: Enable+ MSE+ ARIHierarchy+, Number of VFs 3.
        var real = RealPciutils.Lspci(_dump.Path, "-s", "01:00.0", "-vvv");
        var ours = Ours.Lspci(_s.Host, "-s", "01:00.0", "-vvv");
        string Sriov(string text) => text[text.IndexOf("Single Root I/O Virtualization", StringComparison.Ordinal)..];
        Assert.That(Sriov(ours), Is.EqualTo(Sriov(real)));
        Assert.That(Sriov(real), Does.Contain("IOVCtl:\tEnable+ Migration- Interrupt- MSE+ ARIHierarchy+ 10BitTagReq-"));
        Assert.That(Sriov(real), Does.Contain("Initial VFs: 64, Total VFs: 64, Number of VFs: 3, Function Dependency Link: 00"));
    }

    [Test]
    public void Live_SameAsRealLspci_ExceptWhatOnlySysfsKnows()
    {
        var real = RealPciutils.Lspci(_dump.Path, "-vvv").Split('\n');
        var live = SizeAnnotation().Replace(Ours.Lspci(_s.Host, "-vvv"), "").Split('\n');
        // Drop from the live listing the VF lines a dump cannot produce.
        var kept = new List<string>();
        string device = "";
        foreach (var line in live)
        {
            if (line.Length > 0 && line[0] != '\t') device = line.Split(' ')[0];
            bool vf = _vfs.Contains(device);
            if (vf && (line.Contains(" [virtual]", StringComparison.Ordinal) || line.Contains("AtomicOpsCap:", StringComparison.Ordinal))) continue;
            kept.Add(line);
        }
        Assert.That(kept, Has.Count.EqualTo(real.Length));
        int nameLines = 0;
        for (int i = 0; i < real.Length; i++)
        {
            string head = real[i].Split(' ')[0];
            if (real[i].Length > 0 && real[i][0] != '\t' && _vfs.Contains(head))
            {
                // The VF's name line: same slot and class; the device name comes from sysfs live.
                nameLines++;
                Assert.That(real[i], Does.Contain(": Illegal Vendor ID Device ffff"));
                Assert.That(kept[i][..kept[i].IndexOf(": ", StringComparison.Ordinal)], Is.EqualTo(real[i][..real[i].IndexOf(": ", StringComparison.Ordinal)]));
                continue;
            }
            Assert.That(kept[i], Is.EqualTo(real[i]), $"line {i + 1}");
        }
        Assert.That(nameLines, Is.EqualTo(6));
    }

    [Test]
    public void Live_VfNameLines_ComeFromThePresentedIds()
    {
        var text = Ours.Lspci(_s.Host, "-nn", "-s", "06:");
        Assert.That(text.Split('\n', StringSplitOptions.RemoveEmptyEntries),
            Is.All.Contains("Intel Corporation I350 Ethernet Controller Virtual Function [8086:1520] (rev 01)"));
        var raid = Ours.Lspci(_s.Host, "-n", "-s", "01:00.3");
        Assert.That(raid, Is.EqualTo("01:00.3 0104: 1000:002f (rev 05)\n"));
    }

    [Test]
    public void Live_VfVerbose_ShowsItsOwnCapabilities()
    {
        var text = Ours.Lspci(_s.Host, "-vvv", "-s", "01:00.1");
        Assert.That(text, Does.Contain("\tCapabilities: [40] Express (v2) Endpoint, MSI 00\n"));
        Assert.That(text, Does.Contain("FLReset+"));
        Assert.That(text, Does.Contain("MSI-X: Enable- Count=16 Masked-"));
        Assert.That(text, Does.Contain("Alternative Routing-ID Interpretation (ARI)"));
        Assert.That(text, Does.Not.Contain("Single Root I/O Virtualization"), "VFs never implement SR-IOV");
        Assert.That(text, Does.Contain("\tRegion 0: Memory at "));
    }
}
