using PcieVirt.Devices.Driver;
using PcieVirt.Fabric;
using PcieVirt.Fabric.MultiRoot;
using PcieVirt.Platform;
using PcieVirt.Platform.Model;

namespace PcieVirt.Tests.Platform.MultiRoot;

/// <summary>Both hosts drive their own PF of the MRA RAID controller with the reference NVMe driver.</summary>
public class SharedControllerTests
{
    const ulong DriverMemory = 0x1000_0000, DriverMemorySize = 0x100_0000;

    static NvmeDriver Driver(HostSystem host, PcieVirt.Pci.Functions.PciFunction pf)
    {
        var d = new NvmeDriver(host.RootComplex, pf.Bdf, new HostMemoryAllocator(host.RootComplex.HostMemory, DriverMemory, DriverMemorySize));
        d.Initialize();
        return d;
    }

    [Test]
    public void Two_hosts_share_a_namespace_through_their_own_pfs_and_dma_stays_in_each_host()
    {
        var s = PcieSystem.Boot(PlatformModel.Load(ModelFiles.DeviceModel("mriov-2host.json")).GetModelOrThrow());
        var mr = s.MultiRoot!;
        var dev = mr.Devices[0];
        var raid = dev.Raid!;
        uint nsid = raid.NamespaceOf(raid.Engine.FindVolume("vol0")!);
        var d0 = Driver(s.Hosts[0], dev.Device.PhysicalFunctions[0]);
        var d1 = Driver(s.Hosts[1], dev.Device.PhysicalFunctions[1]);

        // Each PF is its own primary controller of one subsystem; CMIC bit 0 (multiple ports) and bit 1 (multiple controllers).
        Assert.That((d0.Controller!.ControllerId, d1.Controller!.ControllerId), Is.EqualTo(((ushort)1, (ushort)129)));
        Assert.That(d0.Controller!.Cmic & 0b11, Is.EqualTo(0b11));
        Assert.That(d1.Controller!.Cmic & 0b11, Is.EqualTo(0b11));
        Assert.That(d0.Namespaces.Keys, Does.Contain(nsid));
        Assert.That(d1.Namespaces.Keys, Does.Contain(nsid));

        var link = dev.Port.Link;
        link.ResetCounters();
        int block = (int)d0.Namespaces[nsid].BlockSize;
        var pattern = Enumerable.Range(0, block).Select(i => (byte)(i * 7 + 3)).ToArray();
        const ulong buffer = DriverMemory + DriverMemorySize - 0x10_0000; // above what the drivers allocated
        Assert.That(s.Hosts[0].RootComplex.HostMemory.Write(buffer, pattern), Is.True);
        Assert.That(d0.Write(nsid, 16, 1, buffer).Status.IsSuccess, Is.True);

        var got = new byte[block];
        Assert.That(d1.Read(nsid, 16, 1, buffer).Status.IsSuccess, Is.True);
        Assert.That(s.Hosts[1].RootComplex.HostMemory.Read(buffer, got), Is.True);
        Assert.That(got, Is.EqualTo(pattern), "host1 reads through PF1 what host0 wrote through PF0");

        // Both hosts' DMA crossed the device link, each with its own VH tag.
        int tag0 = link.TagOf(mr.Switch.Hierarchies[1].Id)!.Value, tag1 = link.TagOf(mr.Switch.Hierarchies[2].Id)!.Value;
        Assert.That(tag0, Is.Not.EqualTo(tag1));
        Assert.That(link.Count(tag0, MrTlpKind.MRd), Is.GreaterThan(0), "PF0 fetched its command and the data from host0");
        Assert.That(link.Count(tag1, MrTlpKind.MWr), Is.GreaterThan(0), "PF1 wrote the data into host1");
        Assert.That(link.Count(tag1, MrTlpKind.MRd), Is.GreaterThan(0), "PF1 fetched its command from host1");
    }
}
