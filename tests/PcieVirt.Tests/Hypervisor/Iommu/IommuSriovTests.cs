using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;
using PcieVirt.Devices.Raid;
using PcieVirt.Devices.RaidController;
using PcieVirt.Hypervisor.Iommu;
using PcieVirt.Hypervisor.Memory;
using PcieVirt.Platform.HostOs;
using PcieVirt.Tests.Devices.RaidController;
using Vtd = PcieVirt.Hypervisor.Iommu.Iommu;

namespace PcieVirt.Tests.Hypervisor.Iommu;

/// <summary>
/// Direct VF assignment on the default platform's RAID controller: the PF stays with the host (pass-through
/// context), each VF is in its own guest's domain, and each guest's driver works with guest-physical addresses
/// that the EPT (CPU side) and the domain (device side) map to the same host pages.
/// </summary>
[TestFixture]
public class IommuSriovTests
{
    const ulong GuestRam = 0x400_0000;                    // 64 MiB per guest
    const ulong Guest1Host = 0x2000_0000, Guest2Host = 0x2800_0000;
    const int Page = 4096;

    sealed class Guest
    {
        public required GuestPhysicalMemory Memory { get; init; }
        public required HostMemoryAllocator Allocator { get; init; }
        public required IommuDomain Domain { get; init; }
        public required NvmeDriver Driver { get; init; }
        public required PcieVirt.Pci.Bdf Vf { get; init; }
    }

    static uint CreateRaid5(RaidPlatform p, string name, int firstDrive)
    {
        var r = p.Device.CreateVolume(new VolumeSpec
        {
            Name = name,
            Level = RaidLevel.Raid5,
            Members = [$"d{firstDrive}", $"d{firstDrive + 1}", $"d{firstDrive + 2}", $"d{firstDrive + 3}"],
            StripeSizeBytes = 64 * 1024,
        });
        Assert.That(r.IsSuccess, Is.True, r.ToString());
        return p.Device.NamespaceOf(r.Value!);
    }

    static Guest AssignVf(RaidPlatform p, Vtd iommu, int vfNumber, ulong hostBase)
    {
        var memory = GuestPhysicalMemory.CreateFlat(p.Host.RootComplex.HostMemory, hostBase, GuestRam, out _);
        var domain = iommu.CreateDomain($"guest{vfNumber}");
        domain.Map(0, hostBase, GuestRam); // IOVA = guest-physical address, as for an assigned device
        var vf = p.VfAddress(vfNumber);
        iommu.Attach(vf.Bdf, domain);
        var controller = p.Vf(vfNumber).Controller;
        var allocator = new HostMemoryAllocator(memory, 0x10_0000, GuestRam - 0x10_0000);
        var driver = new NvmeDriver(new OsHostBus(p.Host, vf), allocator, new NvmeDriverOptions
        {
            Pump = controller.Options.Processing == NvmeProcessingMode.Explicit ? () => controller.ProcessPending() : null,
            FirstHostVector = (byte)(0x40 + 0x10 * vfNumber),
        });
        driver.Initialize();
        return new Guest { Memory = memory, Allocator = allocator, Domain = domain, Driver = driver, Vf = vf.Bdf };
    }

    [Test]
    public void TwoGuests_SameGuestPhysicalBuffer_LandInTheirOwnHostPages_AndCannotReachEachOther()
    {
        var p = new RaidPlatform();
        uint ns1 = CreateRaid5(p, "a", 0), ns2 = CreateRaid5(p, "b", 4);
        Assert.That(p.Device.Attach("a", 1).IsSuccess, Is.True);
        Assert.That(p.Device.Attach("b", 2).IsSuccess, Is.True);
        var iommu = new Vtd();
        iommu.AttachPassThrough(p.PfAddress.Bdf);
        p.Host.RootComplex.Iommu = iommu;
        p.EnableVfs(2);
        p.Provision(1);
        p.Provision(2);
        var g1 = AssignVf(p, iommu, 1, Guest1Host);
        var g2 = AssignVf(p, iommu, 2, Guest2Host);
        Assert.That(iommu.PassThroughTranslations, Is.GreaterThan(0), "the host's PF admin commands went through the identity context");

        ulong w1 = g1.Allocator.Allocate(Page), w2 = g2.Allocator.Allocate(Page);
        Assert.That(w1, Is.EqualTo(w2), "both guests use the same guest-physical buffer address");
        var data1 = Enumerable.Range(0, Page).Select(i => (byte)(i * 3 + 1)).ToArray();
        var data2 = Enumerable.Range(0, Page).Select(i => (byte)(i * 5 + 2)).ToArray();
        g1.Memory.Write(w1, data1);
        g2.Memory.Write(w2, data2);
        Assert.That(g1.Driver.Write(ns1, 0, 8, w1).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(g2.Driver.Write(ns2, 0, 8, w2).Status, Is.EqualTo(NvmeStatus.Success));

        ulong r = g1.Allocator.Allocate(Page);
        Assert.That(g2.Allocator.Allocate(Page), Is.EqualTo(r));
        Assert.That(g1.Driver.Read(ns1, 0, 8, r).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(g2.Driver.Read(ns2, 0, 8, r).Status, Is.EqualTo(NvmeStatus.Success));
        var host = p.Host.RootComplex.HostMemory;
        var h1 = new byte[Page];
        var h2 = new byte[Page];
        host.Read(Guest1Host + r, h1);
        host.Read(Guest2Host + r, h2);
        Assert.That(h1, Is.EqualTo(data1), "VF1's DMA to guest-physical r went to guest 1's host page");
        Assert.That(h2, Is.EqualTo(data2), "VF2's DMA to the same address went to guest 2's host page");

        // Guest 1 points its VF at guest 2's host page: not in its domain, so it faults and nothing changes there.
        var before = new byte[Page];
        host.Read(Guest2Host + r, before);
        var c = g1.Driver.ExecuteIo(1, new NvmeSubmission { Opcode = NvmeIoOpcode.Read, Nsid = ns1, Prp1 = Guest2Host + r, Cdw12 = 7 });
        Assert.That(c.Status, Is.EqualTo(NvmeStatus.DataTransferError));
        Assert.That(iommu.LastFault, Is.EqualTo(new IommuFault(g1.Vf, Guest2Host + r, true, IommuFaultReason.NotMapped)));
        var after = new byte[Page];
        host.Read(Guest2Host + r, after);
        Assert.That(after, Is.EqualTo(before));
        Assert.That(iommu.TotalFaults, Is.EqualTo(1));
    }
}
