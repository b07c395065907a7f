using PcieVirt.Devices.Nvme;
using PcieVirt.Hypervisor.Storage;
using PcieVirt.Tests.Support;

namespace PcieVirt.Tests.Hypervisor.Storage;

/// <summary>
/// End to end on the platform: VMFS formatted on the RAID PF's namespace through the host block layer, a 64 MiB
/// thin disk, guest-style requests through <see cref="VirtualDisk"/> crossing file-block and pointer-block
/// boundaries; the data is checked on the volume at LBAs worked out by hand.
/// </summary>
[TestFixture]
public class VirtualDiskTests
{
    const int Kib = 1024, Mib = 1024 * 1024;
    const int Page = 4096;

    sealed class Setup
    {
        public Setup(bool thin = true, string driveSize = "64M")
        {
            Kit = new StorageTestKit(driveSize);
            Device = new HostBlockDevice(Kit.Layer);
            Volume = Vmfs.Format(Device, new VmfsFormatOptions { Seed = 7, Label = "pf-ds" });
            File = Volume.Create("guest1.vmdk", 64UL * Mib, thin);
            Sink = new RecordingSink();
            Disk = new VirtualDisk(File, Kit.Layer, Kit.Ram, Sink);
        }

        public StorageTestKit Kit { get; }
        public HostBlockDevice Device { get; }
        public Vmfs Volume { get; }
        public VmfsFile File { get; }
        public RecordingSink Sink { get; }
        public VirtualDisk Disk { get; }

        /// <summary>A guest buffer of <paramref name="bytes"/> as scattered pages, the first starting <paramref name="firstOffset"/> into its page.</summary>
        public HostSegment[] Buffer(int bytes, int firstOffset)
        {
            var segs = new List<HostSegment>();
            int left = bytes, offset = firstOffset;
            while (left > 0)
            {
                ulong page = Kit.Platform.Memory.Allocate(Page);
                Kit.Platform.Memory.Allocate(Page); // a gap: no two pages adjacent
                int n = Math.Min(left, Page - offset);
                segs.Add(new HostSegment(page + (ulong)offset, n));
                left -= n;
                offset = 0;
            }
            return [.. segs];
        }

        public NvmeStatus Run(VirtualDiskOp op, ulong offset, HostSegment[] segs, long token)
        {
            int before = Sink.Completions.Count;
            Assert.That(Disk.TrySubmit(new VirtualDiskRequest(op, offset, segs.Sum(s => s.Length), segs, token)), Is.True);
            for (int i = 0; i < 100 && Sink.Completions.Count == before; i++) Disk.Poll();
            Assert.That(Sink.Completions, Has.Count.EqualTo(before + 1));
            Assert.That(Sink.Completions[^1].Token, Is.EqualTo(token));
            return Sink.Completions[^1].Status;
        }
    }

    // The volume: RAID 5 of 4 x 64 MiB -> 192 MiB = 192 file blocks of 1 MiB, 256 descriptors.
    // Metadata: superblock, bitmap (1), pointer-block bitmap (1), descriptors (256/8 = 32), pointer blocks
    // (192/1024 -> 1, + 256 = 257): 292 blocks of 4 KiB = 1168 KiB -> file blocks 0 and 1. The first data block is 2,
    // and thin blocks are handed out in order of first write. 2048 LBAs of 512 bytes per file block.
    const long LbasPerFileBlock = Mib / 512;

    [Test]
    public void Layout_OfThePfVolume_IsAsComputedByHand()
    {
        var s = new Setup();
        Assert.That(s.Kit.Volume.BlockCount, Is.EqualTo(3L * 64 * Mib / 512));
        Assert.That(s.Volume.FileBlockCount, Is.EqualTo(192u));
        Assert.That(s.Volume.MetadataFileBlocks, Is.EqualTo(2u));
        Assert.That(s.Volume.FreeFileBlocks, Is.EqualTo(190u));
    }

