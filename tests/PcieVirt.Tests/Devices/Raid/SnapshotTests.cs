using PcieVirt.Devices.Raid;
using static PcieVirt.Tests.Devices.Raid.RaidTestKit;

namespace PcieVirt.Tests.Devices.Raid;

/// <summary>Copy-on-write snapshots of RAID and thin volumes.</summary>
[TestFixture]
public class SnapshotTests
{
    const int Extent = 64 * 1024;
    const int ExtentBlocks = Extent / 512;

    /// <summary>Origin: RAID 1 on d0, d1 (1 MiB). Pool: RAID 5 on d2..d5 (3 MiB, 48 extents).</summary>
    static RaidEngine Setup(out RaidVolume origin)
    {
        RaidEngine engine = EngineWithDrives(6, 1024 * 1024);
        origin = engine.CreateVolume(new VolumeSpec { Name = "origin", Level = RaidLevel.Raid1, Members = ["d0", "d1"] }).Value!;
        engine.CreateVolume(new VolumeSpec { Name = "backing", Level = RaidLevel.Raid5, Members = ["d2", "d3", "d4", "d5"] });
        Assert.That(engine.CreatePool("pool", "backing", Extent).IsSuccess);
        return engine;
    }

    [Test]
    public void Snapshot_SeesOldData_AfterOriginIsOverwritten()
    {
        using RaidEngine engine = Setup(out RaidVolume origin);
        byte[] before = FillRandom(origin, 1);
        SnapshotVolume snap = engine.CreateSnapshot("snap", "origin", "pool").Value!;
        Assert.That(snap.AllocatedBlocks, Is.Zero, "nothing copied until the origin changes");
        byte[] after = FillRandom(origin, 2);
        Assert.That(ReadAll(snap), Is.EqualTo(before));
        Assert.That(ReadAll(origin), Is.EqualTo(after));
        Assert.That(snap.CopiedExtents, Is.EqualTo(origin.BlockCount / ExtentBlocks));
    }

    [Test]
    public void OriginWrite_CopiesOnlyTheTouchedExtent_Once()
    {
        using RaidEngine engine = Setup(out RaidVolume origin);
        byte[] before = FillRandom(origin, 3);
        SnapshotVolume snap = engine.CreateSnapshot("snap", "origin", "pool").Value!;
        var block = new byte[512];
        origin.Write(ExtentBlocks * 3 + 7, 1, block);
        origin.Write(ExtentBlocks * 3 + 9, 1, block);
        origin.Deallocate(ExtentBlocks * 5, ExtentBlocks);
        Assert.That(snap.CopiedExtents, Is.EqualTo(2));
        Assert.That(engine.FindPool("pool")!.AllocatedExtents, Is.EqualTo(2));
        Assert.That(ReadAll(snap), Is.EqualTo(before));
    }

    [Test]
    public void ReadOnlySnapshot_RefusesWrites()
    {
        using RaidEngine engine = Setup(out RaidVolume _);
        SnapshotVolume snap = engine.CreateSnapshot("snap", "origin", "pool").Value!;
        var block = new byte[512];
        Assert.That(snap.IsReadOnly, Is.True);
        Assert.That(snap.Write(0, 1, block).Status, Is.EqualTo(VolumeStatus.ReadOnly));
        Assert.That(snap.Deallocate(0, 1).Status, Is.EqualTo(VolumeStatus.ReadOnly));
        Assert.That(snap.WriteZeroes(0, 1).Status, Is.EqualTo(VolumeStatus.ReadOnly));
    }

