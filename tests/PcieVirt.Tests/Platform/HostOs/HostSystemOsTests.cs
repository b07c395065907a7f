using PcieVirt.Fabric;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Functions;
using PcieVirt.Platform;
using PcieVirt.Platform.Model;

namespace PcieVirt.Tests.Platform.HostOs;

/// <summary>Each host boots its OS model after firmware enumeration; the OS's records describe the VFs it adds.</summary>
[TestFixture]
public class HostSystemOsTests
{
    [Test]
    public void Boot_InitialisesEveryModelPf()
    {
        var host = PcieSystem.Boot(PlatformModel.LoadDefault()).Hosts[0];
        Assert.That(host.OsBoot?.Success, Is.True, host.OsBoot?.ToString());
        var names = host.Os.PhysicalFunctions.Select(p => host.RootComplex.FindFunction(p.Address.Bdf)!.Name);
        Assert.That(names, Is.EqualTo(new[] { "raid0", "eth0", "eth1" }));
        foreach (var pf in host.Os.PhysicalFunctions)
        {
            var cap = host.RootComplex.FindFunction(pf.Address.Bdf)!.FindCapability<SriovCapability>()!;
            Assert.That(cap.NumVfs, Is.Zero, "sriov_init leaves NumVFs at 0");
            Assert.That(pf.MaxVfBus, Is.LessThanOrEqualTo(pf.BusRange.Last), "firmware reserved the VFs' buses");
        }
    }

    [Test]
    public void EnableAllRaidVfs_AndDescribeThem()
    {
        var host = PcieSystem.Boot(PlatformModel.LoadDefault()).Hosts[0];
        var raid = host.Os.PhysicalFunctions[0];
        var r = host.Os.EnableVfs(raid.Address, 64);
        Assert.That(r.Success, Is.True, r.ToString());
        Assert.That(host.RootComplex.AttachedFunctions.OfType<VirtualFunction>().Count(), Is.EqualTo(64));
        var last = raid.VirtualFunctions[63];
        Assert.That(host.Functions(), Does.Contain(last.Address));
        Assert.That(host.Describe(last.Address), Is.EqualTo(last.ToFunctionInfo()));
        Assert.That(last.Address.Bdf.DevFn, Is.EqualTo(64), "ARI: offset 1, stride 1 → functions 1..64 on the PF's bus");
    }
}
