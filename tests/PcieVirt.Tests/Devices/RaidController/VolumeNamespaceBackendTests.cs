using PcieVirt.Devices.Nvme;
using PcieVirt.Devices.Raid;
using PcieVirt.Tests.Devices.Raid;

namespace PcieVirt.Tests.Devices.RaidController;

/// <summary>A RAID volume as an NVMe namespace backend: data, statuses (spec-notes/raid-engine.md mapping), service time.</summary>
[TestFixture]
public class VolumeNamespaceBackendTests
{
    [Test]
    public void ReadWrite_GoToTheVolume_ServiceTimePassedThrough()
    {
        using var engine = RaidTestKit.EngineWithDrives(4, 4 << 20);
        var volume = RaidTestKit.CreateVolume(engine, RaidLevel.Raid5, 4);
        var ns = new VolumeNamespaceBackend(volume);
        Assert.That(ns.BlockSize, Is.EqualTo(512));
        Assert.That(ns.BlockCount, Is.EqualTo((ulong)volume.BlockCount));
        var data = new byte[4096];
        new Random(1).NextBytes(data);
        var w = ns.Write(10, data);
        Assert.That(w.Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(w.ServiceTimeNs, Is.GreaterThan(0UL), "the RAID engine models drive time");
        var direct = new byte[4096];
        Assert.That(volume.Read(10, 8, direct).IsSuccess, Is.True);
        Assert.That(direct, Is.EqualTo(data));
        var back = new byte[4096];
        var r = ns.Read(10, back);
        Assert.That(back, Is.EqualTo(data));
        Assert.That(r.Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(r.ServiceTimeNs, Is.GreaterThan(0UL));
    }

    [Test]
    public void WriteZeroes_AndDeallocate_ReadAsZeros()
    {
        using var engine = RaidTestKit.EngineWithDrives(2, 4 << 20);
        var ns = new VolumeNamespaceBackend(RaidTestKit.CreateVolume(engine, RaidLevel.Raid1, 2));
        var ones = Enumerable.Repeat((byte)0xFF, 8192).ToArray();
        ns.Write(0, ones);
        Assert.That(ns.WriteZeroes(0, 8).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(ns.Deallocate(8, 8).Status, Is.EqualTo(NvmeStatus.Success));
        var back = new byte[8192];
        ns.Read(0, back);
        Assert.That(back, Is.All.Zero);
        Assert.That(ns.Flush().Status, Is.EqualTo(NvmeStatus.Success));
    }

    [Test]
    public void FailedVolume_ReportsMediaErrors_ByDirection()
    {
        using var engine = RaidTestKit.EngineWithDrives(2, 4 << 20);
        var ns = new VolumeNamespaceBackend(RaidTestKit.CreateVolume(engine, RaidLevel.Raid0, 2));
        engine.FailDrive("d0");
        var buf = new byte[512 * 256];
        Assert.That(ns.Read(0, buf).Status, Is.EqualTo(NvmeStatus.UnrecoveredReadError));
        Assert.That(ns.Write(0, buf).Status, Is.EqualTo(NvmeStatus.WriteFault));
    }

    [TestCase(VolumeStatus.Success, false, 0, 0x00)]
    [TestCase(VolumeStatus.OutOfRange, false, 0, 0x80)]
    [TestCase(VolumeStatus.ReadOnly, true, 0, 0x20)]
    [TestCase(VolumeStatus.MediaError, false, 2, 0x81)]
    [TestCase(VolumeStatus.MediaError, true, 2, 0x80)]
    [TestCase(VolumeStatus.CapacityExceeded, true, 0, 0x81)]
    [TestCase(VolumeStatus.InvalidRequest, false, 0, 0x02)]
    public void StatusMapping_FollowsTheSpecTable(VolumeStatus status, bool write, int sct, int sc)
    {
        var s = VolumeNamespaceBackend.Map(status, write);
        Assert.That((int)s.Type, Is.EqualTo(sct));
        Assert.That(s.Code, Is.EqualTo((byte)sc));
    }

    [Test]
    public void ReadOnlySnapshot_RefusesWrites_WithWriteProtected()
    {
        using var engine = RaidTestKit.EngineWithDrives(4, 4 << 20);
        RaidTestKit.CreateVolume(engine, RaidLevel.Raid1, 2, name: "origin");
        engine.CreateVolume(new VolumeSpec { Name = "poolvol", Level = RaidLevel.Raid1, Members = ["d2", "d3"] });
        Assert.That(engine.CreatePool("p", "poolvol").IsSuccess, Is.True);
        var snap = engine.CreateSnapshot("s", "origin", "p");
        Assert.That(snap.IsSuccess, Is.True, snap.ToString());
        var ns = new VolumeNamespaceBackend(snap.Value!);
        Assert.That(ns.Write(0, new byte[512]).Status, Is.EqualTo(NvmeStatus.NamespaceWriteProtected));
    }
}