    [Test]
    public void WritableSnapshot_DivergesFromOrigin_BothKeepTheirData()
    {
        using RaidEngine engine = Setup(out RaidVolume origin);
        byte[] before = FillRandom(origin, 4);
        SnapshotVolume clone = engine.CreateSnapshot("clone", "origin", "pool", writable: true).Value!;
        var mine = new byte[3 * 512];
        new Random(5).NextBytes(mine);
        Assert.That(clone.Write(ExtentBlocks + 100, 3, mine).Status, Is.EqualTo(VolumeStatus.Success));
        byte[] expectedClone = (byte[])before.Clone();
        mine.CopyTo(expectedClone, (ExtentBlocks + 100) * 512);
        Assert.That(ReadAll(clone), Is.EqualTo(expectedClone), "clone: its write over the copied extent");
        Assert.That(ReadAll(origin), Is.EqualTo(before), "origin unchanged by the clone's write");
        byte[] originNow = FillRandom(origin, 6);
        Assert.That(ReadAll(clone), Is.EqualTo(expectedClone), "clone unchanged by later origin writes");
        Assert.That(ReadAll(origin), Is.EqualTo(originNow));
    }

    [Test]
    public void SnapshotOfThinVolume_KeepsUnallocatedRangesZero()
    {
        using RaidEngine engine = Setup(out RaidVolume _);
        ThinVolume thin = engine.CreateThinVolume("thin", "pool", 8L * Extent).Value!;
        var data = new byte[512];
        Array.Fill(data, (byte)0x77);
        thin.Write(0, 1, data);
        SnapshotVolume snap = engine.CreateSnapshot("snap", "thin", "pool").Value!;
        Array.Fill(data, (byte)0x99);
        thin.Write(0, 1, data);
        thin.Write(4L * ExtentBlocks, 1, data);
        var back = new byte[512];
        snap.Read(0, 1, back);
        Assert.That(back, Is.All.EqualTo(0x77));
        snap.Read(4L * ExtentBlocks, 1, back);
        Assert.That(back, Is.All.Zero);
        thin.Read(4L * ExtentBlocks, 1, back);
        Assert.That(back, Is.All.EqualTo(0x99));
    }

    [Test]
    public void PoolExhaustion_InvalidatesTheSnapshot_OriginWritesStillSucceed()
    {
        using RaidEngine engine = EngineWithDrives(5, 1024 * 1024);
        RaidVolume origin = engine.CreateVolume(new VolumeSpec { Name = "origin", Level = RaidLevel.Raid1, Members = ["d0", "d1"] }).Value!;
        engine.CreateVolume(new VolumeSpec { Name = "small", Level = RaidLevel.Raid1, Members = ["d2", "d3"] });
        engine.CreatePool("pool", "small", 256 * 1024); // 4 extents of 256 KiB, origin has 4 as well
        engine.CreateThinVolume("hog", "pool", 256 * 1024).Value!.Write(0, 1, new byte[512]); // takes one extent
        SnapshotVolume snap = engine.CreateSnapshot("snap", "origin", "pool").Value!;
        byte[] data = FillRandom(origin, 7);
        Assert.That(ReadAll(origin), Is.EqualTo(data), "origin writes succeed although the snapshot overflowed");
        Assert.That(snap.IsInvalid, Is.True);
        Assert.That(snap.State, Is.EqualTo(VolumeState.Failed));
        Assert.That(snap.Read(0, 1, new byte[512]).Status, Is.EqualTo(VolumeStatus.MediaError));
        Assert.That(engine.FindPool("pool")!.AllocatedExtents, Is.EqualTo(1), "the invalid snapshot gave its extents back");
    }

    [Test]
    public void Deletion_OriginWithSnapshotsRefused_SnapshotDeletionFreesExtents()
    {
        using RaidEngine engine = Setup(out RaidVolume origin);
        FillRandom(origin, 8);
        engine.CreateSnapshot("snap", "origin", "pool");
        FillRandom(origin, 9);
        Assert.That(engine.DeleteVolume("origin").Error, Does.Contain("snapshot"));
        Assert.That(engine.CreateSnapshot("snap2", "snap", "pool").Error, Does.Contain("snapshots of snapshots"));
        Assert.That(engine.DeleteVolume("snap").IsSuccess);
        Assert.That(engine.FindPool("pool")!.AllocatedExtents, Is.Zero);
        Assert.That(engine.DeleteVolume("origin").IsSuccess);
        Assert.That(engine.DriveStateOf(engine.FindDrive("d0")!), Is.EqualTo(DriveState.Available));
    }
}
