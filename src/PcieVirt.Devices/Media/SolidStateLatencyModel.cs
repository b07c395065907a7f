namespace PcieVirt.Devices.Media;

/// <summary>
/// Parameters of a solid-state drive's latency: a fixed QD1 latency for the first 4 KiB, a bandwidth term
/// for the rest, and a symmetric jitter. Sources of the defaults: spec-notes/raid-engine.md.
/// </summary>
public sealed record SolidStateLatencyParameters
{
    /// <summary>QD1 latency of a 4 KiB read.</summary>
    public long ReadNs { get; init; }

    /// <summary>QD1 latency of a 4 KiB write (absorbed by the drive's power-loss-protected cache).</summary>
    public long WriteNs { get; init; }

    /// <summary>Sequential read bandwidth in bytes per second, charged for bytes beyond the first 4 KiB.</summary>
    public double ReadBytesPerSecond { get; init; }

    /// <summary>Sequential write bandwidth in bytes per second, charged for bytes beyond the first 4 KiB.</summary>
    public double WriteBytesPerSecond { get; init; }

    /// <summary>Flush: with power-loss protection the cache is already durable, so it is a command round trip.</summary>
    public long FlushNs { get; init; }

    /// <summary>Deallocate: a mapping-table update, independent of size.</summary>
    public long TrimNs { get; init; }

    /// <summary>Each time is multiplied by a uniform factor in [1 − j, 1 + j].</summary>
    public double Jitter { get; init; }

    /// <summary>Data-centre NAND NVMe SSD (Intel DC P3700 / P4510 class).</summary>
    public static SolidStateLatencyParameters NandFlash { get; } = new()
    {
        ReadNs = 77_000,
        WriteNs = 13_000,
        ReadBytesPerSecond = 2.8e9,
        WriteBytesPerSecond = 1.9e9,
        FlushNs = 5_000,
        TrimNs = 10_000,
        Jitter = 0.10,
    };

    /// <summary>3D XPoint NVMe SSD (Intel Optane DC P4800X class).</summary>
    public static SolidStateLatencyParameters Optane { get; } = new()
    {
        ReadNs = 8_900,
        WriteNs = 10_000,
        ReadBytesPerSecond = 2.4e9,
        WriteBytesPerSecond = 2.0e9,
        FlushNs = 2_000,
        TrimNs = 5_000,
        Jitter = 0.05,
    };
}

/// <summary>Latency of NAND flash and Optane-class drives (see <see cref="SolidStateLatencyParameters"/>).</summary>
public sealed class SolidStateLatencyModel(SolidStateLatencyParameters parameters, ulong seed) : ILatencyModel
{
    const int BaseBytes = 4096;
    readonly DeterministicRandom _random = new(seed);

    public SolidStateLatencyParameters Parameters { get; } = parameters;

    public long ServiceTime(MediaOperation operation, long lba, int count, int blockSize)
    {
        long extra = Math.Max(0L, (long)count * blockSize - BaseBytes);
        double ns = operation switch
        {
            MediaOperation.Read => Parameters.ReadNs + extra * 1e9 / Parameters.ReadBytesPerSecond,
            MediaOperation.Write => Parameters.WriteNs + extra * 1e9 / Parameters.WriteBytesPerSecond,
            MediaOperation.Flush => Parameters.FlushNs,
            _ => Parameters.TrimNs,
        };
        double factor = 1.0 + Parameters.Jitter * (2.0 * _random.NextDouble() - 1.0);
        return (long)Math.Round(ns * factor);
    }
}
