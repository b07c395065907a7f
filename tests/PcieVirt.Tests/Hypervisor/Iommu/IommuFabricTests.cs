using Microsoft.Extensions.Logging;
using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;
using PcieVirt.Hypervisor.Interrupts;
using PcieVirt.Hypervisor.Iommu;
using PcieVirt.Pci;
using PcieVirt.Tests.Devices.Nvme;
using Vtd = PcieVirt.Hypervisor.Iommu.Iommu;

namespace PcieVirt.Tests.Hypervisor.Iommu;

/// <summary>
/// The IOMMU as the root complex's <c>Iommu</c>, with a real NVMe function mastering DMA and MSI-X writes:
/// the driver's queues live in host RAM identity-mapped in the function's domain, data buffers at IOVAs that
/// map elsewhere.
/// </summary>
[TestFixture]
public class IommuFabricTests
{
    const int Page = 4096;
    // The allocator region of NvmeTestPlatform: [16 MiB, 80 MiB).
    const ulong DriverRam = 0x100_0000, DriverRamSize = 0x400_0000;
    // An IOVA that is not host RAM (RAM is 256 MiB), mapped to a host page outside the driver's region.
    const ulong Iova = 0x2000_0000, IovaHost = 0x0800_0000;

    /// <summary>The platform with the IOMMU in place; <paramref name="setup"/> may program it and return the driver's options.</summary>
    static (NvmeTestPlatform P, Vtd Iommu, IommuDomain Domain) Build(out NvmeDriver driver,
        Func<Vtd, NvmeTestPlatform, NvmeDriverOptions?>? setup = null)
    {
        var p = new NvmeTestPlatform();
        var iommu = new Vtd(logger: p.LoggerFactory.CreateLogger("iommu"));
        var domain = iommu.CreateDomain("guest1");
        domain.Map(DriverRam, DriverRam, DriverRamSize);
        domain.Map(Iova, IovaHost, 2 * Page);
        iommu.Attach(p.Function.Bdf, domain);
        var options = setup?.Invoke(iommu, p);
        p.Rc.Iommu = iommu;
        driver = p.ReadyDriver(options);
        return (p, iommu, domain);
    }

    static NvmeSubmission Read(ulong lba, int blocks, ulong prp1) => new()
    {
        Opcode = NvmeIoOpcode.Read, Nsid = 1, Prp1 = prp1, Cdw10 = (uint)lba, Cdw12 = (uint)(blocks - 1),
    };

    static NvmeSubmission Write(ulong lba, int blocks, ulong prp1) => new()
    {
        Opcode = NvmeIoOpcode.Write, Nsid = 1, Prp1 = prp1, Cdw10 = (uint)lba, Cdw12 = (uint)(blocks - 1),
    };

