using PcieVirt.Devices.Raid;
using static PcieVirt.Tests.Devices.Raid.RaidTestKit;

namespace PcieVirt.Tests.Devices.Raid;

/// <summary>
/// Placement of data and parity on the member drives, checked on the raw drives against tables computed
/// by hand from the layout definitions (md raid0, left-symmetric RAID 5/6, raid10 near-2).
/// </summary>
[TestFixture]
public class RaidLayoutTests
{
    const int Chunk = 64 * 1024;
    const int ChunkBlocks = Chunk / 512;   // 128 blocks of 512 B

    /// <summary>Writes chunk k of the volume filled with fill(k) (one write per chunk).</summary>
    static void WriteChunks(IVolume v, int chunks, Func<int, byte> fill)
    {
        var buffer = new byte[Chunk];
        for (int k = 0; k < chunks; k++)
        {
            Array.Fill(buffer, fill(k));
            Assert.That(v.Write((long)k * ChunkBlocks, ChunkBlocks, buffer).Status, Is.EqualTo(VolumeStatus.Success));
        }
    }

    static void AssertChunkOnDrive(RaidEngine engine, string drive, long row, byte fill, string what)
    {
        byte[] raw = ReadDrive(engine, drive, row * ChunkBlocks, ChunkBlocks);
        Assert.That(raw.All(b => b == fill), Is.True, $"{what}: expected 0x{fill:x2} on {drive} row {row}, found 0x{raw[0]:x2}");
    }

    // RAID 5, 4 drives, 64 KiB chunks, left-symmetric (P on slot 3 − s mod 4, data continues after P):
    //   stripe 0:  D0  D1  D2  P      (P on d3)
    //   stripe 1:  D4  D5  P   D3     (P on d2; D3 on d3, D4 wraps to d0, D5 on d1)
    //   stripe 2:  D8  P   D6  D7     (P on d1; D6 d2, D7 d3, D8 d0)
    //   stripe 3:  P   D9  D10 D11    (P on d0)
    //   stripe 4:  D12 D13 D14 P      (repeats stripe 0)
    static readonly (int Chunk, int Drive, int Row)[] s_raid5Data =
    [
        (0, 0, 0), (1, 1, 0), (2, 2, 0),
        (3, 3, 1), (4, 0, 1), (5, 1, 1),
        (6, 2, 2), (7, 3, 2), (8, 0, 2),
        (9, 1, 3), (10, 2, 3), (11, 3, 3),
        (12, 0, 4), (13, 1, 4), (14, 2, 4),
    ];

    static readonly int[] s_raid5ParityDrive = [3, 2, 1, 0, 3];

    [Test]
    public void Raid5_FourDrives_DataAndParityWhereLeftSymmetricPutsThem()
    {
        using RaidEngine engine = EngineWithDrives(4, 8 * Chunk);
        var v = (ParityVolume)CreateVolume(engine, RaidLevel.Raid5, 4, Chunk);
        // Fills 0x10 + k: distinct per chunk, so each chunk is identifiable on the raw drive.
        WriteChunks(v, 15, k => (byte)(0x10 + k));
        foreach ((int chunk, int drive, int row) in s_raid5Data)
        {
            AssertChunkOnDrive(engine, $"d{drive}", row, (byte)(0x10 + chunk), $"D{chunk}");
            Assert.That(v.Locate((long)chunk * ChunkBlocks + 5), Is.EqualTo(new RaidLocation(drive, row * ChunkBlocks + 5)));
        }
        for (int s = 0; s < 5; s++)
        {
            // P = D(3s) ⊕ D(3s+1) ⊕ D(3s+2); with fills 0x10+k.
            byte p = (byte)((0x10 + 3 * s) ^ (0x10 + 3 * s + 1) ^ (0x10 + 3 * s + 2));
            Assert.That(v.ParitySlot(s), Is.EqualTo(s_raid5ParityDrive[s]));
            AssertChunkOnDrive(engine, $"d{s_raid5ParityDrive[s]}", s, p, $"P of stripe {s}");
        }
        Assert.That(v.BlockCount, Is.EqualTo(8L * 3 * ChunkBlocks), "8 rows × 3 data chunks");
    }

