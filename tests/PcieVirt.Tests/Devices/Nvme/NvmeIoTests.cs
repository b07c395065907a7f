using System.Buffers.Binary;
using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;

namespace PcieVirt.Tests.Devices.Nvme;

/// <summary>NVM I/O commands through the fabric: data movement by PRPs (NVMe Base 1.4 §4.3) and the status of every failure.</summary>
[TestFixture]
public class NvmeIoTests
{
    const int Page = 4096;

    static NvmeSubmission Rw(byte opcode, ulong lba, int blocks, ulong prp1, ulong prp2 = 0, uint nsid = 1) => new()
    {
        Opcode = opcode, Nsid = nsid, Prp1 = prp1, Prp2 = prp2, Cdw10 = (uint)lba, Cdw11 = (uint)(lba >> 32), Cdw12 = (uint)(blocks - 1),
    };

    static byte[] Backend(NvmeTestPlatform p, ulong lba, int bytes)
    {
        var b = new byte[bytes];
        p.Ns1.Peek(lba * 512, b);
        return b;
    }

    [Test]
    public void WriteThenRead_Prp1Only_OnePage()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        ulong buf = p.Memory.Allocate(Page);
        var data = NvmeTestPlatform.Pattern(Page, 1);
        p.HostWrite(buf, data);
        var w = d.ExecuteIo(1, Rw(NvmeIoOpcode.Write, 100, 8, buf));
        Assert.That(w.Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(Backend(p, 100, Page), Is.EqualTo(data), "the blocks hold what the host wrote");
        ulong back = p.Memory.Allocate(Page);
        var r = d.ExecuteIo(1, Rw(NvmeIoOpcode.Read, 100, 8, back));
        Assert.That(r.Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(p.HostRead(back, Page), Is.EqualTo(data));
        Assert.That(r.SqId, Is.EqualTo(1));
        Assert.That(r.SqHead, Is.EqualTo(2), "SQ head after the controller consumed both entries");
        Assert.That(w.SqHead, Is.EqualTo(1));
    }

    [Test]
    public void EveryDmaOfTheController_CarriesItsRequesterId_UpToHostMemory()
    {
        var p = new NvmeTestPlatform(logLevel: Microsoft.Extensions.Logging.LogLevel.Trace);
        var d = p.ReadyDriver();
        ulong buf = p.Memory.Allocate(Page);
        p.Logs.Entries.Clear();
        Assert.That(d.Read(1, 0, 8, buf).Status, Is.EqualTo(NvmeStatus.Success));
        var tlps = p.Logs.Entries.Where(e => e.Category == PcieVirt.Fabric.RootComplex.TlpLogCategory && e.Message.Contains("upstream"))
            .Select(e => e.Message).ToList();
        string rid = $"requester={p.Function.Bdf}";
        // Fetch (64-byte read), data (4 KiB write), completion (16-byte write), MSI-X (4-byte write).
        Assert.That(tlps, Has.Some.Contains("MRd " + rid).And.Contains($"length=64 upstream to host memory status=SC"));
        Assert.That(tlps, Has.Some.Contains("MWr " + rid).And.Contains($"address=0x{buf:x} length=4096 upstream to host memory status=SC"));
        Assert.That(tlps, Has.Some.Contains("MWr " + rid).And.Contains("length=16 upstream to host memory status=SC"));
        Assert.That(tlps, Has.Some.Contains("MWr " + rid).And.Contains("length=4 upstream to interrupt controller status=SC"));
        Assert.That(tlps, Has.All.Contains(rid), "no request with another requester ID");
    }

    [Test]
    public void SubPageTransfer_WithOffset_TouchesOnlyItsBytes()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        ulong buf = p.Memory.Allocate(Page);
        p.HostWrite(buf, Enumerable.Repeat((byte)0xEE, Page).ToArray());
        p.Ns1.Poke(7 * 512, NvmeTestPlatform.Pattern(512, 7));
        var r = d.ExecuteIo(1, Rw(NvmeIoOpcode.Read, 7, 1, buf + 0x204));
        Assert.That(r.Status, Is.EqualTo(NvmeStatus.Success));
        var host = p.HostRead(buf, Page);
        Assert.That(host[0x204..0x404], Is.EqualTo(NvmeTestPlatform.Pattern(512, 7)));
        Assert.That(host[..0x204], Is.All.EqualTo(0xEE));
        Assert.That(host[0x404..], Is.All.EqualTo(0xEE));
    }

