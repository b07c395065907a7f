using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Tests.Pci.Capabilities;

/// <summary>Walks the lists as host software does (§7.5.2 legacy list from 0x34; §7.6 extended list from 0x100).</summary>
[TestFixture]
public class CapabilityChainTests
{
    static EndpointFunction Build() => Fn.Endpoint(
        new PowerManagementCapability(),
        new MsiCapability(new() { PerVectorMasking = true }),
        new PciExpressCapability(new() { FlrCapable = true }),
        new MsixCapability(8, 0, 0x1000, 0, 0x1800),
        new AerCapability(),
        new AriCapability(),
        new DeviceSerialNumberCapability(42),
        new AcsCapability(new() { Supported = AcsFeatures.P2PRequestRedirect }));

    static List<(int Offset, uint Id)> WalkLegacy(PciFunction f)
    {
        var list = new List<(int, uint)>();
        Assert.That(f.R(PciRegs.Status, 2) & (uint)PciStatus.CapabilitiesList, Is.Not.Zero, "Capabilities List bit");
        int ptr = (int)f.R(PciRegs.CapabilitiesPointer, 1);
        while (ptr != 0)
        {
            Assert.That(ptr & 3, Is.Zero, "DWORD aligned");
            Assert.That(ptr, Is.InRange(0x40, 0xFC));
            list.Add((ptr, f.R(ptr, 1)));
            ptr = (int)f.R(ptr + 1, 1);
            Assert.That(list, Has.Count.LessThan(48), "no loop");
        }
        return list;
    }

    static List<(int Offset, uint Id, uint Version)> WalkExtended(PciFunction f)
    {
        var list = new List<(int, uint, uint)>();
        int ptr = PciRegs.ExtendedCapabilities;
        while (ptr != 0)
        {
            uint h = f.R(ptr, 4);
            if (h == 0) break;
            list.Add((ptr, h & 0xFFFF, (h >> 16) & 0xF));
            ptr = (int)(h >> 20);
            Assert.That(ptr == 0 || (ptr >= 0x100 && (ptr & 3) == 0), Is.True);
            Assert.That(list, Has.Count.LessThan(960), "no loop");
        }
        return list;
    }

    [Test]
    public void LegacyList_LinksAllCapabilitiesInOrder()
    {
        var ids = WalkLegacy(Build()).Select(x => x.Id);
        Assert.That(ids, Is.EqualTo(new uint[] { CapabilityIds.PowerManagement, CapabilityIds.Msi, CapabilityIds.PciExpress, CapabilityIds.MsiX }));
    }

    [Test]
    public void ExtendedList_StartsAt0x100_With12BitNextPointers()
    {
        var list = WalkExtended(Build());
        Assert.That(list[0].Offset, Is.EqualTo(0x100));
        Assert.That(list.Select(x => x.Id), Is.EqualTo(new uint[] { CapabilityIds.AdvancedErrorReporting, CapabilityIds.AlternativeRoutingId, CapabilityIds.DeviceSerialNumber, CapabilityIds.AccessControlServices }));
        Assert.That(list.Select(x => x.Version), Is.EqualTo(new uint[] { 2, 1, 1, 1 }));
    }

    [Test]
    public void Capabilities_DoNotOverlap()
    {
        var f = Build();
        var caps = f.Capabilities.OrderBy(c => c.Offset).ToList();
        for (int i = 1; i < caps.Count; i++)
            if (caps[i].IsExtended == caps[i - 1].IsExtended)
                Assert.That(caps[i].Offset, Is.GreaterThanOrEqualTo(caps[i - 1].Offset + caps[i - 1].Length), caps[i].Name);
    }

    [Test]
    public void ListHeaders_AreReadOnly()
    {
        var f = Build();
        var before = WalkLegacy(f);
        foreach (var (off, _) in before) f.W(off, 2, 0);
        f.W(0x100, 4, 0);
        Assert.That(WalkLegacy(f), Is.EqualTo(before));
        Assert.That(WalkExtended(f), Has.Count.EqualTo(4));
    }

    [Test]
    public void NoExtendedCapabilities_HeaderAt0x100ReadsZero()
    {
        var f = Fn.Endpoint(new PciExpressCapability());
        Assert.That(f.R(0x100, 4), Is.Zero);
    }
}