    [Test]
    public void DmaToAnIova_LandsAtTheTranslatedHostAddress()
    {
        var (p, iommu, _) = Build(out var d);
        var data = NvmeTestPlatform.Pattern(Page, 11);
        p.Ns1.Poke(40 * 512, data);
        ulong stallBefore = p.Rc.DmaStallNs;
        var c = d.ExecuteIo(1, Read(40, 8, Iova));
        Assert.That(c.Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(p.HostRead(IovaHost, Page), Is.EqualTo(data), "the controller's write went to the host page behind the IOVA");
        Assert.That(p.Rc.DmaStallNs - stallBefore, Is.GreaterThanOrEqualTo(iommu.IotlbMissPenaltyNs), "at least the data page missed the IOTLB");
        Assert.That(iommu.TotalFaults, Is.Zero);

        // And the other direction: the controller reads the IOVA's second page.
        var out2 = NvmeTestPlatform.Pattern(Page, 12);
        p.HostWrite(IovaHost + Page, out2);
        Assert.That(d.ExecuteIo(1, Write(80, 8, Iova + Page)).Status, Is.EqualTo(NvmeStatus.Success));
        var onMedia = new byte[Page];
        p.Ns1.Peek(80 * 512, onMedia);
        Assert.That(onMedia, Is.EqualTo(out2));
        Assert.That(iommu.IotlbHits, Is.GreaterThan(0), "queue entries in the same pages hit the IOTLB");
    }

    [Test]
    public void DmaOutsideTheDomain_Faults_IsLogged_AndTheCommandFailsCleanly()
    {
        var (p, iommu, _) = Build(out var d);
        var faults = new List<IommuFault>();
        iommu.FaultRecorded += faults.Add;
        const ulong Outside = 0x3000_0000;
        var c = d.ExecuteIo(1, Read(0, 8, Outside));
        Assert.That(c.Status, Is.EqualTo(NvmeStatus.DataTransferError));
        Assert.That(faults, Has.Count.EqualTo(1));
        Assert.That(faults[0], Is.EqualTo(new IommuFault(p.Function.Bdf, Outside, true, IommuFaultReason.NotMapped)),
            "a Read command makes the controller write host memory");
        Assert.That(p.LogMessages(LogLevel.Warning), Has.Some.Contains("IOMMU fault").And.Contains($"0x{Outside:x}"));

        // The controller is still usable.
        ulong buf = p.Memory.Allocate(Page);
        Assert.That(d.ExecuteIo(1, Read(0, 8, buf)).Status, Is.EqualTo(NvmeStatus.Success));
    }

    [Test]
    public void UnmappingTheDataPage_MakesTheNextDmaFault()
    {
        var (_, iommu, domain) = Build(out var d);
        Assert.That(d.ExecuteIo(1, Read(0, 8, Iova)).Status, Is.EqualTo(NvmeStatus.Success));
        domain.Unmap(Iova, Page);
        Assert.That(d.ExecuteIo(1, Read(0, 8, Iova)).Status, Is.EqualTo(NvmeStatus.DataTransferError), "no stale IOTLB entry lets it through");
        Assert.That(iommu.LastFault!.Value.Reason, Is.EqualTo(IommuFaultReason.NotMapped));
    }

    [Test]
    public void RemappableMsix_IsPostedIntoTheDescriptor_WithOneNotificationWhileOnIsSet()
    {
        var pid = new PostedInterruptDescriptor { NotificationVector = 0xF2 };
        int notifications = 0;
        pid.Notification += _ => notifications++;
        int handle = -1;
        var (p, iommu, _) = Build(out var d, (u, platform) =>
        {
            handle = u.AllocateIrte();
            u.SetIrte(handle, InterruptRemapEntry.Posted(platform.Function.Bdf, pid, guestVector: 0x51));
            // The driver points its MSI-X entries at the remappable handle.
            return new NvmeDriverOptions { MsiAddress = Vtd.RemappableMsiAddress(handle) };
        });
        long hostBefore = p.Rc.InterruptController.TotalMessages;
        long postsBefore = pid.Posts;
        Assert.That(postsBefore, Is.GreaterThan(0), "admin completions during bring-up were posted");
        Assert.That(pid.IsPending(0x51), Is.True);
        Assert.That(notifications, Is.EqualTo(1), "later posts found ON set and sent no notification");

        ulong buf = p.Memory.Allocate(Page);
        Assert.That(d.ExecuteIo(1, Read(0, 8, buf)).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(pid.Posts, Is.GreaterThan(postsBefore));
        Assert.That(notifications, Is.EqualTo(1));
        Assert.That(p.Rc.InterruptController.TotalMessages, Is.EqualTo(hostBefore), "nothing reached the host interrupt controller");

        // The vCPU runs: PIR moves into the virtual APIC and ON clears, so the next post notifies again.
        var apic = new VirtualApic();
        Assert.That(pid.SyncTo(apic), Is.EqualTo(1));
        Assert.That(apic.IsRequested(0x51), Is.True);
        Assert.That(pid.OutstandingNotification, Is.False);
        Assert.That(d.ExecuteIo(1, Read(8, 8, buf)).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(notifications, Is.EqualTo(2));
        Assert.That(iommu.TotalFaults, Is.Zero);
    }

    [Test]
    public void RemappableMsix_FromTheWrongSource_IsBlockedAndRecorded()
    {
        var pid = new PostedInterruptDescriptor();
        int handle = -1;
        var (p, iommu, _) = Build(out var d, (u, _) =>
        {
            handle = u.AllocateIrte();
            // The entry accepts only another function's requester ID.
            u.SetIrte(handle, InterruptRemapEntry.Posted(new Bdf(9, 0, 0), pid, 0x51));
            return new NvmeDriverOptions { MsiAddress = Vtd.RemappableMsiAddress(handle) };
        });
        ulong buf = p.Memory.Allocate(Page);
        Assert.That(d.ExecuteIo(1, Read(0, 8, buf)).Status, Is.EqualTo(NvmeStatus.Success), "the command itself completes");
        Assert.That(pid.Posts, Is.Zero);
        Assert.That(iommu.InterruptsBlocked, Is.GreaterThan(0));
        Assert.That(iommu.LastFault, Is.EqualTo(new IommuFault(p.Function.Bdf, Vtd.RemappableMsiAddress(handle), true,
            IommuFaultReason.InterruptSourceIdMismatch)));
        Assert.That(p.LogMessages(LogLevel.Warning), Has.Some.Contains("InterruptSourceIdMismatch"));
    }

    [Test]
    public void RemappedMsix_ReachesTheHostControllerAsTheEntrysVector()
    {
        int handle = -1;
        var (p, iommu, _) = Build(out var d, (u, platform) =>
        {
            handle = u.AllocateIrte();
            u.SetIrte(handle, InterruptRemapEntry.Remapped(platform.Function.Bdf, vector: 0x61, destination: 3));
            return new NvmeDriverOptions { MsiAddress = Vtd.RemappableMsiAddress(handle) };
        });
        long before = p.Rc.InterruptController.CountForVector(0x61);
        ulong buf = p.Memory.Allocate(Page);
        Assert.That(d.ExecuteIo(1, Read(0, 8, buf)).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(p.Rc.InterruptController.CountForVector(0x61), Is.GreaterThan(before));
        Assert.That(p.Rc.InterruptController.LastMessage!.Value.DestinationId, Is.EqualTo(3));
        Assert.That(p.Rc.InterruptController.CountForVector(0x41), Is.Zero, "the device's own data (vector) never reached the host");
        Assert.That(iommu.InterruptsRemapped, Is.GreaterThan(0));
    }
}
