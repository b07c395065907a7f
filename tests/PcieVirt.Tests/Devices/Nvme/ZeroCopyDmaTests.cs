using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;
using PcieVirt.Fabric;
using PcieVirt.Pci;

namespace PcieVirt.Tests.Devices.Nvme;

/// <summary>
/// The single-copy data path (the fabric's zero-copy DMA seam) keeps the semantics of the copying path:
/// IOMMU translation per request, faults as Data Transfer Error, and the media still read on a failed
/// read transfer as the copying path (media first, then DMA) does.
/// </summary>
[TestFixture]
public class ZeroCopyDmaTests
{
    const int Page = 4096;

    /// <summary>An IOMMU that maps the I/O virtual page window [Iova, Iova + 1 MiB) of one requester to host RAM at Host, faulting the rest of that window.</summary>
    sealed class OffsetRemapper(Bdf requester, ulong iova, ulong host) : IDmaRemapper
    {
        public int Translations, Faults;

        public bool TryTranslate(Bdf r, ulong address, int length, bool write, out ulong hostAddress, out ulong stallNs)
        {
            stallNs = 100;
            hostAddress = address;
            if (r != requester || address < iova || address >= iova + 0x10_0000) return true; // identity elsewhere (queues)
            if (address >= iova + 0x8_0000) { Faults++; return false; }
            Translations++;
            hostAddress = address - iova + host;
            return true;
        }

        public InterruptRemapOutcome RemapInterrupt(Bdf r, ulong address, uint data, out ulong hostAddress, out uint hostData)
        {
            hostAddress = address;
            hostData = data;
            return InterruptRemapOutcome.PassThrough;
        }
    }

    static NvmeSubmission Rw(byte opcode, ulong lba, int blocks, ulong prp1) => new()
    {
        Opcode = opcode, Nsid = 1, Prp1 = prp1, Cdw10 = (uint)lba, Cdw12 = (uint)(blocks - 1),
    };

    [Test]
    public void ReadAndWrite_OfOnePage_GoThroughTheIommuTranslation()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        const ulong Iova = 0x0800_0000, Host = 0x0900_0000;
        var iommu = new OffsetRemapper(p.Function.Bdf, Iova, Host);
        p.Rc.Iommu = iommu;
        var data = NvmeTestPlatform.Pattern(Page, 3);
        p.HostWrite(Host + Page, data);
        Assert.That(d.ExecuteIo(1, Rw(NvmeIoOpcode.Write, 16, 8, Iova + Page)).Status, Is.EqualTo(NvmeStatus.Success));
        var stored = new byte[Page];
        p.Ns1.Peek(16 * 512, stored);
        Assert.That(stored, Is.EqualTo(data), "the write fetched from the translated address");

        ulong stallBefore = p.Rc.DmaStallNs;
        Assert.That(d.ExecuteIo(1, Rw(NvmeIoOpcode.Read, 16, 8, Iova + 2 * Page)).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(p.HostRead(Host + 2 * Page, Page), Is.EqualTo(data), "the read landed at the translated address");
        Assert.That(p.HostRead(Iova + 2 * Page, Page), Is.All.Zero, "nothing at the untranslated I/O virtual address");
        Assert.That(iommu.Translations, Is.EqualTo(2), "one translation per 4 KiB data request");
        Assert.That(p.Rc.DmaStallNs - stallBefore, Is.GreaterThanOrEqualTo(100UL), "the translation's stall is accounted");
    }

    [Test]
    public void IommuFault_IsDataTransferError_ReadStillReadsTheMedia_WriteWritesNothing()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        const ulong Iova = 0x0800_0000;
        var iommu = new OffsetRemapper(p.Function.Bdf, Iova, 0x0900_0000);
        p.Rc.Iommu = iommu;
        long reads = p.Ns1.Reads, writes = p.Ns1.Writes;
        Assert.That(d.ExecuteIo(1, Rw(NvmeIoOpcode.Read, 0, 8, Iova + 0x8_0000)).Status, Is.EqualTo(NvmeStatus.DataTransferError));
        Assert.That(p.Ns1.Reads, Is.EqualTo(reads + 1), "as in the copying path the media is read before the transfer fails");
        Assert.That(d.ExecuteIo(1, Rw(NvmeIoOpcode.Write, 0, 8, Iova + 0x9_0000)).Status, Is.EqualTo(NvmeStatus.DataTransferError));
        Assert.That(p.Ns1.Writes, Is.EqualTo(writes), "no data was fetched, so nothing was written");
        Assert.That(iommu.Faults, Is.EqualTo(2), "one fault per failed request, not one per attempt");
        Assert.That(p.Controller.IsFatal, Is.False);
    }
}