    [Test]
    public void WritesAndReads_CrossingFileBlocks_LandOnTheRightVolumeLbas()
    {
        var s = new Setup();
        // 1) 24 KiB at 1 MiB - 8 KiB, buffer starting mid-page: file blocks 0 and 1 -> volume blocks 2 and 3.
        var w1 = s.Buffer(24 * Kib, 512);
        var d1 = StorageTestKit.Pattern(24 * Kib, 1);
        s.Kit.Scatter(w1, d1);
        Assert.That(s.Run(VirtualDiskOp.Write, Mib - 8 * Kib, w1, 1), Is.EqualTo(NvmeStatus.Success));
        Assert.That(s.Kit.VolumeBytes(2 * LbasPerFileBlock + (Mib - 8 * Kib) / 512, 8 * Kib), Is.EqualTo(d1[..(8 * Kib)]));
        Assert.That(s.Kit.VolumeBytes(3 * LbasPerFileBlock, 16 * Kib), Is.EqualTo(d1[(8 * Kib)..]));

        // 2) 2 MiB + 8 KiB at 3 MiB - 4 KiB: file blocks 2..5 -> volume blocks 4..7; pieces above the 128 KiB maximum transfer.
        int len2 = 2 * Mib + 8 * Kib;
        var w2 = s.Buffer(len2, 1024);
        var d2 = StorageTestKit.Pattern(len2, 2);
        s.Kit.Scatter(w2, d2);
        long hostBefore = s.Disk.HostRequests;
        Assert.That(s.Run(VirtualDiskOp.Write, 3UL * Mib - 4 * Kib, w2, 2), Is.EqualTo(NvmeStatus.Success));
        // 4 KiB in block 2, 1 MiB (8 x 128 KiB) in 3, 1 MiB in 4, 4 KiB in 5.
        Assert.That(s.Disk.HostRequests - hostBefore, Is.EqualTo(1 + 8 + 8 + 1));
        Assert.That(s.Kit.VolumeBytes(4 * LbasPerFileBlock + (Mib - 4 * Kib) / 512, 4 * Kib), Is.EqualTo(d2[..(4 * Kib)]));
        Assert.That(s.Kit.VolumeBytes(5 * LbasPerFileBlock, Mib), Is.EqualTo(d2[(4 * Kib)..(4 * Kib + Mib)]));
        Assert.That(s.Kit.VolumeBytes(6 * LbasPerFileBlock, Mib), Is.EqualTo(d2[(4 * Kib + Mib)..(4 * Kib + 2 * Mib)]));
        Assert.That(s.Kit.VolumeBytes(7 * LbasPerFileBlock, 4 * Kib), Is.EqualTo(d2[(4 * Kib + 2 * Mib)..]));

        // 3) 8 KiB at 16 MiB - 4 KiB: file block 15 (last direct pointer) and 16 (first pointer-block entry) -> volume blocks 8, 9.
        var w3 = s.Buffer(8 * Kib, 0);
        var d3 = StorageTestKit.Pattern(8 * Kib, 3);
        s.Kit.Scatter(w3, d3);
        Assert.That(s.Run(VirtualDiskOp.Write, 16UL * Mib - 4 * Kib, w3, 3), Is.EqualTo(NvmeStatus.Success));
        Assert.That(s.Kit.VolumeBytes(8 * LbasPerFileBlock + (Mib - 4 * Kib) / 512, 4 * Kib), Is.EqualTo(d3[..(4 * Kib)]));
        Assert.That(s.Kit.VolumeBytes(9 * LbasPerFileBlock, 4 * Kib), Is.EqualTo(d3[(4 * Kib)..]));

        // Read everything back through the disk into differently laid-out buffers.
        var r1 = s.Buffer(24 * Kib, 2048);
        Assert.That(s.Run(VirtualDiskOp.Read, Mib - 8 * Kib, r1, 11), Is.EqualTo(NvmeStatus.Success));
        Assert.That(s.Kit.Gather(r1), Is.EqualTo(d1));
        var r2 = s.Buffer(len2, 0);
        Assert.That(s.Run(VirtualDiskOp.Read, 3UL * Mib - 4 * Kib, r2, 12), Is.EqualTo(NvmeStatus.Success));
        Assert.That(s.Kit.Gather(r2), Is.EqualTo(d2));
        var r3 = s.Buffer(8 * Kib, 3072);
        Assert.That(s.Run(VirtualDiskOp.Read, 16UL * Mib - 4 * Kib, r3, 13), Is.EqualTo(NvmeStatus.Success));
        Assert.That(s.Kit.Gather(r3), Is.EqualTo(d3));

        // The rest of a newly allocated block reads as zeros (blocks are zeroed when allocated).
        var r4 = s.Buffer(4 * Kib, 0);
        Assert.That(s.Run(VirtualDiskOp.Read, 2UL * Mib, r4, 14), Is.EqualTo(NvmeStatus.Success));
        Assert.That(s.Kit.Gather(r4), Is.All.Zero);

        Assert.That(s.File.AllocatedBlocks, Is.EqualTo(8));
        Assert.That(s.Disk.InFlight, Is.Zero);
        Assert.That(s.Disk.Errors, Is.Zero);

        // The metadata on the volume agrees after a fresh mount by another host.
        s.File.Close();
        var other = Vmfs.Mount(s.Device, hostId: 2);
        Assert.That(other.Files.Single().AllocatedBytes, Is.EqualTo(8UL * Mib));
        var f = other.Open("guest1.vmdk", 2);
        Assert.That(f.TryMap(16UL * Mib, 512, out ulong lba, out _), Is.True);
        Assert.That(lba, Is.EqualTo(9UL * LbasPerFileBlock));
    }