    [Test]
    public void Prp1AndPrp2_TransferCrossingOnePageBoundary()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        ulong a = p.Memory.Allocate(Page), gap = p.Memory.Allocate(Page), b = p.Memory.Allocate(Page);
        var data = NvmeTestPlatform.Pattern(Page, 2);
        // 4 KiB starting 0xC00 into page a: 0x400 bytes there, 0xC00 in page b (not contiguous with a).
        p.HostWrite(a + 0xC00, data[..0x400]);
        p.HostWrite(b, data[0x400..]);
        var w = d.ExecuteIo(1, Rw(NvmeIoOpcode.Write, 0, 8, a + 0xC00, b));
        Assert.That(w.Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(Backend(p, 0, Page), Is.EqualTo(data));
        Assert.That(p.HostRead(gap, Page), Is.All.Zero, "the page between was not touched");
    }

    [Test]
    public void PrpList_ScatteredPages_InListOrder()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        var pages = Enumerable.Range(0, 6).Select(_ => p.Memory.Allocate(Page)).Reverse().ToArray(); // descending addresses
        var data = NvmeTestPlatform.Pattern(6 * Page, 3);
        for (int i = 0; i < 6; i++) p.HostWrite(pages[i], data[(i * Page)..((i + 1) * Page)]);
        var prps = d.BuildPrps(pages, 0, 6 * Page);
        Assert.That(prps.ListPages, Has.Length.EqualTo(1));
        var w = d.ExecuteIo(1, Rw(NvmeIoOpcode.Write, 1000, 48, prps.Prp1, prps.Prp2));
        Assert.That(w.Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(Backend(p, 1000, 6 * Page), Is.EqualTo(data));
        // Read back into other scattered pages.
        var back = Enumerable.Range(0, 6).Select(_ => p.Memory.Allocate(Page)).ToArray();
        var rp = d.BuildPrps(back, 0, 6 * Page);
        Assert.That(d.ExecuteIo(1, Rw(NvmeIoOpcode.Read, 1000, 48, rp.Prp1, rp.Prp2)).Status, Is.EqualTo(NvmeStatus.Success));
        for (int i = 0; i < 6; i++) Assert.That(p.HostRead(back[i], Page), Is.EqualTo(data[(i * Page)..((i + 1) * Page)]), $"page {i}");
    }

