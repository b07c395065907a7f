using PcieVirt.Fabric;
using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Functions;
using PcieVirt.Platform;
using PcieVirt.Platform.Model;

namespace PcieVirt.Tests.Platform.HostOs;

/// <summary>The platform builds each model PF's SR-IOV capability, and the host describes VFs as Linux sysfs does.</summary>
[TestFixture]
public class SriovPlatformBuildTests
{
    static PcieSystem Boot() => PcieSystem.Boot(PlatformModel.LoadDefault());

    static EndpointFunction Function(PcieSystem s, string name) =>
        (EndpointFunction)s.Hosts[0].RootComplex.AttachedFunctions.Single(f => f.Name == name);

    [Test]
    public void RaidPf_GetsTheModelsSriovCapability()
    {
        var s = Boot();
        var model = s.Model.Hosts[0].AllFunctions().Single(f => f.Name == "raid0").Capabilities.Sriov!;
        var cap = Function(s, "raid0").FindCapability<SriovCapability>()!;
        Assert.Multiple(() =>
        {
            Assert.That(cap.TotalVfs, Is.EqualTo(model.TotalVfs));
            Assert.That(cap.InitialVfs, Is.EqualTo(model.InitialVfs));
            Assert.That(cap.VfDeviceId, Is.EqualTo(model.VfDeviceId));
            Assert.That(cap.SupportedPageSizes, Is.EqualTo(model.SupportedPageSizes));
            Assert.That(cap.FunctionDependencyLink, Is.EqualTo(model.FunctionDependencyLink));
            Assert.That(cap.Options.VfBars, Is.EqualTo(model.VfBars));
            Assert.That(cap.Options.VfMsix, Is.EqualTo(new MsixOptions(16, 0, 0x2000, 0, 0x3000)));
            Assert.That(cap.Options.PfIndex, Is.Zero);
            Assert.That(cap.Options.PfCount, Is.EqualTo(1));
            Assert.That(cap.IsLowestPf, Is.True);
        });
        // The model's offset/stride are fixed values, reported for any NumVFs.
        cap.Function.Config.Write(cap.Offset + 0x10, 2, 5);
        Assert.That((cap.FirstVfOffset, cap.VfStride), Is.EqualTo(((ushort)model.FirstVfOffset, (ushort)model.VfStride)));
    }

    [Test]
    public void TwoPortNic_PfsKnowTheirIndex_AndFollowTheLowestPfsAriCapableHierarchy()
    {
        var s = Boot();
        var pf0 = Function(s, "eth0").FindCapability<SriovCapability>()!;
        var pf1 = Function(s, "eth1").FindCapability<SriovCapability>()!;
        Assert.That((pf0.Options.PfIndex, pf0.Options.PfCount), Is.EqualTo((0, 2)));
        Assert.That((pf1.Options.PfIndex, pf1.Options.PfCount), Is.EqualTo((1, 2)));
        Assert.That(pf1.FunctionDependencyLink, Is.EqualTo(1), "independent PF: its own function number");
        // ARI Capable Hierarchy lives in PF0 only (§9.3.3.3.5): PF1's bit is RO 0 but PF1 follows PF0.
        pf1.Function.Config.Write(pf1.Offset + 0x08, 2, 0x10);
        Assert.That(pf1.Function.Config.Read16(pf1.Offset + 0x08) & 0x10, Is.Zero);
        pf0.Function.Config.Write(pf0.Offset + 0x08, 2, 0x10);
        Assert.That(pf1.AriCapableHierarchy, Is.True);
    }

    [Test]
    public void Describe_Vf_IsVirtual_WithItsPfsIdentity_AndVfBarSlices()
    {
        var s = Boot();
        var host = s.Hosts[0];
        var eth0 = Function(s, "eth0");
        var cap = eth0.FindCapability<SriovCapability>()!;
        var pfAddr = new PciAddress(0, eth0.Bdf);
        int at = cap.Offset;
        host.Write(pfAddr, at + 0x10, 2, 3);
        host.Write(pfAddr, at + 0x08, 2, 0x9);
        host.RootComplex.Clock.Advance(100 * VirtualClock.Millisecond);
        // VF n at PF + 0x180 + (n−1)·4: the next bus, devfn 0x80, 0x84, 0x88 (model values).
        var vf3 = new PciAddress(0, new Bdf((ushort)(eth0.Bdf.Value + 0x180 + 2 * 4)));
        Assert.That(host.Functions(), Does.Contain(vf3));
        var info = host.Describe(vf3)!;
        var report = host.Enumeration!.Bars.Where(b => b.Address == pfAddr && b.Register == BarRegister.VfBar).ToArray();
        Assert.Multiple(() =>
        {
            Assert.That(info.IsVirtualFunction, Is.True);
            Assert.That(info.PhysicalFunction, Is.EqualTo(pfAddr));
            Assert.That(info.PresentedVendorId, Is.EqualTo((ushort)0x8086));
            Assert.That(info.PresentedDeviceId, Is.EqualTo((ushort)0x1520));
            // VF BARs 0 and 3, 64-bit prefetchable, 16 KiB per VF: VF3's slice is base + 2 × 16 KiB (§9.3.3.14).
            foreach (var b in report)
            {
                Assert.That(info.Bars[b.Index].Base & ~0xFUL, Is.EqualTo(b.Base + 2 * 0x4000));
                Assert.That(info.Bars[b.Index].Base & 0xF, Is.EqualTo(0xCUL), "64-bit prefetchable flags");
                Assert.That(info.Bars[b.Index].Size, Is.EqualTo(0x4000UL));
                Assert.That(info.Bars[b.Index].Base & ~0xFUL, Is.EqualTo(cap.VirtualFunctions[2].BarAddress(b.Index)), "the VF decodes there");
            }
            Assert.That(report.Select(b => b.Index), Is.EquivalentTo(new[] { 0, 3 }));
            Assert.That(info.Bars[1].Size + info.Bars[2].Size + info.Bars[4].Size + info.Bars[5].Size, Is.Zero);
        });
    }

    [Test]
    public void Describe_AddressNoVfHas_IsNotAVf()
    {
        var s = Boot();
        var host = s.Hosts[0];
        var eth0 = Function(s, "eth0");
        var cap = eth0.FindCapability<SriovCapability>()!;
        host.Write(new PciAddress(0, eth0.Bdf), cap.Offset + 0x10, 2, 2);
        host.Write(new PciAddress(0, eth0.Bdf), cap.Offset + 0x08, 2, 0x9);
        // VF3's routing ID, but NumVFs is 2; and a routing ID between two VFs (stride 4).
        Assert.That(host.Describe(new PciAddress(0, new Bdf((ushort)(eth0.Bdf.Value + 0x180 + 8)))), Is.Null);
        Assert.That(host.Describe(new PciAddress(0, new Bdf((ushort)(eth0.Bdf.Value + 0x180 + 2)))), Is.Null);
        Assert.That(host.Describe(new PciAddress(0, eth0.Bdf))!.IsVirtualFunction, Is.False);
    }
}