    [Test]
    public void HoleRead_IsZeros_WithoutDeviceIo()
    {
        var s = new Setup();
        var r = s.Buffer(12 * Kib, 512);
        foreach (var seg in r) s.Kit.Ram.Write(seg.Address, Enumerable.Repeat((byte)0xEE, seg.Length).ToArray());
        long submitted = s.Kit.Layer.Submitted;
        Assert.That(s.Run(VirtualDiskOp.Read, 40UL * Mib - 4 * Kib, r, 5), Is.EqualTo(NvmeStatus.Success));
        Assert.That(s.Kit.Gather(r), Is.All.Zero);
        Assert.That(s.Kit.Layer.Submitted, Is.EqualTo(submitted), "no host I/O for holes");
        Assert.That(s.Disk.HoleReads, Is.EqualTo(2), "two file blocks");
        Assert.That(s.File.AllocatedBlocks, Is.Zero, "reads never allocate");
    }

    [Test]
    public void PartlyAllocatedRead_MixesDataAndZeros()
    {
        var s = new Setup();
        var w = s.Buffer(4 * Kib, 0);
        var d = StorageTestKit.Pattern(4 * Kib, 8);
        s.Kit.Scatter(w, d);
        Assert.That(s.Run(VirtualDiskOp.Write, 5UL * Mib - 4 * Kib, w, 1), Is.EqualTo(NvmeStatus.Success));
        var r = s.Buffer(8 * Kib, 0);
        foreach (var seg in r) s.Kit.Ram.Write(seg.Address, Enumerable.Repeat((byte)0xEE, seg.Length).ToArray());
        Assert.That(s.Run(VirtualDiskOp.Read, 5UL * Mib - 4 * Kib, r, 2), Is.EqualTo(NvmeStatus.Success));
        var back = s.Kit.Gather(r);
        Assert.That(back[..(4 * Kib)], Is.EqualTo(d));
        Assert.That(back[(4 * Kib)..], Is.All.Zero);
    }

    [Test]
    public void EagerZeroedDisk_MapsFromTheFirstDataBlock()
    {
        var s = new Setup(thin: false);
        Assert.That(s.File.AllocatedBlocks, Is.EqualTo(64));
        Assert.That(s.Volume.FreeFileBlocks, Is.EqualTo(190u - 64));
        var w = s.Buffer(8 * Kib, 0);
        var d = StorageTestKit.Pattern(8 * Kib, 4);
        s.Kit.Scatter(w, d);
        Assert.That(s.Run(VirtualDiskOp.Write, 63UL * Mib + 4 * Kib, w, 1), Is.EqualTo(NvmeStatus.Success));
        // File block 63 -> volume block 2 + 63 = 65.
        Assert.That(s.Kit.VolumeBytes(65 * LbasPerFileBlock + 8, 8 * Kib), Is.EqualTo(d));
    }

    [Test]
    public void InvalidRequests_CompleteAtOnce_WithAStatus()
    {
        var s = new Setup();
        var b = s.Buffer(4 * Kib, 0);
        Assert.That(s.Run(VirtualDiskOp.Read, 64UL * Mib, b, 1), Is.EqualTo(NvmeStatus.LbaOutOfRange));
        Assert.That(s.Run(VirtualDiskOp.Read, 64UL * Mib - 2 * Kib, b, 2), Is.EqualTo(NvmeStatus.LbaOutOfRange));
        Assert.That(s.Run(VirtualDiskOp.Read, 100, b, 3), Is.EqualTo(NvmeStatus.InvalidFieldInCommand));
        Assert.That(s.Disk.TrySubmit(new VirtualDiskRequest(VirtualDiskOp.Read, 0, 8 * Kib, b, 4)), Is.True);
        Assert.That(s.Sink.Completions[^1], Is.EqualTo((4L, NvmeStatus.InvalidFieldInCommand)), "segments hold less than the length");
        var bad = s.Buffer(8 * Kib, 512); // three segments; make the middle one start mid-page
        bad[1] = new HostSegment(bad[1].Address + 512, bad[1].Length - 512);
        bad[2] = new HostSegment(bad[2].Address, bad[2].Length + 512);
        Assert.That(s.Run(VirtualDiskOp.Write, 0, bad, 5), Is.EqualTo(NvmeStatus.PrpOffsetInvalid));
        Assert.That(s.Disk.HostRequests, Is.Zero);
        Assert.That(s.Disk.Errors, Is.EqualTo(5));
        Assert.That(s.Run(VirtualDiskOp.Flush, 0, [], 6), Is.EqualTo(NvmeStatus.Success));
        Assert.That(s.Disk.HostRequests, Is.EqualTo(1));
    }

