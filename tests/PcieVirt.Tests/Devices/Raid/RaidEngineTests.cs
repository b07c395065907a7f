using PcieVirt.Devices.Media;
using PcieVirt.Devices.Raid;
using static PcieVirt.Tests.Devices.Raid.RaidTestKit;

namespace PcieVirt.Tests.Devices.Raid;

/// <summary>Management API: bad requests are refused with a clear message and change nothing; listing.</summary>
[TestFixture]
public class RaidEngineTests
{
    static EngineResult<RaidVolume> Create(RaidEngine engine, RaidLevel level, string[] members, int stripe = 64 * 1024,
        string name = "v", string[]? spares = null) =>
        engine.CreateVolume(new VolumeSpec { Name = name, Level = level, Members = members, StripeSizeBytes = stripe, Spares = spares ?? [] });

    [TestCase(RaidLevel.Raid1, 1, "RAID 1 needs at least 2 drives, 1 given")]
    [TestCase(RaidLevel.Raid5, 2, "RAID 5 needs at least 3 drives, 2 given")]
    [TestCase(RaidLevel.Raid6, 3, "RAID 6 needs at least 4 drives, 3 given")]
    [TestCase(RaidLevel.Raid10, 1, "RAID 10 needs at least 2 drives, 1 given")]
    public void TooFewMembers_Refused(RaidLevel level, int members, string message)
    {
        using RaidEngine engine = EngineWithDrives(4, 1024 * 1024);
        EngineResult<RaidVolume> r = Create(engine, level, Names(0, members));
        Assert.That(r.IsSuccess, Is.False);
        Assert.That(r.Error, Does.Contain(message));
        Assert.That(engine.Volumes, Is.Empty);
    }

    [TestCase(48 * 1024, "not a power of two")]
    [TestCase(0, "not a power of two")]
    [TestCase(256, "smaller than the 512-byte block")]
    [TestCase(32 * 1024 * 1024, "exceeds")]
    public void BadStripeSize_Refused(int stripe, string message)
    {
        using RaidEngine engine = EngineWithDrives(3, 1024 * 1024);
        Assert.That(Create(engine, RaidLevel.Raid5, Names(0, 3), stripe).Error, Does.Contain(message));
    }

    [Test]
    public void DriveAlreadyUsed_ListedTwice_Unknown_Failed_Refused()
    {
        using RaidEngine engine = EngineWithDrives(6, 1024 * 1024);
        Assert.That(Create(engine, RaidLevel.Raid1, ["d0", "d1"], name: "a").IsSuccess);
        Assert.Multiple(() =>
        {
            Assert.That(Create(engine, RaidLevel.Raid1, ["d1", "d2"], name: "b").Error, Is.EqualTo("volume 'b': drive 'd1' is already used by volume 'a'"));
            Assert.That(Create(engine, RaidLevel.Raid1, ["d2", "d2"], name: "b").Error, Is.EqualTo("volume 'b': drive 'd2' is listed twice"));
            Assert.That(Create(engine, RaidLevel.Raid1, ["d2", "x9"], name: "b").Error, Is.EqualTo("volume 'b': no drive 'x9'"));
            Assert.That(Create(engine, RaidLevel.Raid1, ["d2", "d3"], name: "a").Error, Is.EqualTo("volume 'a' already exists"));
        });
        engine.FailDrive("d5");
        Assert.That(Create(engine, RaidLevel.Raid1, ["d4", "d5"], name: "c").Error, Is.EqualTo("volume 'c': drive 'd5' has failed"));
        engine.AddSpare("d4");
        Assert.That(Create(engine, RaidLevel.Raid1, ["d3", "d4"], name: "c").Error, Does.Contain("already a hot spare"));
        Assert.That(engine.Volumes, Has.Count.EqualTo(1));
    }

    [Test]
    public void MixedBlockSizes_Refused()
    {
        using RaidEngine engine = EngineWithDrives(2, 1024 * 1024);
        engine.CreateDrive(new DriveSpec { Name = "big", BlockSize = 4096, CapacityBytes = 1024 * 1024 });
        Assert.That(Create(engine, RaidLevel.Raid5, ["d0", "d1", "big"]).Error, Does.Contain("'big' has 4096-byte blocks"));
    }

    [Test]
    public void BadDriveSpecs_Refused()
    {
        using var engine = new RaidEngine();
        Assert.Multiple(() =>
        {
            Assert.That(engine.CreateDrive(new DriveSpec { Name = "a", BlockSize = 1024, CapacityBytes = 1 << 20 }).Error, Does.Contain("not 512 or 4096"));
            Assert.That(engine.CreateDrive(new DriveSpec { Name = "a", CapacityBytes = 1000 }).Error, Does.Contain("not a multiple"));
            Assert.That(engine.CreateDrive(new DriveSpec { Name = "a" }).Error, Does.Contain("needs a capacity"));
            Assert.That(engine.CreateDrive(new DriveSpec { Name = "", CapacityBytes = 4096 }).Error, Does.Contain("needs a name"));
            Assert.That(engine.CreateDrive(new DriveSpec { Name = "a", ImagePath = "/nonexistent-dir-pcievirt/x.img", CapacityBytes = 4096 }).Error,
                Does.Contain("image file"));
        });
        Assert.That(engine.CreateDrive(new DriveSpec { Name = "a", CapacityBytes = 4096 }).IsSuccess);
        Assert.That(engine.CreateDrive(new DriveSpec { Name = "a", CapacityBytes = 4096 }).Error, Is.EqualTo("drive 'a' already exists"));
    }

