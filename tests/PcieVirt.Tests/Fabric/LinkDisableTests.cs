using PcieVirt.Fabric;
using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;
using PcieVirt.Platform;
using PcieVirt.Platform.Model;

namespace PcieVirt.Tests.Fabric;

/// <summary>
/// Link Disable in a downstream-facing port's Link Control (§7.5.3.7) takes the link down: nothing
/// crosses it (§2.9.1), so config and memory requests for the hierarchy below complete UR at the port,
/// and clearing the bit brings the hierarchy back.
/// </summary>
[TestFixture]
public class LinkDisableTests
{
    RootComplex _rc = null!;
    PciAddress _rootPort, _raid;
    int _linkControl;

    [SetUp]
    public void Boot()
    {
        _rc = PcieSystem.Boot(PlatformModel.LoadDefault()).Hosts[0].RootComplex;
        _rootPort = new PciAddress(0, new Bdf(0, 1, 0));   // rp0
        _raid = new PciAddress(0, new Bdf(1, 0, 0));       // the RAID PF behind it
        _linkControl = _rc.FindFunction(_rootPort.Bdf)!.FindCapability<PciExpressCapability>()!.Offset + 0x10;
    }

    void SetLinkDisable(bool on) =>
        Assert.That(_rc.Write(_rootPort, _linkControl, 2, on ? 0x10u : 0u), Is.EqualTo(CompletionStatus.SuccessfulCompletion));

    [Test]
    public void ConfigRequestsBelowADisabledLink_CompleteUnsupportedRequest()
    {
        Assert.That(_rc.Read(_raid, PciRegs.VendorId, 2, out uint before), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        SetLinkDisable(true);
        Assert.Multiple(() =>
        {
            Assert.That(_rc.Read(_raid, PciRegs.VendorId, 2, out uint v), Is.EqualTo(CompletionStatus.UnsupportedRequest));
            Assert.That(v, Is.EqualTo(0xFFFFu));
            Assert.That(_rc.Functions(), Does.Not.Contain(_raid));
            Assert.That(_rc.Read(_rootPort, PciRegs.VendorId, 2, out _), Is.EqualTo(CompletionStatus.SuccessfulCompletion),
                "the port itself still answers");
        });
        SetLinkDisable(false);
        Assert.That(_rc.Read(_raid, PciRegs.VendorId, 2, out uint after), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        Assert.That(after, Is.EqualTo(before));
    }

    [Test]
    public void MemoryRequestsBelowADisabledLink_CompleteUnsupportedRequest()
    {
        var raid = _rc.FindFunction(_raid.Bdf)!;
        ulong bar0 = raid.BarAddress(0);
        var msix = raid.FindCapability<MsixCapability>()!;
        ulong entry = bar0 + 0x8000; // MSI-X table offset in the default model
        Span<byte> data = stackalloc byte[4];
        Assert.That(_rc.MemoryRead(entry + 12, data), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        SetLinkDisable(true);
        Assert.That(_rc.MemoryRead(entry + 12, data), Is.EqualTo(CompletionStatus.UnsupportedRequest));
        Assert.That(_rc.MemoryWrite(entry, [1, 2, 3, 4]), Is.EqualTo(CompletionStatus.UnsupportedRequest));
        SetLinkDisable(false);
        Assert.That(msix.MessageAddress(0), Is.Zero, "the write during link-down never reached the device");
        Assert.That(_rc.MemoryRead(entry + 12, data), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
    }
}
