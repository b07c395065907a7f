using PcieVirt.Devices.Raid;
using static PcieVirt.Tests.Devices.Raid.RaidTestKit;

namespace PcieVirt.Tests.Devices.Raid;

/// <summary>Degraded reads and writes after every single (RAID 1/5/10) and every double (RAID 6) failure, and rebuild.</summary>
[TestFixture]
public class DegradedAndRebuildTests
{
    const int Chunk = 16 * 1024;
    const long DriveBytes = 12 * Chunk;

    static IEnumerable<TestCaseData> SingleFailures()
    {
        foreach ((RaidLevel level, int n) in new[] { (RaidLevel.Raid1, 2), (RaidLevel.Raid1, 3), (RaidLevel.Raid5, 3), (RaidLevel.Raid5, 5),
                     (RaidLevel.Raid6, 4), (RaidLevel.Raid10, 4), (RaidLevel.Raid10, 3), (RaidLevel.Raid10, 6) })
        {
            for (int failed = 0; failed < n; failed++)
                yield return new TestCaseData(level, n, failed).SetName($"{level} x{n}, d{failed} failed");
        }
    }

    static IEnumerable<TestCaseData> DoubleFailures()
    {
        foreach (int n in new[] { 4, 5, 6 })
        {
            for (int a = 0; a < n; a++)
            {
                for (int b = a + 1; b < n; b++)
                    yield return new TestCaseData(n, a, b).SetName($"Raid6 x{n}, d{a}+d{b} failed");
            }
        }
    }

    [TestCaseSource(nameof(SingleFailures))]
    public void SingleFailure_ReadsReturnOriginalData_WritesSurvive_RebuildRestoresOptimal(RaidLevel level, int n, int failed)
    {
        using RaidEngine engine = EngineWithDrives(n + 1, DriveBytes);
        RaidVolume v = CreateVolume(engine, level, n, Chunk);
        byte[] data = FillRandom(v, 100 + failed);

        Assert.That(engine.FailDrive($"d{failed}").IsSuccess);
        Assert.That(v.State, Is.EqualTo(VolumeState.Degraded));
        Assert.That(ReadAll(v, 37), Is.EqualTo(data), "degraded read");

        OverwriteSome(v, data, seed: failed);
        Assert.That(ReadAll(v, 53), Is.EqualTo(data), "read after degraded writes");

        Assert.That(engine.AddSpare($"d{n}").IsSuccess);
        Assert.That(engine.StartRebuild("v").IsSuccess);
        Assert.That(v.State, Is.EqualTo(VolumeState.Rebuilding));
        OverwriteSome(v, data, seed: 50 + failed); // writes while rebuilding
        RebuildToCompletion(v);
        Assert.That(v.State, Is.EqualTo(VolumeState.Optimal));
        Assert.That(v.Members[failed].DriveName, Is.EqualTo($"d{n}"));
        Assert.That(ReadAll(v), Is.EqualTo(data), "after rebuild");
        if (v is ParityVolume p)
            AssertParityConsistent(engine, p);
        else
            AssertCopiesIdentical(engine, v);
    }

    [TestCaseSource(nameof(DoubleFailures))]
    public void Raid6_DoubleFailure_ReadsReturnOriginalData_AndTwoSparesRebuild(int n, int a, int b)
    {
        using RaidEngine engine = EngineWithDrives(n + 2, DriveBytes);
        var v = (ParityVolume)CreateVolume(engine, RaidLevel.Raid6, n, Chunk);
        byte[] data = FillRandom(v, 7 * a + b);
        engine.FailDrive($"d{a}");
        engine.FailDrive($"d{b}");
        Assert.That(v.State, Is.EqualTo(VolumeState.Degraded));
        Assert.That(ReadAll(v, 41), Is.EqualTo(data), "read with two members missing");
        OverwriteSome(v, data, seed: a * 10 + b);
        Assert.That(ReadAll(v, 64), Is.EqualTo(data), "read after doubly degraded writes");

        engine.AddSpare($"d{n}");
        engine.AddSpare($"d{n + 1}");
        Assert.That(engine.StartRebuild("v").IsSuccess);
        RebuildToCompletion(v, rowsPerStep: 2);
        Assert.That(v.State, Is.EqualTo(VolumeState.Optimal));
        Assert.That(ReadAll(v), Is.EqualTo(data));
        AssertParityConsistent(engine, v);
    }

    [Test]
    public void Raid5_SecondFailure_FailsTheVolume_IoReturnsMediaError()
    {
        using RaidEngine engine = EngineWithDrives(4, DriveBytes);
        RaidVolume v = CreateVolume(engine, RaidLevel.Raid5, 4, Chunk);
        engine.FailDrive("d1");
        engine.FailDrive("d3");
        Assert.That(v.State, Is.EqualTo(VolumeState.Failed));
        var buffer = new byte[512];
        Assert.That(v.Read(0, 1, buffer).Status, Is.EqualTo(VolumeStatus.MediaError));
        Assert.That(v.Write(0, 1, buffer).Status, Is.EqualTo(VolumeStatus.MediaError));
        Assert.That(engine.StartRebuild("v").IsSuccess, Is.False);
    }

