using PcieVirt.Devices.Raid;
using static PcieVirt.Tests.Devices.Raid.RaidTestKit;

namespace PcieVirt.Tests.Devices.Raid;

/// <summary>Thin volumes: allocation on first write, zero reads of unallocated space, accounting, exhaustion.</summary>
[TestFixture]
public class ThinProvisioningTests
{
    const int Extent = 64 * 1024;          // 128 blocks of 512 B
    const int ExtentBlocks = Extent / 512;

    /// <summary>RAID 5 over 4 × 1 MiB (3 MiB usable = 48 extents) with a pool on it.</summary>
    static (RaidEngine Engine, ExtentPool Pool) PoolOnRaid5()
    {
        RaidEngine engine = EngineWithDrives(4, 1024 * 1024);
        CreateVolume(engine, RaidLevel.Raid5, 4, 16 * 1024, "backing");
        EngineResult<ExtentPool> pool = engine.CreatePool("pool", "backing", Extent);
        Assert.That(pool.IsSuccess, pool.Error);
        return (engine, pool.Value!);
    }

    [Test]
    public void NewThinVolume_ReadsZeros_AndAllocatesNothing()
    {
        (RaidEngine engine, ExtentPool pool) = PoolOnRaid5();
        using (engine)
        {
            ThinVolume t = engine.CreateThinVolume("thin", "pool", 16L * 1024 * 1024).Value!; // 16 MiB virtual on a 3 MiB pool
            Assert.That(pool.ExtentCount, Is.EqualTo(48));
            Assert.That(t.BlockCount, Is.EqualTo(16L * 1024 * 1024 / 512));
            Assert.That(t.AllocatedBlocks, Is.Zero);
            Assert.That(t.IsThin, Is.True);
            var buffer = new byte[8 * 512];
            Array.Fill(buffer, (byte)0xCC);
            Assert.That(t.Read(t.BlockCount - 8, 8, buffer).Status, Is.EqualTo(VolumeStatus.Success));
            Assert.That(buffer, Is.All.Zero);
        }
    }

    [Test]
    public void Writes_AllocateOneExtentPerTouchedExtent_AndReadBack()
    {
        (RaidEngine engine, ExtentPool pool) = PoolOnRaid5();
        using (engine)
        {
            ThinVolume t = engine.CreateThinVolume("thin", "pool", 16L * 1024 * 1024).Value!;
            var data = new byte[4 * 512];
            new Random(1).NextBytes(data);
            t.Write(10, 4, data);                                  // extent 0
            t.Write(ExtentBlocks * 100L + 5, 4, data);             // extent 100
            t.Write(ExtentBlocks * 2L - 2, 4, data);               // straddles extents 1 and 2
            Assert.That(t.AllocatedExtents, Is.EqualTo(4));
            Assert.That(t.AllocatedBlocks, Is.EqualTo(4L * ExtentBlocks));
            Assert.That(pool.FreeExtents, Is.EqualTo(44));
            var back = new byte[4 * 512];
            t.Read(ExtentBlocks * 100L + 5, 4, back);
            Assert.That(back, Is.EqualTo(data));
            t.Read(ExtentBlocks * 2L - 2, 4, back);
            Assert.That(back, Is.EqualTo(data));
            // The rest of a freshly allocated extent reads zero.
            var rest = new byte[512];
            t.Read(ExtentBlocks * 100L + 9, 1, rest);
            Assert.That(rest, Is.All.Zero);
        }
    }