    [Test]
    public void SpareRules()
    {
        using RaidEngine engine = EngineWithDrives(5, 1024 * 1024);
        engine.CreateDrive(new DriveSpec { Name = "tiny", CapacityBytes = 64 * 1024 });
        Assert.That(Create(engine, RaidLevel.Raid0, ["d0", "d1"], name: "r0", spares: ["d2"]).Error, Does.Contain("RAID 0 has no redundancy"));
        Assert.That(Create(engine, RaidLevel.Raid5, ["d0", "d1", "d2"], spares: ["tiny"]).Error, Does.Contain("'tiny' holds 128 blocks"));
        Assert.That(Create(engine, RaidLevel.Raid5, ["d0", "d1", "d2"], spares: ["d3"]).IsSuccess);
        Assert.That(engine.StartRebuild("v").Error, Is.EqualTo("volume 'v' has no missing member"));
        Assert.That(engine.ListDrives().Single(d => d.Name == "d3"), Is.EqualTo(
            new PhysicalDriveInfo("d3", DriveKind.NvmeFlash, 512, 2048, DriveState.Spare, "v", null)));
        Assert.That(engine.RemoveDrive("d3").Error, Does.Contain("hot spare"));
        Assert.That(engine.RemoveDrive("d0").Error, Does.Contain("member of volume 'v'"));
        Assert.That(engine.AddSpare("d0").Error, Is.EqualTo("drive 'd0' is member, not available"));
        Assert.That(engine.RemoveSpare("d3").IsSuccess);
        Assert.That(engine.FailDrive("d0").IsSuccess);
        Assert.That(engine.StartRebuild("v").Error, Does.Contain("no hot spare fits"));
        Assert.That(engine.ReplaceDrive("v", "tiny").Error, Does.Contain("'tiny' holds 128 blocks"));
        Assert.That(engine.ReplaceDrive("v", "d4").IsSuccess);
        Assert.That(engine.FailDrive("d0").Error, Is.EqualTo("drive 'd0' has already failed"));
    }

    [Test]
    public void Lists_ShowDriveAndVolumeStates()
    {
        using RaidEngine engine = EngineWithDrives(5, 1024 * 1024);
        Create(engine, RaidLevel.Raid5, Names(0, 4), stripe: 16 * 1024);
        engine.FailDrive("d2");
        engine.AddSpare("d4", "v");
        engine.StartRebuild("v");
        RaidVolume v = (RaidVolume)engine.FindVolume("v")!;
        v.RebuildStep(10);
        VolumeInfo info = engine.ListVolumes().Single();
        Assert.That(info with { Detail = "" }, Is.EqualTo(new VolumeInfo(1, "v", "raid5", VolumeState.Rebuilding, 3 * 2048, 512, 3 * 2048, false, true, "")));
        // 1 MiB drives, 16 KiB chunks: 64 rows.
        Assert.That(info.Detail, Is.EqualTo("chunk 16384 B: d0 d1 d4(rebuilding 10/64) d3"));
        Assert.That(engine.ListDrives().Select(d => (d.Name, d.State)), Is.EqualTo(new[]
        {
            ("d0", DriveState.Member), ("d1", DriveState.Member), ("d2", DriveState.Failed), ("d3", DriveState.Member), ("d4", DriveState.Member),
        }));
        Assert.That(engine.RemoveDrive("d2").IsSuccess, "a failed drive no volume uses can be removed");
    }

    [Test]
    public void VolumeIds_AreUniqueAndNotReused()
    {
        using RaidEngine engine = EngineWithDrives(4, 1024 * 1024);
        Assert.That(Create(engine, RaidLevel.Raid1, ["d0", "d1"], name: "a").Value!.Id, Is.EqualTo(1));
        engine.DeleteVolume("a");
        Assert.That(Create(engine, RaidLevel.Raid1, ["d0", "d1"], name: "b").Value!.Id, Is.EqualTo(2));
        Assert.That(engine.FindVolume(2)!.Name, Is.EqualTo("b"));
        Assert.That(engine.DeleteVolume("zzz").Error, Is.EqualTo("no volume 'zzz'"));
    }

    [Test]
    public void PoolAndSnapshotRequests_BadInputRefused()
    {
        using RaidEngine engine = EngineWithDrives(4, 1024 * 1024);
        Create(engine, RaidLevel.Raid1, ["d0", "d1"], name: "a");
        Create(engine, RaidLevel.Raid1, ["d2", "d3"], name: "b");
        Assert.Multiple(() =>
        {
            Assert.That(engine.CreatePool("p", "nope").Error, Does.Contain("no RAID volume 'nope'"));
            Assert.That(engine.CreatePool("p", "a", 3000).Error, Does.Contain("not a power of two"));
            Assert.That(engine.CreatePool("p", "a", 4 * 1024 * 1024).Error, Does.Contain("smaller than one extent"));
            Assert.That(engine.CreateThinVolume("t", "nope", 4096).Error, Does.Contain("no pool 'nope'"));
            Assert.That(engine.CreateSnapshot("s", "a", "nope").Error, Does.Contain("no pool 'nope'"));
        });
        Assert.That(engine.CreatePool("p", "a").IsSuccess);
        Assert.That(engine.CreatePool("p2", "a").Error, Does.Contain("already backs pool 'p'"));
        Assert.That(engine.CreateThinVolume("t", "p", 1000).Error, Does.Contain("not a positive multiple"));
        Assert.That(engine.CreateSnapshot("s", "a", "p").Error, Does.Contain("backs pool 'p'"));
        Assert.That(engine.CreateSnapshot("s", "b", "p").IsSuccess);
    }
}
