using System.Buffers.Binary;
using PcieVirt.Devices.Nvme;
using PcieVirt.Hypervisor.Storage;
using PcieVirt.Tests.Support;

namespace PcieVirt.Tests.Hypervisor.Storage;

/// <summary>
/// The host block layer over the reference driver and the RAID PF: PRP entries as the controller received them
/// (the submission queue entry and PRP list it fetched from host memory, NVMe Base 1.4 §4.3), data landing where
/// the segments say, queue-full behaviour, counters, the synchronous helpers.
/// </summary>
[TestFixture]
public class HostBlockLayerTests
{
    const int Page = 4096;

    /// <summary>The 64-byte entry the controller fetched for the last submission.</summary>
    static (byte Opcode, ulong Prp1, ulong Prp2, ulong Slba, uint Nlb) LastCommand(StorageTestKit k)
    {
        var q = k.Platform.PfDriver.IoQueue(1);
        int index = (q.SqTail - 1 + q.SqEntries) % q.SqEntries;
        var e = k.Peek(q.SqBase + (ulong)(index * 64), 64);
        return (e[0], BinaryPrimitives.ReadUInt64LittleEndian(e.AsSpan(24)), BinaryPrimitives.ReadUInt64LittleEndian(e.AsSpan(32)),
            BinaryPrimitives.ReadUInt64LittleEndian(e.AsSpan(40)), BinaryPrimitives.ReadUInt32LittleEndian(e.AsSpan(48)) & 0xFFFF);
    }

    static ulong[] PrpList(StorageTestKit k, ulong at, int entries)
    {
        var raw = k.Peek(at, entries * 8);
        var list = new ulong[entries];
        for (int i = 0; i < entries; i++) list[i] = BinaryPrimitives.ReadUInt64LittleEndian(raw.AsSpan(8 * i));
        return list;
    }

    /// <summary>Writes a pattern through <paramref name="segs"/>, checks the volume, reads it back into fresh copies of the layout.</summary>
    static void WriteAndVerify(StorageTestKit k, HostSegment[] segs, long lba)
    {
        int bytes = segs.Sum(s => s.Length);
        var data = StorageTestKit.Pattern(bytes, (int)lba);
        k.Scatter(segs, data);
        var sink = new RecordingSink();
        Assert.That(k.Layer.TrySubmit(new HostBlockRequest(HostBlockOp.Write, (ulong)lba, bytes / 512, segs, 77)), Is.True);
        Assert.That(k.Layer.Poll(sink), Is.EqualTo(1));
        Assert.That(sink.Completions, Is.EqualTo(new[] { (77L, NvmeStatus.Success) }));
        Assert.That(k.VolumeBytes(lba, bytes), Is.EqualTo(data), "the controller wrote the segments' bytes, in order, to the volume");
        // Read back into the same segments after clearing them.
        k.Scatter(segs, new byte[bytes]);
        Assert.That(k.Layer.TrySubmit(new HostBlockRequest(HostBlockOp.Read, (ulong)lba, bytes / 512, segs, 78)), Is.True);
        k.Layer.Poll(sink);
        Assert.That(sink.Completions[^1], Is.EqualTo((78L, NvmeStatus.Success)));
        Assert.That(k.Gather(segs), Is.EqualTo(data));
    }

    [Test]
    public void OnePage_UsesPrp1Only()
    {
        var k = new StorageTestKit();
        ulong a = k.Platform.Memory.Allocate(Page);
        HostSegment[] segs = [new(a, Page)];
        WriteAndVerify(k, segs, 100);
        var c = LastCommand(k);
        Assert.That((c.Opcode, c.Prp1, c.Prp2, c.Slba, c.Nlb), Is.EqualTo((NvmeIoOpcode.Read, a, 0UL, 100UL, 7u)));
        Assert.That(k.Layer.PrpListsBuilt, Is.Zero);
    }

    [Test]
    public void TwoScatteredPages_UsePrp1AndPrp2()
    {
        var k = new StorageTestKit();
        ulong a = k.Platform.Memory.Allocate(Page), gap = k.Platform.Memory.Allocate(Page), b = k.Platform.Memory.Allocate(Page);
        Assert.That(gap, Is.Not.Zero);
        HostSegment[] segs = [new(b, Page), new(a, Page)]; // out of address order on purpose
        WriteAndVerify(k, segs, 2000);
        var c = LastCommand(k);
        Assert.That((c.Prp1, c.Prp2), Is.EqualTo((b, a)));
    }

