using PcieVirt.Devices.Media;
using PcieVirt.Devices.Raid;
using static PcieVirt.Tests.Devices.Raid.RaidTestKit;

namespace PcieVirt.Tests.Devices.Raid;

/// <summary>Physical drives: sparse memory, image files, failure, and the latency models.</summary>
[TestFixture]
public class PhysicalDriveTests
{
    [Test]
    public void SparseStore_UntouchedReadsZero_PagesAllocatedOnFirstWrite_ReleasedWhenZeroedWhole()
    {
        var store = new SparseMemoryStore(1L << 40); // 1 TiB of address space costs nothing until written
        Assert.That(store.AllocatedBytes, Is.Zero);
        var buffer = new byte[100];
        Array.Fill(buffer, (byte)0xFF);
        store.Read(123_456_789, buffer);
        Assert.That(buffer, Is.All.Zero);
        Array.Fill(buffer, (byte)0xAB);
        store.Write(SparseMemoryStore.PageSize - 50, buffer); // straddles pages 0 and 1
        Assert.That(store.AllocatedBytes, Is.EqualTo(2 * SparseMemoryStore.PageSize));
        var back = new byte[100];
        store.Read(SparseMemoryStore.PageSize - 50, back);
        Assert.That(back, Is.All.EqualTo(0xAB));
        store.Zero(0, SparseMemoryStore.PageSize);               // page 0 whole: released
        Assert.That(store.AllocatedBytes, Is.EqualTo(SparseMemoryStore.PageSize));
        store.Zero(SparseMemoryStore.PageSize, 10);               // part of page 1: cleared in place
        store.Read(SparseMemoryStore.PageSize - 50, back);
        Assert.That(back.Take(60), Is.All.Zero);
        Assert.That(back.Skip(60), Is.All.EqualTo(0xAB));
    }

    [Test]
    public void FailedDrive_RefusesEveryRequest()
    {
        PhysicalDrive d = PhysicalDrive.CreateInMemory("d", DriveKind.NvmeFlash, 512, 1024, seed: 1);
        d.Fail();
        var b = new byte[512];
        Assert.Multiple(() =>
        {
            Assert.That(d.Read(0, 1, b).Status, Is.EqualTo(MediaStatus.DriveFailed));
            Assert.That(d.Write(0, 1, b).Status, Is.EqualTo(MediaStatus.DriveFailed));
            Assert.That(d.Flush().Status, Is.EqualTo(MediaStatus.DriveFailed));
            Assert.That(d.Trim(0, 1).Status, Is.EqualTo(MediaStatus.DriveFailed));
        });
    }

    [Test]
    public void Drive_OutOfRange()
    {
        PhysicalDrive d = PhysicalDrive.CreateInMemory("d", DriveKind.NvmeFlash, 4096, 16, seed: 1);
        Assert.That(d.Read(15, 2, new byte[8192]).Status, Is.EqualTo(MediaStatus.OutOfRange));
        Assert.That(d.Read(15, 1, new byte[4096]).Status, Is.EqualTo(MediaStatus.Success));
    }