    [TestCase(Page - 16, TestName = "PrpList_ChainedAtTheLastEntryOfAListPage_OneDataEntryBeforeTheChain")]
    [TestCase(Page - 8, TestName = "PrpList_ChainedAtTheLastEntryOfAListPage_OnlyTheChainPointer")]
    [TestCase(Page - 24, TestName = "PrpList_ChainedAtTheLastEntryOfAListPage_TwoDataEntriesBeforeTheChain")]
    public void PrpList_Chained(int listOffset)
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        // 7 pages with a 0x100 offset: 8 pages touched, 7 of them through the (chained) list.
        int length = 7 * Page;
        var pages = Enumerable.Range(0, 8).Select(_ => p.Memory.Allocate(Page)).ToArray();
        var data = NvmeTestPlatform.Pattern(length, 4);
        var prps = d.BuildPrps(pages, 0x100, length, listOffset);
        Assert.That(prps.ListPages, Has.Length.EqualTo(2), "the list continues on a second list page");
        // Scatter the data as the PRPs describe it.
        int at = 0;
        for (int i = 0; i < 8; i++)
        {
            int start = i == 0 ? 0x100 : 0, n = Math.Min(Page - start, length - at);
            p.HostWrite(pages[i] + (ulong)start, data[at..(at + n)]);
            at += n;
        }
        var w = d.ExecuteIo(1, Rw(NvmeIoOpcode.Write, 2048, 56, prps.Prp1, prps.Prp2));
        Assert.That(w.Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(Backend(p, 2048, length), Is.EqualTo(data));
        ulong back = p.Memory.Allocate((ulong)length);
        Assert.That(d.Read(1, 2048, 56, back).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(p.HostRead(back, length), Is.EqualTo(data));
    }

    [Test]
    public void LargestTransfer_MdtsPages_Succeeds_OneBlockMore_IsInvalidField()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        int max = p.Controller.MaxTransferBytes;
        Assert.That(max, Is.EqualTo(32 * Page), "MDTS 5 in 4 KiB units");
        Assert.That(d.Controller!.Mdts, Is.EqualTo(5));
        ulong buf = p.Memory.Allocate((ulong)max + Page);
        var data = NvmeTestPlatform.Pattern(max, 5);
        p.HostWrite(buf, data);
        Assert.That(d.Write(1, 0, max / 512, buf).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(Backend(p, 0, max), Is.EqualTo(data));
        Assert.That(d.Write(1, 0, max / 512 + 1, buf).Status, Is.EqualTo(NvmeStatus.InvalidFieldInCommand));
    }

    [Test]
    public void Flush_DrainsTheBackend_WithAndWithoutTheVolatileCache()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        long before = p.Ns1.Flushes;
        Assert.That(d.Flush(1).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(p.Ns1.Flushes, Is.EqualTo(before + 1));
        Assert.That(d.Flush(0xFFFF_FFFF).Status, Is.EqualTo(NvmeStatus.Success), "broadcast flush (VWC bits 2:1 = 11b)");
        Assert.That(p.Ns1.Flushes, Is.EqualTo(before + 2));
        ulong buf = p.Memory.Allocate(Page);
        // Force Unit Access: the write is durable before completion.
        var fua = Rw(NvmeIoOpcode.Write, 0, 1, buf);
        fua.Cdw12 |= 1u << 30;
        Assert.That(d.ExecuteIo(1, fua).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(p.Ns1.Flushes, Is.EqualTo(before + 3));
        // Cache disabled: every write is flushed, and Flush itself has nothing to do.
        Assert.That(d.ExecuteAdmin(new NvmeSubmission { Opcode = NvmeAdminOpcode.SetFeatures, Cdw10 = NvmeFeatureId.VolatileWriteCache, Cdw11 = 0 }).Status,
            Is.EqualTo(NvmeStatus.Success));
        Assert.That(d.Write(1, 0, 1, buf).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(p.Ns1.Flushes, Is.EqualTo(before + 4));
        Assert.That(d.Flush(1).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(p.Ns1.Flushes, Is.EqualTo(before + 4));
    }

    [Test]
    public void WriteZeroes_ZeroesExactlyTheRange()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        p.Ns1.Poke(0, NvmeTestPlatform.Pattern(16 * 512, 6));
        Assert.That(d.WriteZeroes(1, 4, 8).Status, Is.EqualTo(NvmeStatus.Success));
        var all = Backend(p, 0, 16 * 512);
        Assert.That(all[(4 * 512)..(12 * 512)], Is.All.Zero);
        Assert.That(all[..(4 * 512)], Is.EqualTo(NvmeTestPlatform.Pattern(16 * 512, 6)[..(4 * 512)]));
        Assert.That(all[(12 * 512)..], Is.EqualTo(NvmeTestPlatform.Pattern(16 * 512, 6)[(12 * 512)..]));
        Assert.That(p.Ns1.WriteZeroesCount, Is.EqualTo(1));
    }

    [Test]
    public void DatasetManagement_DeallocatesEachRange_ReadsZerosAfterwards()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        p.Ns1.Poke(0, NvmeTestPlatform.Pattern(64 * 512, 8));
        Assert.That(d.Deallocate(1, [(2, 2), (10, 5), (40, 0)]).Status, Is.EqualTo(NvmeStatus.Success));
        var all = Backend(p, 0, 64 * 512);
        var orig = NvmeTestPlatform.Pattern(64 * 512, 8);
        for (int b = 0; b < 64; b++)
        {
            bool gone = b is >= 2 and < 4 or >= 10 and < 15;
            if (gone) Assert.That(all[(b * 512)..((b + 1) * 512)], Is.All.Zero, $"block {b}");
            else Assert.That(all[(b * 512)..((b + 1) * 512)], Is.EqualTo(orig[(b * 512)..((b + 1) * 512)]), $"block {b}");
        }
        Assert.That(p.Ns1.Deallocates, Is.EqualTo(2), "a zero-length range is skipped");
    }

    [Test]
    public void DatasetManagement_AnyRangeOutOfRange_FailsWithoutTouchingTheOthers()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        p.Ns1.Poke(0, NvmeTestPlatform.Pattern(512, 9));
        var c = d.Deallocate(1, [(0, 1), (NvmeTestPlatform.Ns1Blocks - 1, 2)]);
        Assert.That(c.Status, Is.EqualTo(NvmeStatus.LbaOutOfRange));
        Assert.That(Backend(p, 0, 512), Is.EqualTo(NvmeTestPlatform.Pattern(512, 9)));
        Assert.That(p.Ns1.Deallocates, Is.Zero);
    }

    [Test]
    public void LbaRange_LastBlockIsFine_OneBeyondIsLbaOutOfRange()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        ulong buf = p.Memory.Allocate(Page);
        Assert.That(d.ExecuteIo(1, Rw(NvmeIoOpcode.Read, NvmeTestPlatform.Ns1Blocks - 8, 8, buf)).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(d.ExecuteIo(1, Rw(NvmeIoOpcode.Read, NvmeTestPlatform.Ns1Blocks - 7, 8, buf)).Status, Is.EqualTo(NvmeStatus.LbaOutOfRange));
        Assert.That(d.ExecuteIo(1, Rw(NvmeIoOpcode.Write, ulong.MaxValue, 1, buf)).Status, Is.EqualTo(NvmeStatus.LbaOutOfRange), "no wrap-around");
        Assert.That(d.WriteZeroes(1, NvmeTestPlatform.Ns1Blocks, 1).Status, Is.EqualTo(NvmeStatus.LbaOutOfRange));
    }

    [TestCase(0u, TestName = "Nsid0_IsInvalidNamespaceOrFormat")]
    [TestCase(2u, TestName = "AllocatedButNotAttachedNamespace_IsInvalidNamespaceOrFormat")]
    [TestCase(3u, TestName = "UnallocatedNamespace_IsInvalidNamespaceOrFormat")]
    [TestCase(17u, TestName = "NsidBeyondNn_IsInvalidNamespaceOrFormat")]
    [TestCase(0xFFFF_FFFFu, TestName = "BroadcastNsidOnRead_IsInvalidNamespaceOrFormat")]
    public void InactiveNamespace(uint nsid)
    {
        var p = new NvmeTestPlatform();
        var other = new MemoryNamespaceBackend(64);
        p.Subsystem.AddNamespace(2, other);
        var d = p.ReadyDriver();
        ulong buf = p.Memory.Allocate(Page);
        var c = d.ExecuteIo(1, Rw(NvmeIoOpcode.Write, 0, 1, buf, nsid: nsid));
        Assert.That(c.Status, Is.EqualTo(NvmeStatus.InvalidNamespaceOrFormat));
        Assert.That(c.Status.DoNotRetry, Is.True);
        Assert.That(other.Writes, Is.Zero, "a namespace not attached to this controller is never touched");
    }

    [Test]
    public void UnknownOpcode_IsInvalidCommandOpcode()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        Assert.That(d.ExecuteIo(1, new NvmeSubmission { Opcode = 0x7F, Nsid = 1 }).Status, Is.EqualTo(NvmeStatus.InvalidCommandOpcode));
        Assert.That(d.ExecuteIo(1, new NvmeSubmission { Opcode = 0x05, Nsid = 1 }).Status, Is.EqualTo(NvmeStatus.InvalidCommandOpcode), "Compare is not supported");
    }

