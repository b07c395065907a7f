using PcieVirt.Devices.Media;
using PcieVirt.Devices.Raid;
using static PcieVirt.Tests.Devices.Raid.RaidTestKit;
using PcieVirt.Tests.Support;

namespace PcieVirt.Tests.Devices.Raid;

/// <summary>The IVolume contract the NVMe layer uses: statuses, zeroing, and the service-time composition.</summary>
[TestFixture]
public class VolumeRequestTests
{
    [TestCase(-1L, 1)]
    [TestCase(long.MinValue, 1)]
    [TestCase(3 * 2048L, 1)]
    [TestCase(3 * 2048L - 1, 2)]
    public void OutOfRange_Reported_ForReadWriteAndZeroing(long lba, int count)
    {
        using RaidEngine engine = EngineWithDrives(4, 1024 * 1024);
        IVolume v = CreateVolume(engine, RaidLevel.Raid5, 4);
        var buffer = new byte[count * 512];
        Assert.Multiple(() =>
        {
            Assert.That(v.Read(lba, count, buffer).Status, Is.EqualTo(VolumeStatus.OutOfRange));
            Assert.That(v.Write(lba, count, buffer).Status, Is.EqualTo(VolumeStatus.OutOfRange));
            Assert.That(v.Deallocate(lba, count).Status, Is.EqualTo(VolumeStatus.OutOfRange));
            Assert.That(v.WriteZeroes(lba, count).Status, Is.EqualTo(VolumeStatus.OutOfRange));
        });
    }

    [Test]
    public void LastBlock_IsInRange()
    {
        using RaidEngine engine = EngineWithDrives(4, 1024 * 1024);
        IVolume v = CreateVolume(engine, RaidLevel.Raid5, 4);
        Assert.That(v.Write(v.BlockCount - 1, 1, new byte[512]).Status, Is.EqualTo(VolumeStatus.Success));
    }

    [Test]
    public void ZeroCount_OrShortBuffer_IsAnInvalidRequest()
    {
        using RaidEngine engine = EngineWithDrives(2, 1024 * 1024);
        IVolume v = CreateVolume(engine, RaidLevel.Raid1, 2);
        Assert.That(v.Read(0, 0, new byte[512]).Status, Is.EqualTo(VolumeStatus.InvalidRequest));
        Assert.That(v.Read(0, 2, new byte[512]).Status, Is.EqualTo(VolumeStatus.InvalidRequest));
        Assert.That(v.Write(0, 2, new byte[1000]).Status, Is.EqualTo(VolumeStatus.InvalidRequest));
    }

    [TestCase(RaidLevel.Raid0, 3)]
    [TestCase(RaidLevel.Raid1, 2)]
    [TestCase(RaidLevel.Raid5, 4)]
    [TestCase(RaidLevel.Raid6, 5)]
    [TestCase(RaidLevel.Raid10, 4)]
    public void DeallocateAndWriteZeroes_ReadBackAsZeros_AcrossStripes(RaidLevel level, int members)
    {
        using RaidEngine engine = EngineWithDrives(members, 1024 * 1024);
        RaidVolume v = CreateVolume(engine, level, members, 16 * 1024);
        byte[] data = FillRandom(v, 3);
        // Spans partial and whole stripes (a RAID 6 x5 stripe holds 3 × 32 = 96 blocks).
        Assert.That(v.Deallocate(50, 700).Status, Is.EqualTo(VolumeStatus.Success));
        Assert.That(v.WriteZeroes(1000, 33).Status, Is.EqualTo(VolumeStatus.Success));
        Array.Clear(data, 50 * 512, 700 * 512);
        Array.Clear(data, 1000 * 512, 33 * 512);
        Assert.That(ReadAll(v), Is.EqualTo(data));
        if (v is ParityVolume p)
            AssertParityConsistent(engine, p);
    }

    [Test]
    public void Deallocate_OfWholeStripes_ReleasesDriveMemory()
    {
        using RaidEngine engine = EngineWithDrives(4, 1024 * 1024);
        RaidVolume v = CreateVolume(engine, RaidLevel.Raid5, 4, 64 * 1024);
        FillRandom(v, 1);
        long before = engine.Drives.Sum(d => d.AllocatedBytes);
        Assert.That(before, Is.EqualTo(4 * 1024 * 1024));
        v.Deallocate(0, (int)v.BlockCount);
        Assert.That(engine.Drives.Sum(d => d.AllocatedBytes), Is.Zero);
    }