    // RAID 6, 5 drives: P on slot 4 − s mod 5, Q on P + 1 mod 5, data index i on (P + 2 + i) mod 5.
    //   stripe 0:  Q  D0 D1 D2 P
    //   stripe 1:  D3 D4 D5 P  Q
    //   stripe 2:  D7 D8 P  Q  D6
    [Test]
    public void Raid6_FiveDrives_PQAndDataPlacement_AndQValues()
    {
        using RaidEngine engine = EngineWithDrives(5, 8 * Chunk);
        var v = (ParityVolume)CreateVolume(engine, RaidLevel.Raid6, 5, Chunk);
        // Stripe 0 data 0x01, 0x02, 0x04: P = 0x07, Q = 1 ⊕ 2·2 ⊕ 4·4 = 0x15.
        // Stripe 1 data 0x80 ×3: P = 0x80, Q = 0x80 ⊕ 2·0x80 ⊕ 4·0x80 = 0x80 ⊕ 0x1D ⊕ 0x3A = 0xA7.
        // Stripe 2 data 0x00, 0x00, 0x03: P = 0x03, Q = g^2·3 = 4·3 = 0x0C.
        byte[] fills = [0x01, 0x02, 0x04, 0x80, 0x80, 0x80, 0x00, 0x00, 0x03];
        WriteChunks(v, fills.Length, k => fills[k]);
        (int chunk, int drive)[] data = [(0, 1), (1, 2), (2, 3), (3, 0), (4, 1), (5, 2), (6, 4), (7, 0), (8, 1)];
        foreach ((int chunk, int drive) in data)
            AssertChunkOnDrive(engine, $"d{drive}", chunk / 3, fills[chunk], $"D{chunk}");
        (int p, int q, byte pv, byte qv)[] parity = [(4, 0, 0x07, 0x15), (3, 4, 0x80, 0xA7), (2, 3, 0x03, 0x0C)];
        for (int s = 0; s < 3; s++)
        {
            Assert.That((v.ParitySlot(s), v.QSlot(s)), Is.EqualTo((parity[s].p, parity[s].q)));
            AssertChunkOnDrive(engine, $"d{parity[s].p}", s, parity[s].pv, $"P of stripe {s}");
            AssertChunkOnDrive(engine, $"d{parity[s].q}", s, parity[s].qv, $"Q of stripe {s}");
        }
    }

    // RAID 0, 3 drives: chunk k on drive k mod 3, row k div 3.
    [Test]
    public void Raid0_ThreeDrives_ChunksRoundRobin()
    {
        using RaidEngine engine = EngineWithDrives(3, 4 * Chunk);
        RaidVolume v = CreateVolume(engine, RaidLevel.Raid0, 3, Chunk);
        WriteChunks(v, 12, k => (byte)(0x40 + k));
        for (int k = 0; k < 12; k++)
            AssertChunkOnDrive(engine, $"d{k % 3}", k / 3, (byte)(0x40 + k), $"chunk {k}");
        Assert.That(v.BlockCount, Is.EqualTo(12L * ChunkBlocks));
    }

    // RAID 10 near-2 on 4 drives: rows "A A B B / C C D D"; on 3 drives: "A A B / B C C / D D E".
    [TestCase(4, new[] { 0, 1, 0, 2, 3, 0, 0, 1, 1, 2, 3, 1 })]
    [TestCase(3, new[] { 0, 1, 0, 2, 0, 0, 1, 2, 1, 0, 1, 2 })]
    public void Raid10_NearTwo_CopiesOnAdjacentDeviceChunks(int drives, int[] expected)
    {
        // expected: per chunk k (0..3): slot of copy 0, slot of copy 1, row of copy 0. Copy 1 is device chunk
        // 2k + 1, so its row is (2k + 1) div N: the same row for even N; for N = 3 B's second copy opens row 1.
        using RaidEngine engine = EngineWithDrives(drives, 4 * Chunk);
        RaidVolume v = CreateVolume(engine, RaidLevel.Raid10, drives, Chunk);
        WriteChunks(v, 4, k => (byte)(0xA0 + k));
        for (int k = 0; k < 4; k++)
        {
            int slot0 = expected[3 * k], slot1 = expected[3 * k + 1], row0 = expected[3 * k + 2];
            long device1 = 2L * k + 1;
            Assert.That(v.Locate((long)k * ChunkBlocks, 0), Is.EqualTo(new RaidLocation(slot0, (long)row0 * ChunkBlocks)));
            Assert.That(v.Locate((long)k * ChunkBlocks, 1).Slot, Is.EqualTo(slot1));
            AssertChunkOnDrive(engine, $"d{slot0}", row0, (byte)(0xA0 + k), $"chunk {k} copy 0");
            AssertChunkOnDrive(engine, $"d{slot1}", device1 / drives, (byte)(0xA0 + k), $"chunk {k} copy 1");
        }
    }