    [Test]
    public void SglOrFusedCommands_AreInvalidField()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        ulong buf = p.Memory.Allocate(Page);
        var sgl = Rw(NvmeIoOpcode.Read, 0, 1, buf);
        sgl.Flags = 1 << 6; // PSDT 01b
        Assert.That(d.ExecuteIo(1, sgl).Status, Is.EqualTo(NvmeStatus.InvalidFieldInCommand));
        var fused = Rw(NvmeIoOpcode.Read, 0, 1, buf);
        fused.Flags = 1; // FUSE 01b
        Assert.That(d.ExecuteIo(1, fused).Status, Is.EqualTo(NvmeStatus.InvalidFieldInCommand));
    }

    [Test]
    public void Prp1NotDwordAligned_IsPrpOffsetInvalid()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        ulong buf = p.Memory.Allocate(Page);
        Assert.That(d.ExecuteIo(1, Rw(NvmeIoOpcode.Read, 0, 1, buf + 2)).Status, Is.EqualTo(NvmeStatus.PrpOffsetInvalid));
    }

    [Test]
    public void Prp2DataPointerWithOffset_IsPrpOffsetInvalid()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        ulong a = p.Memory.Allocate(Page), b = p.Memory.Allocate(Page);
        Assert.That(d.ExecuteIo(1, Rw(NvmeIoOpcode.Write, 0, 8, a + 0x800, b + 0x200)).Status, Is.EqualTo(NvmeStatus.PrpOffsetInvalid));
        Assert.That(p.Ns1.Writes, Is.Zero, "nothing reached the namespace");
    }

    [Test]
    public void PrpListEntryWithOffset_IsPrpOffsetInvalid()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        var pages = Enumerable.Range(0, 3).Select(_ => p.Memory.Allocate(Page)).ToArray();
        var prps = d.BuildPrps(pages, 0, 3 * Page);
        // Corrupt the second list entry with an offset.
        p.HostWrite(prps.Prp2 + 8, BitConverter.GetBytes(pages[2] + 0x10));
        Assert.That(d.ExecuteIo(1, Rw(NvmeIoOpcode.Read, 0, 24, prps.Prp1, prps.Prp2)).Status, Is.EqualTo(NvmeStatus.PrpOffsetInvalid));
    }

    [Test]
    public void PrpListPointerNotQwordAligned_IsPrpOffsetInvalid()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        var pages = Enumerable.Range(0, 3).Select(_ => p.Memory.Allocate(Page)).ToArray();
        var prps = d.BuildPrps(pages, 0, 3 * Page);
        Assert.That(d.ExecuteIo(1, Rw(NvmeIoOpcode.Read, 0, 24, prps.Prp1, prps.Prp2 + 4)).Status, Is.EqualTo(NvmeStatus.PrpOffsetInvalid));
    }

    [Test]
    public void ChainPointerWithOffset_IsPrpOffsetInvalid()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        var pages = Enumerable.Range(0, 4).Select(_ => p.Memory.Allocate(Page)).ToArray();
        var prps = d.BuildPrps(pages, 0, 4 * Page, listOffset: Page - 16);
        // The list: [page1][chain] in the first list page. Give the chain pointer an offset.
        var chain = BinaryPrimitives.ReadUInt64LittleEndian(p.HostRead(prps.Prp2 + 8, 8));
        p.HostWrite(prps.Prp2 + 8, BitConverter.GetBytes(chain + 8));
        Assert.That(d.ExecuteIo(1, Rw(NvmeIoOpcode.Read, 0, 32, prps.Prp1, prps.Prp2)).Status, Is.EqualTo(NvmeStatus.PrpOffsetInvalid));
    }

    [Test]
    public void DataOutsideHostRam_IsDataTransferError_AndOtherQueuesCarryOn()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver(new NvmeDriverOptions { IoQueuePairs = 2 });
        const ulong NotRam = 0x2000_0000; // RAM is [0, 256 MiB)
        var c = d.ExecuteIo(1, Rw(NvmeIoOpcode.Read, 0, 8, NotRam));
        Assert.That(c.Status, Is.EqualTo(NvmeStatus.DataTransferError));
        Assert.That(c.Status.DoNotRetry, Is.False, "a transfer error may succeed on retry");
        Assert.That(d.ExecuteIo(1, Rw(NvmeIoOpcode.Write, 0, 8, NotRam)).Status, Is.EqualTo(NvmeStatus.DataTransferError));
        Assert.That(p.Ns1.Writes, Is.Zero, "no data was fetched, so nothing was written");
        // The PRP list itself outside RAM.
        ulong buf = p.Memory.Allocate(Page);
        Assert.That(d.ExecuteIo(2, Rw(NvmeIoOpcode.Read, 0, 24, buf, NotRam)).Status, Is.EqualTo(NvmeStatus.DataTransferError));
        Assert.That(p.Controller.IsFatal, Is.False);
        // Both queues keep working.
        p.HostWrite(buf, NvmeTestPlatform.Pattern(512, 10));
        Assert.That(d.Write(1, 5, 1, buf, qid: 1).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(d.Read(1, 5, 1, buf + 2048, qid: 2).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(p.HostRead(buf + 2048, 512), Is.EqualTo(NvmeTestPlatform.Pattern(512, 10)));
    }

    [Test]
    public void BackendMediaErrors_AreReportedAndCounted()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        ulong buf = p.Memory.Allocate(Page);
        p.Ns1.InjectReadStatus = NvmeStatus.UnrecoveredReadError;
        var c = d.Read(1, 33, 1, buf);
        Assert.That(c.Status, Is.EqualTo(NvmeStatus.UnrecoveredReadError));
        Assert.That(c.Status.Type, Is.EqualTo(NvmeStatusCodeType.MediaAndDataIntegrity));
        p.Ns1.InjectReadStatus = null;
        p.Ns1.InjectWriteStatus = NvmeStatus.WriteFault;
        Assert.That(d.Write(1, 34, 1, buf).Status, Is.EqualTo(NvmeStatus.WriteFault));
        var smart = NvmeLogs.Read(d, NvmeLogPageId.SmartHealth, 512);
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(smart.AsSpan(160)), Is.EqualTo(2UL), "Media and Data Integrity Errors");
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(smart.AsSpan(176)), Is.EqualTo(2UL), "Number of Error Information Log Entries");
    }

    [Test]
    public void FailedCommands_LeaveErrorLogEntries_NewestFirst()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        ulong buf = p.Memory.Allocate(Page);
        var q = d.IoQueue(1);
        ushort cid1 = d.Submit(q, Rw(NvmeIoOpcode.Read, NvmeTestPlatform.Ns1Blocks, 1, buf));
        Assert.That(d.WaitFor(q, cid1).Status, Is.EqualTo(NvmeStatus.LbaOutOfRange));
        ushort cid2 = d.Submit(q, new NvmeSubmission { Opcode = 0x7E, Nsid = 1 });
        Assert.That(d.WaitFor(q, cid2).Status, Is.EqualTo(NvmeStatus.InvalidCommandOpcode));
        var log = NvmeLogs.Read(d, NvmeLogPageId.ErrorInformation, 3 * 64);
        // Entry 0: the invalid opcode (newest).
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(log), Is.EqualTo(2UL), "Error Count");
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(log.AsSpan(8)), Is.EqualTo(1), "SQID");
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(log.AsSpan(10)), Is.EqualTo(cid2), "CID");
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(log.AsSpan(12)) >> 1, Is.EqualTo(NvmeStatus.InvalidCommandOpcode.Field), "Status Field (bits 15:1)");
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(log.AsSpan(14)), Is.EqualTo(0), "Parameter Error Location: byte 0 (opcode)");
        // Entry 1: the LBA out of range, with its LBA and NSID.
        var e1 = log.AsSpan(64);
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(e1), Is.EqualTo(1UL));
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(e1[10..]), Is.EqualTo(cid1));
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(e1[16..]), Is.EqualTo(NvmeTestPlatform.Ns1Blocks), "LBA");
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(e1[24..]), Is.EqualTo(1u), "NSID");
        // Entry 2: unused, Error Count 0.
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(log.AsSpan(128)), Is.Zero);
    }

    [Test]
    public void FourKibBlockNamespace_RoundTrip()
    {
        var p = new NvmeTestPlatform();
        var big = new MemoryNamespaceBackend(1024, 4096);
        p.Subsystem.AddNamespace(2, big);
        p.Subsystem.Attach(2, p.Controller.ControllerId);
        var d = p.ReadyDriver();
        Assert.That(d.Namespaces[2].BlockSize, Is.EqualTo(4096));
        ulong buf = p.Memory.Allocate(3 * Page);
        var data = NvmeTestPlatform.Pattern(3 * Page, 11);
        p.HostWrite(buf, data);
        Assert.That(d.Write(2, 1021, 3, buf).Status, Is.EqualTo(NvmeStatus.Success));
        var stored = new byte[3 * Page];
        big.Peek(1021 * 4096UL, stored);
        Assert.That(stored, Is.EqualTo(data));
        Assert.That(d.Write(2, 1022, 3, buf).Status, Is.EqualTo(NvmeStatus.LbaOutOfRange));
    }
}