    [Test]
    public void MidPageStart_SpanningTwoPages_Prp2IsTheNextPage()
    {
        var k = new StorageTestKit();
        ulong a = k.Platform.Memory.Allocate(2 * Page);
        HostSegment[] segs = [new(a + 1024, Page)];
        WriteAndVerify(k, segs, 64);
        var c = LastCommand(k);
        Assert.That((c.Prp1, c.Prp2), Is.EqualTo((a + 1024, a + Page)));
    }

    [Test]
    public void MidPageStart_ThreePages_UsesAPrpList()
    {
        var k = new StorageTestKit();
        ulong a = k.Platform.Memory.Allocate(Page), b = k.Platform.Memory.Allocate(Page), c0 = k.Platform.Memory.Allocate(Page);
        HostSegment[] segs = [new(a + 512, Page - 512), new(c0, Page), new(b, 512)];
        WriteAndVerify(k, segs, 4096 + 3);
        var c = LastCommand(k);
        Assert.That(c.Prp1, Is.EqualTo(a + 512));
        Assert.That(c.Prp2 % Page, Is.Zero, "the list starts a pooled page");
        Assert.That(PrpList(k, c.Prp2, 2), Is.EqualTo(new[] { c0, b }));
        Assert.That(c.Nlb, Is.EqualTo(15u), "8 KiB = 16 blocks, 0's based");
    }

    [Test]
    public void MaximumTransfer_FromMidPage_ListHoldsEveryFurtherPage()
    {
        var k = new StorageTestKit();
        int max = k.Layer.MaxTransferBytes;
        Assert.That(max, Is.EqualTo(128 * 1024), "MDTS 5 of 4 KiB pages");
        int pages = max / Page + 1;
        // Every page separately allocated with a gap, so no two are adjacent.
        var addrs = new ulong[pages];
        for (int i = 0; i < pages; i++)
        {
            addrs[i] = k.Platform.Memory.Allocate(Page);
            k.Platform.Memory.Allocate(Page);
        }
        var segs = new HostSegment[pages];
        segs[0] = new HostSegment(addrs[0] + 2048, Page - 2048);
        for (int i = 1; i < pages - 1; i++) segs[i] = new HostSegment(addrs[i], Page);
        segs[^1] = new HostSegment(addrs[^1], 2048);
        WriteAndVerify(k, segs, 50_000);
        var c = LastCommand(k);
        Assert.That(c.Prp1, Is.EqualTo(addrs[0] + 2048));
        Assert.That(PrpList(k, c.Prp2, pages - 1), Is.EqualTo(addrs[1..]));
        Assert.That(k.Layer.PrpListsBuilt, Is.EqualTo(2));
    }

    [Test]
    public void MalformedSegments_AreRejected_WithAClearError()
    {
        var k = new StorageTestKit();
        ulong a = k.Platform.Memory.Allocate(4 * Page);
        Assert.That(Assert.Throws<ArgumentException>(() => k.Layer.TrySubmit(new HostBlockRequest(HostBlockOp.Write, 0, 8,
            [new(a, 2048), new(a + Page, 2048)], 1)))!.Message, Does.Contain("not on a page boundary"));
        Assert.That(Assert.Throws<ArgumentException>(() => k.Layer.TrySubmit(new HostBlockRequest(HostBlockOp.Write, 0, 8,
            [new(a, Page), new(a + Page + 512, Page - 512), new(a + 2 * Page, 512)], 1)))!.Message, Does.Contain("does not start on a page boundary"));
        Assert.That(Assert.Throws<ArgumentException>(() => k.Layer.TrySubmit(new HostBlockRequest(HostBlockOp.Write, 0, 8,
            [new(a, 2048)], 1)))!.Message, Does.Contain("segments hold 2048 bytes, the request 4096"));
        Assert.That(Assert.Throws<ArgumentException>(() => k.Layer.TrySubmit(new HostBlockRequest(HostBlockOp.Read, k.Layer.BlockCount - 1, 8,
            [new(a, Page)], 1)))!.Message, Does.Contain("outside namespace"));
        Assert.That(k.Layer.Submitted, Is.Zero);
    }

