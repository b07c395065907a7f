using PcieVirt.Devices.Media;
using PcieVirt.Devices.Raid;

namespace PcieVirt.Tests.Devices.Raid;

/// <summary>Helpers shared by the RAID engine tests.</summary>
internal static class RaidTestKit
{
    /// <summary>An engine with drives d0 … d(n−1) of <paramref name="driveBytes"/> each.</summary>
    public static RaidEngine EngineWithDrives(int count, long driveBytes, int blockSize = 512, DriveKind kind = DriveKind.NvmeFlash,
        ulong seed = 1)
    {
        var engine = new RaidEngine(seed);
        for (int i = 0; i < count; i++)
        {
            EngineResult<PhysicalDrive> r = engine.CreateDrive(new DriveSpec
            {
                Name = $"d{i}",
                Kind = kind,
                BlockSize = blockSize,
                CapacityBytes = driveBytes,
            });
            Assert.That(r.IsSuccess, r.Error);
        }
        return engine;
    }

    public static string[] Names(int first, int count) =>
        Enumerable.Range(first, count).Select(i => $"d{i}").ToArray();

    public static RaidVolume CreateVolume(RaidEngine engine, RaidLevel level, int members, int stripeBytes = 64 * 1024,
        string name = "v")
    {
        EngineResult<RaidVolume> r = engine.CreateVolume(new VolumeSpec
        {
            Name = name,
            Level = level,
            Members = Names(0, members),
            StripeSizeBytes = stripeBytes,
        });
        Assert.That(r.IsSuccess, r.Error);
        return r.Value!;
    }

    /// <summary>Fills the whole volume with seeded random bytes (in pieces of up to 256 blocks) and returns them.</summary>
    public static byte[] FillRandom(IVolume volume, int seed)
    {
        var data = new byte[volume.BlockCount * volume.BlockSize];
        new Random(seed).NextBytes(data);
        for (long lba = 0; lba < volume.BlockCount;)
        {
            int n = (int)Math.Min(256, volume.BlockCount - lba);
            VolumeResult r = volume.Write(lba, n, data.AsSpan((int)(lba * volume.BlockSize), n * volume.BlockSize));
            Assert.That(r.Status, Is.EqualTo(VolumeStatus.Success));
            lba += n;
        }
        return data;
    }

    /// <summary>Reads the whole volume with requests of <paramref name="requestBlocks"/> blocks.</summary>
    public static byte[] ReadAll(IVolume volume, int requestBlocks = 100)
    {
        var data = new byte[volume.BlockCount * volume.BlockSize];
        for (long lba = 0; lba < volume.BlockCount;)
        {
            int n = (int)Math.Min(requestBlocks, volume.BlockCount - lba);
            VolumeResult r = volume.Read(lba, n, data.AsSpan((int)(lba * volume.BlockSize), n * volume.BlockSize));
            Assert.That(r.Status, Is.EqualTo(VolumeStatus.Success), $"read at {lba}");
            lba += n;
        }
        return data;
    }

    /// <summary>Reads blocks straight from a drive, bypassing the volume.</summary>
    public static byte[] ReadDrive(RaidEngine engine, string drive, long lba, int count)
    {
        PhysicalDrive d = engine.FindDrive(drive)!;
        var buffer = new byte[count * d.BlockSize];
        Assert.That(d.Read(lba, count, buffer).Status, Is.EqualTo(MediaStatus.Success));
        return buffer;
    }

    /// <summary>Runs rebuild steps until the volume has nothing left to rebuild.</summary>
    public static void RebuildToCompletion(RaidVolume volume, int rowsPerStep = 3)
    {
        for (int guard = 0; guard < 1_000_000; guard++)
        {
            RebuildProgress p = volume.RebuildStep(rowsPerStep);
            Assert.That(p.Status, Is.EqualTo(VolumeStatus.Success));
            if (p.IsComplete)
                return;
        }
        Assert.Fail("rebuild did not finish");
    }

    /// <summary>Checks on the raw drives that every stripe's P (and Q) match its data.</summary>
    public static void AssertParityConsistent(RaidEngine engine, ParityVolume volume)
    {
        int c = volume.ChunkBlocks;
        int k = volume.DataChunksPerStripe;
        int len = c * volume.BlockSize;
        IReadOnlyList<RaidMember> members = volume.Members;
        for (long s = 0; s < volume.RowCount; s++)
        {
            var data = new byte[k * len];
            for (int i = 0; i < k; i++)
                ReadDrive(engine, members[volume.DataSlot(s, i)].DriveName, s * c, c).CopyTo(data, i * len);
            var p = new byte[len];
            var q = new byte[len];
            Parity.Compute(data, k, len, len, p, volume.Level == RaidLevel.Raid6 ? q : []);
            Assert.That(ReadDrive(engine, members[volume.ParitySlot(s)].DriveName, s * c, c), Is.EqualTo(p), $"P of stripe {s}");
            if (volume.Level == RaidLevel.Raid6)
                Assert.That(ReadDrive(engine, members[volume.QSlot(s)].DriveName, s * c, c), Is.EqualTo(q), $"Q of stripe {s}");
        }
    }

    /// <summary>64-bit FNV-1a: the checksum the random-workload tests keep per block.</summary>
    public static ulong Fnv1a(ReadOnlySpan<byte> data)
    {
        ulong h = 0xCBF29CE484222325UL;
        foreach (byte b in data)
        {
            h ^= b;
            h *= 0x100000001B3UL;
        }
        return h;
    }
}