/// <summary>Get Log Page through a driver.</summary>
internal static class NvmeLogs
{
    public static byte[] Read(NvmeDriver d, byte lid, int bytes, uint nsid = 0xFFFF_FFFF, bool retain = false, ulong offset = 0)
    {
        var c = ReadRaw(d, lid, bytes, out var data, nsid, retain, offset);
        Assert.That(c.Status, Is.EqualTo(NvmeStatus.Success), $"Get Log Page 0x{lid:x2}");
        return data;
    }

    public static NvmeCompletion ReadRaw(NvmeDriver d, byte lid, int bytes, out byte[] data, uint nsid = 0xFFFF_FFFF, bool retain = false, ulong offset = 0)
    {
        var mem = d.Memory;
        ulong buf = mem.Allocate((ulong)Math.Max(bytes, 4096));
        var prps = d.BuildPrps(buf, bytes);
        uint numd = (uint)(bytes / 4 - 1);
        var c = d.ExecuteAdmin(new NvmeSubmission
        {
            Opcode = NvmeAdminOpcode.GetLogPage, Nsid = nsid, Prp1 = prps.Prp1, Prp2 = prps.Prp2,
            Cdw10 = lid | (retain ? 1u << 15 : 0) | (numd & 0xFFFF) << 16, Cdw11 = numd >> 16,
            Cdw12 = (uint)offset, Cdw13 = (uint)(offset >> 32),
        });
        d.ReleasePrps(prps);
        data = new byte[bytes];
        mem.Memory.Read(buf, data);
        mem.Free(buf);
        return c;
    }
}