    [Test]
    public void Raid10_BothCopiesOfAChunkLost_Fails_ButLossesInDifferentPairsSurvive()
    {
        using RaidEngine engine = EngineWithDrives(8, DriveBytes);
        RaidVolume v = CreateVolume(engine, RaidLevel.Raid10, 4, Chunk, "a");
        engine.CreateVolume(new VolumeSpec { Name = "b", Level = RaidLevel.Raid10, Members = Names(4, 4), StripeSizeBytes = Chunk });
        byte[] data = FillRandom(v, 1);
        engine.FailDrive("d0");
        engine.FailDrive("d2"); // pairs (0,1) and (2,3) each keep one copy
        Assert.That(v.State, Is.EqualTo(VolumeState.Degraded));
        Assert.That(ReadAll(v), Is.EqualTo(data));
        engine.FailDrive("d4");
        engine.FailDrive("d5"); // both copies of pair (4,5)
        Assert.That(engine.FindVolume("b")!.State, Is.EqualTo(VolumeState.Failed));
    }

    [Test]
    public void Raid0_AnyFailure_FailsTheVolume()
    {
        using RaidEngine engine = EngineWithDrives(3, DriveBytes);
        RaidVolume v = CreateVolume(engine, RaidLevel.Raid0, 3, Chunk);
        engine.FailDrive("d2");
        Assert.That(v.State, Is.EqualTo(VolumeState.Failed));
    }

    [Test]
    public void DriveFailingUnderIo_IsDroppedAndTheRequestCompletesDegraded()
    {
        using RaidEngine engine = EngineWithDrives(4, DriveBytes);
        RaidVolume v = CreateVolume(engine, RaidLevel.Raid5, 4, Chunk);
        byte[] data = FillRandom(v, 8);
        engine.FindDrive("d2")!.Fail(); // behind the engine's back: the volume learns on its next access
        Assert.That(v.State, Is.EqualTo(VolumeState.Optimal));
        Assert.That(ReadAll(v), Is.EqualTo(data));
        Assert.That(v.State, Is.EqualTo(VolumeState.Degraded));
        Assert.That(v.Members[2].State, Is.EqualTo(MemberState.Missing));
        Assert.That(engine.DriveStateOf(engine.FindDrive("d2")!), Is.EqualTo(DriveState.Failed));
    }

    [Test]
    public void RebuiltDrive_CarriesTheData_WhenAnotherMemberFailsLater()
    {
        using RaidEngine engine = EngineWithDrives(5, DriveBytes);
        RaidVolume v = CreateVolume(engine, RaidLevel.Raid5, 4, Chunk);
        byte[] data = FillRandom(v, 9);
        engine.FailDrive("d1");
        engine.ReplaceDrive("v", "d4");
        RebuildToCompletion(v, rowsPerStep: 1);
        engine.FailDrive("d0"); // reads of d0's chunks now reconstruct through the rebuilt d4
        Assert.That(ReadAll(v), Is.EqualTo(data));
    }

    [Test]
    public void RebuildStep_AdvancesByAtMostTheRequestedRows_AndReportsRemaining()
    {
        using RaidEngine engine = EngineWithDrives(4, DriveBytes);
        RaidVolume v = CreateVolume(engine, RaidLevel.Raid1, 3, Chunk);
        FillRandom(v, 10);
        engine.FailDrive("d0");
        engine.AddSpare("d3", "v");
        engine.StartRebuild("v");
        RebuildProgress p = v.RebuildStep(5);
        Assert.That(p.RowsRebuilt, Is.EqualTo(5));
        Assert.That(p.RowsRemaining, Is.EqualTo(v.RowCount - 5));
        Assert.That(p.ServiceTimeNs, Is.GreaterThan(0));
        Assert.That(v.Members[0].RebuiltRows, Is.EqualTo(5));
        Assert.That(v.RebuildStep(0).RowsRebuilt, Is.Zero);
    }

    [Test]
    public void AutoRebuild_TakesTheGlobalSpareWhenADriveFails()
    {
        using RaidEngine engine = EngineWithDrives(5, DriveBytes);
        engine.AutoRebuild = true;
        RaidVolume v = CreateVolume(engine, RaidLevel.Raid10, 4, Chunk);
        byte[] data = FillRandom(v, 12);
        engine.AddSpare("d4");
        engine.FailDrive("d3");
        Assert.That(v.State, Is.EqualTo(VolumeState.Rebuilding));
        while (!engine.RebuildStep(4).IsComplete)
        {
        }
        Assert.That(v.State, Is.EqualTo(VolumeState.Optimal));
        Assert.That(ReadAll(v), Is.EqualTo(data));
    }

    /// <summary>Overwrites 40 random ranges (1–300 blocks) and mirrors them in <paramref name="shadow"/>.</summary>
    static void OverwriteSome(IVolume v, byte[] shadow, int seed)
    {
        var rng = new Random(seed);
        for (int i = 0; i < 40; i++)
        {
            int n = rng.Next(1, 300);
            long lba = rng.NextInt64(0, v.BlockCount - n);
            var bytes = new byte[n * v.BlockSize];
            rng.NextBytes(bytes);
            Assert.That(v.Write(lba, n, bytes).Status, Is.EqualTo(VolumeStatus.Success));
            bytes.CopyTo(shadow, lba * v.BlockSize);
        }
    }

    static void AssertCopiesIdentical(RaidEngine engine, RaidVolume v)
    {
        IReadOnlyList<RaidMember> members = v.Members;
        for (long lba = 0; lba < v.BlockCount; lba += v.ChunkBlocks)
        {
            int copies = v.Level == RaidLevel.Raid1 ? v.MemberCount : 2;
            byte[]? first = null;
            for (int c = 0; c < copies; c++)
            {
                RaidLocation at = v.Locate(lba, c);
                byte[] raw = ReadDrive(engine, members[at.Slot].DriveName, at.DriveLba, v.ChunkBlocks);
                if (first is null)
                    first = raw;
                else
                    Assert.That(raw, Is.EqualTo(first), $"copy {c} of block {lba}");
            }
        }
    }
}
