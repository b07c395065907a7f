using PcieVirt.Devices.Raid;
using static PcieVirt.Tests.Devices.Raid.RaidTestKit;

namespace PcieVirt.Tests.Devices.Raid;

/// <summary>
/// A long seeded random workload (reads, writes, deallocates, write-zeroes of random sizes) with member
/// failures and a rebuild interleaved with the I/O. An FNV-1a checksum per block records every
/// acknowledged write; every read, and a full scan at the end, must match them.
/// </summary>
[TestFixture]
public class RandomWorkloadTests
{
    [TestCase(RaidLevel.Raid5, 5, 1, 8 * 1024, 11UL)]
    [TestCase(RaidLevel.Raid5, 4, 1, 64 * 1024, 12UL)]
    [TestCase(RaidLevel.Raid6, 6, 2, 16 * 1024, 13UL)]
    [TestCase(RaidLevel.Raid6, 4, 2, 4 * 1024, 14UL)]
    [TestCase(RaidLevel.Raid10, 4, 1, 8 * 1024, 15UL)]
    [TestCase(RaidLevel.Raid10, 5, 1, 32 * 1024, 16UL)]
    [TestCase(RaidLevel.Raid1, 2, 1, 16 * 1024, 17UL)]
    public void AcknowledgedWrites_SurviveFailuresAndRebuild(RaidLevel level, int members, int failures, int stripe, ulong seed)
    {
        const int operations = 6000;
        const int blockSize = 512;
        using RaidEngine engine = EngineWithDrives(members + failures, 2L * 1024 * 1024, blockSize, seed: seed);
        RaidVolume v = CreateVolume(engine, level, members, stripe);
        var rng = new Random((int)seed);
        var expected = new ulong[v.BlockCount];
        ulong zero = Fnv1a(new byte[blockSize]);
        Array.Fill(expected, zero);
        var buffer = new byte[256 * blockSize];
        int[] victims = Enumerable.Range(0, members).OrderBy(_ => rng.Next()).Take(failures).ToArray();
        bool rebuilding = false;

        for (int op = 0; op < operations; op++)
        {
            if (op == operations / 4)
            {
                foreach (int d in victims)
                    Assert.That(engine.FailDrive($"d{d}").IsSuccess);
                Assert.That(v.State, Is.EqualTo(VolumeState.Degraded));
            }
            if (op == operations / 2)
            {
                for (int s = 0; s < failures; s++)
                    Assert.That(engine.AddSpare($"d{members + s}", "v").IsSuccess);
                Assert.That(engine.StartRebuild("v").IsSuccess);
                rebuilding = true;
            }
            if (rebuilding && op % 7 == 0 && !v.RebuildStep(1).IsComplete)
                Assert.That(v.State, Is.EqualTo(VolumeState.Rebuilding));

            int n = rng.Next(4) == 0 ? rng.Next(1, 257) : rng.Next(1, 17);
            long lba = rng.NextInt64(0, v.BlockCount - n + 1);
            Span<byte> data = buffer.AsSpan(0, n * blockSize);
            int kind = rng.Next(100);
            if (kind < 45)
            {
                rng.NextBytes(data);
                Assert.That(v.Write(lba, n, data).Status, Is.EqualTo(VolumeStatus.Success), $"op {op} write");
                for (int i = 0; i < n; i++)
                    expected[lba + i] = Fnv1a(data.Slice(i * blockSize, blockSize));
            }
            else if (kind < 50)
            {
                VolumeResult r = kind < 48 ? v.Deallocate(lba, n) : v.WriteZeroes(lba, n);
                Assert.That(r.Status, Is.EqualTo(VolumeStatus.Success), $"op {op} zero");
                for (int i = 0; i < n; i++)
                    expected[lba + i] = zero;
            }
            else
            {
                Assert.That(v.Read(lba, n, data).Status, Is.EqualTo(VolumeStatus.Success), $"op {op} read");
                for (int i = 0; i < n; i++)
                {
                    if (Fnv1a(data.Slice(i * blockSize, blockSize)) != expected[lba + i])
                        Assert.Fail($"op {op}: block {lba + i} does not hold its last acknowledged write");
                }
            }
        }

        RebuildToCompletion(v, rowsPerStep: 16);
        Assert.That(v.State, Is.EqualTo(VolumeState.Optimal));
        byte[] all = ReadAll(v, 256);
        for (long b = 0; b < v.BlockCount; b++)
        {
            if (Fnv1a(all.AsSpan((int)(b * blockSize), blockSize)) != expected[b])
                Assert.Fail($"final scan: block {b} lost its last acknowledged write");
        }
        if (v is ParityVolume p)
            AssertParityConsistent(engine, p);
    }
}
