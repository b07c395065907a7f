using PcieVirt.Fabric;
using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Platform;
using PcieVirt.Platform.Model;
using PcieVirt.Tests.Support;

namespace PcieVirt.Tests.Cli.Sriov;

/// <summary>
/// A live lspci names a VF by the IDs the OS presents in sysfs (the PF's Vendor ID and the VF Device ID),
/// although the VF's own ID registers read FFFFh: e.g. an I350 VF (8086:1520) is listed as
/// "Intel Corporation I350 Ethernet Controller Virtual Function", as on real Linux systems.
/// </summary>
[TestFixture]
public class LspciVfNameTests
{
    static (HostSystem Host, Bdf Vf1) BootWithNicVfs()
    {
        var s = PcieSystem.Boot(PlatformModel.LoadDefault());
        var host = s.Hosts[0];
        var eth0 = host.RootComplex.AttachedFunctions.Single(f => f.Name == "eth0");
        var cap = eth0.FindCapability<SriovCapability>()!;
        var pf = new PciAddress(0, eth0.Bdf);
        host.Write(pf, cap.Offset + 0x10, 2, 2);
        host.Write(pf, cap.Offset + 0x08, 2, 0x9);
        host.RootComplex.Clock.Advance(100 * VirtualClock.Millisecond);
        return (host, cap.VirtualFunctions[0].Bdf);
    }

    [Test]
    public void VfNameLine_UsesThePresentedIds()
    {
        var (host, vf) = BootWithNicVfs();
        Assert.That(Ours.Lspci(host, "-s", vf.ToString()), Is.EqualTo($"{vf} Ethernet controller: Intel Corporation I350 Ethernet Controller Virtual Function (rev 01)\n"));
        Assert.That(Ours.Lspci(host, "-n", "-s", vf.ToString()), Is.EqualTo($"{vf} 0200: 8086:1520 (rev 01)\n"));
    }

    [Test]
    public void DeviceIdFilter_MatchesVfsByThePresentedIds()
    {
        var (host, vf) = BootWithNicVfs();
        var lines = Ours.Lspci(host, "-n", "-d", "8086:1520").Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(2));
        Assert.That(lines[0], Does.StartWith(vf.ToString()));
        Assert.That(Ours.Lspci(host, "-d", "ffff:ffff"), Is.Empty, "nothing presents FFFFh");
    }

    [Test]
    public void VfRegions_AreShownAsVirtual()
    {
        // The VF's own BARs read 0; the OS knows their addresses from the PF's VF BARs, so a live lspci
        // marks them [virtual] (pciutils: an address the OS reports while the register reads 0).
        var (host, vf) = BootWithNicVfs();
        var text = Ours.Lspci(host, "-v", "-s", vf.ToString());
        Assert.That(text, Does.Match(@"\tMemory at [0-9a-f]{8,16} \(64-bit, prefetchable\) \[virtual\] \[size=16K\]\n"));
        Assert.That(text.Split('\n').Count(l => l.Contains("[virtual]")), Is.EqualTo(2), "VF BARs 0 and 3");
    }
}