    /// <summary>Every drive request costs a fixed time per drive: makes the composition visible.</summary>
    sealed class FixedLatency(long ns) : ILatencyModel
    {
        public long ServiceTime(MediaOperation operation, long lba, int count, int blockSize) => ns;
    }

    static RaidEngine FixedLatencyEngine(params long[] ns)
    {
        var engine = new RaidEngine();
        for (int i = 0; i < ns.Length; i++)
            engine.CreateDrive(new DriveSpec { Name = $"d{i}", CapacityBytes = 1024 * 1024, Latency = new FixedLatency(ns[i]) });
        return engine;
    }

    [Test]
    public void ServiceTime_Raid1Write_IsTheSlowestMember_ReadIsOneMember()
    {
        using RaidEngine engine = FixedLatencyEngine(10_000, 30_000);
        RaidVolume v = CreateVolume(engine, RaidLevel.Raid1, 2);
        var block = new byte[4096];
        Assert.That(v.Write(0, 8, block).ServiceTimeNs, Is.EqualTo(30_000), "writes to both mirrors in parallel");
        long first = v.Read(0, 8, block).ServiceTimeNs, second = v.Read(0, 8, block).ServiceTimeNs;
        Assert.That(new[] { first, second }, Is.EquivalentTo(new[] { 10_000L, 30_000L }), "reads alternate between the mirrors");
    }

    [Test]
    public void ServiceTime_Raid5SmallWrite_IsReadPhasePlusWritePhase()
    {
        using RaidEngine engine = FixedLatencyEngine(100, 100, 100, 100, 100);
        RaidVolume v = CreateVolume(engine, RaidLevel.Raid5, 5);
        // Read-modify-write: old data ‖ old P (parallel, 100) then new data ‖ new P (parallel, 100).
        Assert.That(v.Write(0, 8, new byte[4096]).ServiceTimeNs, Is.EqualTo(200));
        Assert.That(v.Read(0, 8, new byte[4096]).ServiceTimeNs, Is.EqualTo(100));
        // 3 chunks on 3 different drives in parallel.
        Assert.That(v.Read(0, 3 * 128, new byte[3 * 64 * 1024]).ServiceTimeNs, Is.EqualTo(100));
        engine.FailDrive("d4");
        Assert.That(v.Read(0, 8, new byte[4096]).ServiceTimeNs, Is.EqualTo(100), "d4 holds P of stripe 0; data still direct");
    }

    [Test]
    public void ServiceTime_Raid0_SameDriveTwice_Adds()
    {
        using RaidEngine engine = FixedLatencyEngine(100, 100);
        RaidVolume v = CreateVolume(engine, RaidLevel.Raid0, 2, 4096);
        // 8 blocks per chunk; 24 blocks = chunks 0, 1, 2 → d0, d1, d0: d0 serves two requests.
        Assert.That(v.Read(0, 24, new byte[24 * 512]).ServiceTimeNs, Is.EqualTo(200));
    }

    [Test]
    public void HotPath_4KiBReadsAndWrites_AllocateNothing()
    {
        foreach ((RaidLevel level, int n) in new[] { (RaidLevel.Raid0, 3), (RaidLevel.Raid1, 2), (RaidLevel.Raid5, 4) })
        {
            using RaidEngine engine = EngineWithDrives(n, 4 * 1024 * 1024);
            RaidVolume v = CreateVolume(engine, level, n);
            var block = new byte[4096];
            FillRandom(v, 1); // allocates every sparse page up front
            var rng = new Random(2);
            long[] lbas = Enumerable.Range(0, 1000).Select(_ => rng.NextInt64(0, v.BlockCount / 8) * 8).ToArray();
            foreach (long lba in lbas)
            {
                v.Write(lba, 8, block);
                v.Read(lba, 8, block);
            }
            long allocated = Allocations.SteadyState(() =>
            {
                foreach (long lba in lbas)
                {
                    v.Write(lba, 8, block);
                    v.Read(lba, 8, block);
                }
            });
            Assert.That(allocated, Is.Zero, level.ToString());
        }
    }
}