    [Test]
    public void FullQueue_RefusesUntilPolled()
    {
        var k = new StorageTestKit();
        ulong a = k.Platform.Memory.Allocate(Page);
        var layer = k.Layer;
        Assert.That(layer.Capacity, Is.EqualTo(62), "64-entry queue: 63 usable, one kept for the synchronous helpers");
        for (int i = 0; i < layer.Capacity; i++)
            Assert.That(layer.TrySubmit(new HostBlockRequest(HostBlockOp.Read, (ulong)i * 8, 8, [new(a, Page)], i)), Is.True);
        Assert.That(layer.TrySubmit(new HostBlockRequest(HostBlockOp.Read, 0, 8, [new(a, Page)], 999)), Is.False);
        Assert.That(layer.QueueFullRejections, Is.EqualTo(1));
        Assert.That(layer.InFlight, Is.EqualTo(62));
        // The synchronous helper still works (its own slot), leaving the others' completions for Poll.
        var buf = new byte[4096];
        Assert.That(layer.ReadSync(8, buf), Is.EqualTo(NvmeStatus.Success));
        var sink = new RecordingSink();
        Assert.That(layer.Poll(sink), Is.EqualTo(62));
        Assert.That(sink.Completions.Select(c => c.Token), Is.EqualTo(Enumerable.Range(0, 62).Select(i => (long)i)));
        Assert.That(layer.FreeSlots, Is.EqualTo(62));
        Assert.That((layer.Submitted, layer.Completed, layer.BytesRead, layer.Errors), Is.EqualTo((63L, 63L, 63L * 4096, 0L)));
    }

    [Test]
    public void SyncHelpers_SplitAtTheMaximumTransfer_AndReachTheVolume()
    {
        var k = new StorageTestKit();
        var data = StorageTestKit.Pattern(300 * 1024, 9);
        Assert.That(k.Layer.WriteSync(1000, data), Is.EqualTo(NvmeStatus.Success));
        Assert.That(k.Layer.Submitted, Is.EqualTo(3), "128 + 128 + 44 KiB");
        Assert.That(k.VolumeBytes(1000, data.Length), Is.EqualTo(data));
        var back = new byte[data.Length];
        Assert.That(k.Layer.ReadSync(1000, back), Is.EqualTo(NvmeStatus.Success));
        Assert.That(back, Is.EqualTo(data));
        Assert.That(k.Layer.FlushSync(), Is.EqualTo(NvmeStatus.Success));
        var dev = new HostBlockDevice(k.Layer);
        Assert.That((dev.BlockSize, dev.BlockCount), Is.EqualTo((512, (ulong)k.Volume.BlockCount)));
    }

    [Test]
    public void Completion_RaisesTheQueuesMsix_ThenPollReapsIt()
    {
        var k = new StorageTestKit();
        ulong a = k.Platform.Memory.Allocate(Page);
        var ic = k.Platform.Host.RootComplex.InterruptController;
        long before = ic.CountForVector(k.Layer.HostVector);
        Assert.That(k.Layer.TrySubmit(new HostBlockRequest(HostBlockOp.Read, 0, 8, [new(a, Page)], 5)), Is.True);
        Assert.That(ic.CountForVector(k.Layer.HostVector), Is.EqualTo(before + 1), "the I/O queue's MSI-X message reached the host");
        Assert.That(k.Layer.HostVector, Is.EqualTo((byte)(0x40 + 1)), "MSI-X entry 1 = queue 1, host vector FirstHostVector + 1");
        var sink = new RecordingSink();
        Assert.That(k.Layer.Poll(sink), Is.EqualTo(1));
        Assert.That(k.Layer.Poll(sink), Is.Zero, "nothing new");
        Assert.That(k.Layer.TrySubmit(new HostBlockRequest(HostBlockOp.Flush, 0, 0, default, 6)), Is.True);
        k.Layer.Poll(sink);
        Assert.That(sink.Completions, Is.EqualTo(new[] { (5L, NvmeStatus.Success), (6L, NvmeStatus.Success) }));
        Assert.That(k.Layer.UnexpectedCompletions, Is.Zero);
    }