    [Test]
    public void DeallocateWholeExtent_ReturnsItToThePool_AndReuseShowsNoStaleData()
    {
        (RaidEngine engine, ExtentPool pool) = PoolOnRaid5();
        using (engine)
        {
            ThinVolume a = engine.CreateThinVolume("a", "pool", 4L * Extent).Value!;
            ThinVolume b = engine.CreateThinVolume("b", "pool", 4L * Extent).Value!;
            var full = new byte[Extent];
            Array.Fill(full, (byte)0x5A);
            a.Write(0, ExtentBlocks, full);
            Assert.That(pool.AllocatedExtents, Is.EqualTo(1));
            Assert.That(a.Deallocate(0, ExtentBlocks).Status, Is.EqualTo(VolumeStatus.Success));
            Assert.That(a.AllocatedExtents, Is.Zero);
            Assert.That(pool.AllocatedExtents, Is.Zero);
            // Exhaust the pool's free list so b reuses a's freed extent, then check only b's block shows.
            var one = new byte[512];
            Array.Fill(one, (byte)0x11);
            for (int e = 0; e < 4; e++)
                b.Write(e * ExtentBlocks + 3, 1, one);
            var check = new byte[Extent];
            for (int e = 0; e < 4; e++)
            {
                b.Read(e * ExtentBlocks, ExtentBlocks, check);
                Assert.That(check.Count(x => x == 0x11), Is.EqualTo(512), $"extent {e}");
                Assert.That(check.Count(x => x == 0x5A), Is.Zero, $"extent {e}: stale data of a freed extent");
            }
        }
    }

    [Test]
    public void PartialDeallocate_ZerosTheRange_KeepsTheExtent()
    {
        (RaidEngine engine, ExtentPool _) = PoolOnRaid5();
        using (engine)
        {
            ThinVolume t = engine.CreateThinVolume("t", "pool", 4L * Extent).Value!;
            var data = new byte[Extent];
            new Random(4).NextBytes(data);
            t.Write(0, ExtentBlocks, data);
            Assert.That(t.WriteZeroes(8, 8).Status, Is.EqualTo(VolumeStatus.Success));
            Assert.That(t.AllocatedExtents, Is.EqualTo(1));
            var back = new byte[Extent];
            t.Read(0, ExtentBlocks, back);
            Array.Clear(data, 8 * 512, 8 * 512);
            Assert.That(back, Is.EqualTo(data));
        }
    }

    [Test]
    public void PoolExhausted_WriteFailsWithCapacityExceeded_ExistingDataIntact()
    {
        (RaidEngine engine, ExtentPool pool) = PoolOnRaid5();
        using (engine)
        {
            ThinVolume t = engine.CreateThinVolume("t", "pool", 100L * Extent).Value!;
            var block = new byte[512];
            for (int e = 0; e < 48; e++)
            {
                block[0] = (byte)e;
                Assert.That(t.Write((long)e * ExtentBlocks, 1, block).Status, Is.EqualTo(VolumeStatus.Success));
            }
            Assert.That(pool.FreeExtents, Is.Zero);
            Assert.That(t.Write(48L * ExtentBlocks, 1, block).Status, Is.EqualTo(VolumeStatus.CapacityExceeded));
            Assert.That(t.Write(47L * ExtentBlocks + 1, 1, block).Status, Is.EqualTo(VolumeStatus.Success), "allocated extents stay writable");
            t.Read(5L * ExtentBlocks, 1, block);
            Assert.That(block[0], Is.EqualTo(5));
        }
    }

    [Test]
    public void PoolBackingVolume_IsNotExposable_AndCannotBeDeletedWhileThePoolExists()
    {
        (RaidEngine engine, ExtentPool _) = PoolOnRaid5();
        using (engine)
        {
            engine.CreateThinVolume("t", "pool", Extent);
            Assert.That(engine.FindVolume("backing")!.IsExposable, Is.False);
            Assert.That(engine.FindVolume("t")!.IsExposable, Is.True);
            Assert.That(engine.DeleteVolume("backing").Error, Does.Contain("backs pool 'pool'"));
            Assert.That(engine.DeletePool("pool").Error, Does.Contain("1 thin volume"));
            Assert.That(engine.DeleteVolume("t").IsSuccess);
            Assert.That(engine.DeletePool("pool").IsSuccess);
            Assert.That(engine.FindVolume("backing")!.IsExposable, Is.True);
        }
    }

    [Test]
    public void ThinVolume_SurvivesAFailureOfThePoolsRaidMember()
    {
        (RaidEngine engine, ExtentPool _) = PoolOnRaid5();
        using (engine)
        {
            ThinVolume t = engine.CreateThinVolume("t", "pool", 8L * Extent).Value!;
            byte[] data = FillRandom(t, 6);
            engine.FailDrive("d1");
            Assert.That(t.State, Is.EqualTo(VolumeState.Degraded));
            Assert.That(ReadAll(t), Is.EqualTo(data));
        }
    }
}