    [Test]
    public void FullHostQueue_RefusesTheWholeRequest_UntilPolled()
    {
        var s = new Setup(thin: false);
        // 2 MiB + 8 KiB = 18 pieces; 62 host slots -> three such requests fit, the fourth does not.
        int len = 2 * Mib + 8 * Kib;
        var bufs = Enumerable.Range(0, 4).Select(_ => s.Buffer(len, 0)).ToArray();
        for (int i = 0; i < 3; i++)
            Assert.That(s.Disk.TrySubmit(new VirtualDiskRequest(VirtualDiskOp.Read, 3UL * Mib - 4 * Kib, len, bufs[i], i)), Is.True);
        long host = s.Disk.HostRequests;
        Assert.That(s.Disk.TrySubmit(new VirtualDiskRequest(VirtualDiskOp.Read, 3UL * Mib - 4 * Kib, len, bufs[3], 3)), Is.False);
        Assert.That(s.Disk.HostRequests, Is.EqualTo(host), "nothing of the refused request was issued");
        Assert.That(s.Disk.QueueFullRejections, Is.EqualTo(1));
        Assert.That(s.Sink.Completions, Is.Empty, "completions wait for Poll");
        s.Disk.Poll();
        Assert.That(s.Sink.Completions.Select(c => c.Token), Is.EqualTo(new long[] { 0, 1, 2 }));
        Assert.That(s.Disk.TrySubmit(new VirtualDiskRequest(VirtualDiskOp.Read, 3UL * Mib - 4 * Kib, len, bufs[3], 3)), Is.True);
    }

    [Test]
    public void SteadyStateRequests_AllocateNothing()
    {
        var s = new Setup();
        var w = s.Buffer(64 * Kib, 512);
        // Warm-up: allocate the blocks the loop touches (thin allocation is metadata I/O, not the steady state).
        Assert.That(s.Run(VirtualDiskOp.Write, Mib - 32 * Kib, w, 0), Is.EqualTo(NvmeStatus.Success));
        void Round()
        {
            for (int i = 0; i < 8; i++)
            {
                s.Disk.TrySubmit(new VirtualDiskRequest(i % 2 == 0 ? VirtualDiskOp.Write : VirtualDiskOp.Read, Mib - 32 * Kib, 64 * Kib, w, i));
                s.Disk.Poll();
            }
            s.Disk.TrySubmit(new VirtualDiskRequest(VirtualDiskOp.Read, 50UL * Mib, 64 * Kib, w, 9)); // a hole
        }
        Round();
        s.Sink.Completions.Capacity = 10_000;
        Assert.That(Allocations.SteadyState(Round), Is.Zero);
    }

    [Test]
    public void ThinDisk_OnAFullVolume_CompletesWithCapacityExceeded()
    {
        // 4 x 8 MiB drives in RAID 5: 24 file blocks, 2 of them metadata (257 pointer blocks + 32 descriptor blocks
        // still fit in 2 MiB): 22 data blocks for a 64 MiB thin disk.
        var s = new Setup(driveSize: "8M");
        Assert.That(s.Volume.FreeFileBlocks, Is.EqualTo(22u));
        var w = s.Buffer(4 * Kib, 0);
        for (int i = 0; i < 22; i++) Assert.That(s.Run(VirtualDiskOp.Write, (ulong)i * Mib, w, i), Is.EqualTo(NvmeStatus.Success));
        Assert.That(s.Volume.FreeFileBlocks, Is.Zero);
        // A write over an allocated block and a hole: the first piece is written, the request fails.
        var w2 = s.Buffer(8 * Kib, 0);
        Assert.That(s.Run(VirtualDiskOp.Write, 22UL * Mib - 4 * Kib, w2, 100), Is.EqualTo(NvmeStatus.CapacityExceeded));
        Assert.That(s.Disk.InFlight, Is.Zero);
        Assert.That(s.Run(VirtualDiskOp.Write, 0, w, 101), Is.EqualTo(NvmeStatus.Success), "allocated blocks still take writes");
    }

    [Test]
    public void DeviceErrors_ReachTheGuest_FirstErrorWins()
    {
        var s = new Setup(thin: false);
        var r = s.Buffer(2 * Mib, 0);
        Assert.That(s.Kit.Platform.Device.Engine.FailDrive("d0").IsSuccess, Is.True);
        Assert.That(s.Kit.Platform.Device.Engine.FailDrive("d1").IsSuccess, Is.True); // RAID 5 survives one failure, not two
        Assert.That(s.Run(VirtualDiskOp.Read, 0, r, 1), Is.EqualTo(NvmeStatus.UnrecoveredReadError));
        Assert.That(s.Disk.Errors, Is.EqualTo(1));
        Assert.That(s.Kit.Layer.Errors, Is.GreaterThan(0));
    }
}