    [Test]
    public void SubmitAndPoll_AllocateNothing_InSteadyState()
    {
        var k = new StorageTestKit();
        ulong a = k.Platform.Memory.Allocate(Page), b = k.Platform.Memory.Allocate(Page), c = k.Platform.Memory.Allocate(Page);
        var segs = new HostSegment[] { new(a + 512, Page - 512), new(b, Page), new(c, 512) };
        var sink = new CountingSink();
        void Round()
        {
            for (int i = 0; i < 16; i++) k.Layer.TrySubmit(new HostBlockRequest(i % 2 == 0 ? HostBlockOp.Write : HostBlockOp.Read, (ulong)i * 16, 16, segs, i));
            k.Layer.Poll(sink);
        }
        Round();
        Assert.That(Allocations.SteadyState(Round), Is.Zero);
        Assert.That(sink.Count, Is.GreaterThanOrEqualTo(32));
    }
}

/// <summary>
/// PRP lists longer than one page (chained through the last entry, NVMe Base 1.4 §4.3), on a stand-alone NVMe
/// function whose MDTS allows 4 MiB transfers (the RAID PF allows 128 KiB, one list page).
/// </summary>
[TestFixture]
public class HostBlockLayerChainedListTests
{
    [Test]
    public void ThreeMiBFromMidPage_ChainsTwoListPages()
    {
        var p = new PcieVirt.Tests.Devices.Nvme.NvmeTestPlatform(new NvmeControllerOptions { MaxDataTransferExponent = 10 });
        var driver = p.ReadyDriver();
        var layer = new HostBlockLayer(driver, 1, options: new HostBlockLayerOptions { MaxTransferBytes = 4 << 20 });
        Assert.That(layer.MaxTransferBytes, Is.EqualTo(4 << 20));
        const int Page = 4096, Bytes = 3 << 20;
        int pages = Bytes / Page + 1; // starts mid-page
        var addrs = new ulong[pages];
        for (int i = 0; i < pages; i++)
        {
            addrs[i] = p.Memory.Allocate(Page);
            p.Memory.Allocate(Page);
        }
        var segs = new HostSegment[pages];
        segs[0] = new HostSegment(addrs[0] + 1024, Page - 1024);
        for (int i = 1; i < pages - 1; i++) segs[i] = new HostSegment(addrs[i], Page);
        segs[^1] = new HostSegment(addrs[^1], 1024);
        var data = StorageTestKit.Pattern(Bytes, 5);
        int at = 0;
        foreach (var s in segs)
        {
            p.HostWrite(s.Address, data[at..(at + s.Length)]);
            at += s.Length;
        }
        Assert.That(layer.TrySubmit(new HostBlockRequest(HostBlockOp.Write, 16, Bytes / 512, segs, 1)), Is.True);
        var sink = new RecordingSink();
        Assert.That(layer.Poll(sink), Is.EqualTo(1));
        Assert.That(sink.Completions[0].Status, Is.EqualTo(NvmeStatus.Success));

        // What the controller fetched: PRP1 mid-page, PRP2 -> list page 1: 511 data entries and a pointer to list page 2.
        var q = driver.IoQueue(1);
        var sqe = p.HostRead(q.SqBase + (ulong)(((q.SqTail - 1 + q.SqEntries) % q.SqEntries) * 64), 64);
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(sqe.AsSpan(24)), Is.EqualTo(addrs[0] + 1024));
        ulong list1 = BinaryPrimitives.ReadUInt64LittleEndian(sqe.AsSpan(32));
        var l1 = p.HostRead(list1, Page);
        for (int i = 0; i < 511; i++) Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(l1.AsSpan(8 * i)), Is.EqualTo(addrs[1 + i]), $"entry {i}");
        ulong list2 = BinaryPrimitives.ReadUInt64LittleEndian(l1.AsSpan(8 * 511));
        Assert.That(list2 % Page, Is.Zero);
        var l2 = p.HostRead(list2, Page);
        for (int i = 0; i < pages - 512; i++) Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(l2.AsSpan(8 * i)), Is.EqualTo(addrs[512 + i]), $"entry {511 + i}");

        // And the data went where the segments said: read it back contiguously with the driver's own PRPs.
        ulong back = p.Memory.Allocate(Bytes);
        Assert.That(driver.Read(1, 16, Bytes / 512, back).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(p.HostRead(back, Bytes), Is.EqualTo(data));
    }
}