    [Test]
    public void FileBackedDrives_RoundTripAcrossReopen_IncludingARaid1OnThem()
    {
        string dir = Path.Combine(Path.GetTempPath(), "pcievirt-raid-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string a = Path.Combine(dir, "a.img"), b = Path.Combine(dir, "b.img");
            byte[] data;
            using (var engine = new RaidEngine())
            {
                Assert.That(engine.CreateDrive(new DriveSpec { Name = "a", ImagePath = a, CapacityBytes = 1024 * 1024, BlockSize = 4096 }).IsSuccess);
                Assert.That(engine.CreateDrive(new DriveSpec { Name = "b", ImagePath = b, CapacityBytes = 1024 * 1024, BlockSize = 4096 }).IsSuccess);
                RaidVolume v = engine.CreateVolume(new VolumeSpec { Name = "m", Level = RaidLevel.Raid1, Members = ["a", "b"] }).Value!;
                data = FillRandom(v, 77);
                Assert.That(v.Flush().Status, Is.EqualTo(VolumeStatus.Success));
            }
            Assert.That(new FileInfo(a).Length, Is.EqualTo(1024 * 1024));
            Assert.That(File.ReadAllBytes(a).AsSpan(0, data.Length).SequenceEqual(data), Is.True, "RAID 1 member holds the volume at LBA 0");

            using (var engine = new RaidEngine())
            {
                // Capacity 0: take the existing file's size.
                EngineResult<PhysicalDrive> ra = engine.CreateDrive(new DriveSpec { Name = "a", ImagePath = a, BlockSize = 4096 });
                engine.CreateDrive(new DriveSpec { Name = "b", ImagePath = b, BlockSize = 4096 });
                Assert.That(ra.Value!.BlockCount, Is.EqualTo(256));
                Assert.That(ra.Value.ImagePath, Is.EqualTo(Path.GetFullPath(a)));
                RaidVolume v = engine.CreateVolume(new VolumeSpec { Name = "m", Level = RaidLevel.Raid1, Members = ["a", "b"] }).Value!;
                Assert.That(ReadAll(v), Is.EqualTo(data), "same members, same layout, same data after reopen");
                engine.FailDrive("a");
                Assert.That(ReadAll(v), Is.EqualTo(data), "served by b alone");
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void ImageFile_SmallerThanRequested_Refused()
    {
        string file = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(file, new byte[8192]);
            using var engine = new RaidEngine();
            Assert.That(engine.CreateDrive(new DriveSpec { Name = "x", ImagePath = file, CapacityBytes = 1024 * 1024 }).Error,
                Does.Contain("holds 8192 bytes, less than the 1048576 requested"));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Test]
    public void LatencyModels_SameSeedSameTimes_DifferentSeedDifferentTimes()
    {
        foreach (DriveKind kind in Enum.GetValues<DriveKind>())
        {
            long[] Run(ulong seed)
            {
                ILatencyModel m = PhysicalDrive.DefaultLatency(kind, 1 << 24, seed);
                var rng = new Random(3);
                return Enumerable.Range(0, 50).Select(_ => m.ServiceTime(MediaOperation.Read, rng.NextInt64(0, 1 << 24), 8, 512)).ToArray();
            }
            long[] first = Run(5), again = Run(5), other = Run(6);
            Assert.That(again, Is.EqualTo(first), kind.ToString());
            Assert.That(other, Is.Not.EqualTo(first), kind.ToString());
        }
    }

    [Test]
    public void SolidState_4KiBTimes_AroundTheAnchors()
    {
        // Anchors (spec-notes/raid-engine.md): NAND read 77 µs, write 13 µs; Optane read 8.9 µs; jitter ±10% / ±5%.
        var nand = new SolidStateLatencyModel(SolidStateLatencyParameters.NandFlash, 1);
        var optane = new SolidStateLatencyModel(SolidStateLatencyParameters.Optane, 1);
        double nandRead = Enumerable.Range(0, 2000).Average(_ => nand.ServiceTime(MediaOperation.Read, 0, 8, 512));
        double nandWrite = Enumerable.Range(0, 2000).Average(_ => nand.ServiceTime(MediaOperation.Write, 0, 8, 512));
        double optaneRead = Enumerable.Range(0, 2000).Average(_ => optane.ServiceTime(MediaOperation.Read, 0, 1, 4096));
        Assert.That(nandRead, Is.EqualTo(77_000).Within(1).Percent);
        Assert.That(nandWrite, Is.EqualTo(13_000).Within(1).Percent);
        Assert.That(optaneRead, Is.EqualTo(8_900).Within(1).Percent);
        // 128 KiB read: 4 KiB at the base latency + 124 KiB at 2.8 GB/s ≈ 45.3 µs more.
        long big = new SolidStateLatencyModel(SolidStateLatencyParameters.NandFlash with { Jitter = 0 }, 1)
            .ServiceTime(MediaOperation.Read, 0, 256, 512);
        Assert.That(big, Is.EqualTo(77_000 + (long)Math.Round(126_976 * 1e9 / 2.8e9)).Within(1));
    }

    [Test]
    public void Hdd_RandomReadsAverageSeekPlusHalfARevolution_SequentialReadsOnlyTransfer()
    {
        const long capacity = 1L << 31; // 1 TiB of 512-byte blocks
        var model = new HddLatencyModel(HddLatencyParameters.Enterprise7200, capacity, seed: 9);
        var rng = new Random(10);
        double random = Enumerable.Range(0, 20_000).Average(_ => model.ServiceTime(MediaOperation.Read, rng.NextInt64(0, capacity - 8), 8, 512));
        // Expected: 8.2 ms average seek + 4.17 ms (half of 60/7200 s) + 50 µs overhead + 4 KiB at 171 MB/s (24 µs) ≈ 12.44 ms.
        Assert.That(random, Is.EqualTo(12_440_000).Within(2).Percent);
        long start = 1000;
        model.ServiceTime(MediaOperation.Read, start, 8, 512);
        long sequential = model.ServiceTime(MediaOperation.Read, start + 8, 8, 512);
        Assert.That(sequential, Is.EqualTo(50_000 + (long)Math.Round(4096 * 1e9 / 171e6)).Within(1), "no seek, no rotation");
        Assert.That(model.FullStrokeSeekNs, Is.EqualTo(500_000 + (8_200_000 - 500_000) * 15 / 8));
    }

    [Test]
    public void HddVolume_RandomReadIsMilliseconds_FlashIsMicroseconds()
    {
        using RaidEngine hdd = EngineWithDrives(2, 64L * 1024 * 1024, kind: DriveKind.Hdd);
        using RaidEngine optane = EngineWithDrives(2, 64L * 1024 * 1024, kind: DriveKind.Optane);
        long Time(RaidEngine e) => CreateVolume(e, RaidLevel.Raid1, 2).Read(100_000, 8, new byte[4096]).ServiceTimeNs;
        Assert.That(Time(hdd), Is.GreaterThan(1_000_000));
        Assert.That(Time(optane), Is.InRange(8_000, 10_000));
    }
}