    [Test]
    public void Raid1_EveryDriveHoldsTheSameBlocks()
    {
        using RaidEngine engine = EngineWithDrives(3, 4 * Chunk);
        RaidVolume v = CreateVolume(engine, RaidLevel.Raid1, 3, Chunk);
        byte[] data = FillRandom(v, 3);
        for (int d = 0; d < 3; d++)
            Assert.That(ReadDrive(engine, $"d{d}", 0, (int)v.BlockCount), Is.EqualTo(data), $"d{d}");
    }

    [Test]
    public void Raid5_SmallWriteInsideAChunk_UpdatesParityByReadModifyWrite()
    {
        using RaidEngine engine = EngineWithDrives(5, 8 * Chunk);
        var v = (ParityVolume)CreateVolume(engine, RaidLevel.Raid5, 5, Chunk);
        FillRandom(v, 4);
        long readsBefore = engine.Drives.Sum(d => d.ReadCount);
        long writesBefore = engine.Drives.Sum(d => d.WriteCount);
        var block = new byte[4096];
        new Random(9).NextBytes(block);
        Assert.That(v.Write(ChunkBlocks + 16, 8, block).Status, Is.EqualTo(VolumeStatus.Success));
        // K = 4: read-modify-write reads old data and old P (2 reads) instead of the 3 other data chunks.
        Assert.That(engine.Drives.Sum(d => d.ReadCount) - readsBefore, Is.EqualTo(2));
        Assert.That(engine.Drives.Sum(d => d.WriteCount) - writesBefore, Is.EqualTo(2));
        AssertParityConsistent(engine, v);
    }

    [Test]
    public void Raid6_FullStripeWrite_ReadsNothing()
    {
        using RaidEngine engine = EngineWithDrives(6, 8 * Chunk);
        var v = (ParityVolume)CreateVolume(engine, RaidLevel.Raid6, 6, Chunk);
        var stripe = new byte[4 * Chunk];
        new Random(2).NextBytes(stripe);
        Assert.That(v.Write(4L * ChunkBlocks, 4 * ChunkBlocks, stripe).Status, Is.EqualTo(VolumeStatus.Success));
        Assert.That(engine.Drives.Sum(d => d.ReadCount), Is.Zero, "reconstruct-write of a whole stripe needs no reads");
        Assert.That(engine.Drives.Sum(d => d.WriteCount), Is.EqualTo(6), "4 data chunks + P + Q");
        AssertParityConsistent(engine, v);
    }

    [Test]
    public void Raid5And6_UnalignedWritesAcrossStripes_KeepParityConsistent()
    {
        foreach (RaidLevel level in new[] { RaidLevel.Raid5, RaidLevel.Raid6 })
        {
            using RaidEngine engine = EngineWithDrives(5, 6 * Chunk);
            var v = (ParityVolume)CreateVolume(engine, level, 5, Chunk);
            byte[] shadow = FillRandom(v, 21);
            var rng = new Random(22);
            for (int i = 0; i < 200; i++)
            {
                int n = rng.Next(1, 700);
                long lba = rng.NextInt64(0, v.BlockCount - n);
                var data = new byte[n * 512];
                rng.NextBytes(data);
                Assert.That(v.Write(lba, n, data).Status, Is.EqualTo(VolumeStatus.Success));
                data.CopyTo(shadow, lba * 512);
            }
            AssertParityConsistent(engine, v);
            Assert.That(ReadAll(v, 333), Is.EqualTo(shadow), level.ToString());
        }
    }
}
