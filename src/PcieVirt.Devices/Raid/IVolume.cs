namespace PcieVirt.Devices.Raid;

/// <summary>
/// A logical block device the controller exposes as an NVMe namespace: a RAID volume, a thin volume or a
/// snapshot. Calls are synchronous and complete at once; the returned <see cref="VolumeResult"/> carries
/// the modelled service time in virtual nanoseconds, which the caller schedules. Not thread-safe: the
/// controller serializes calls (the whole model is single-threaded, deterministic, virtual-time).
/// </summary>
/// <remarks>
/// An LBA is a <see cref="long"/>; a caller holding a 64-bit unsigned NVMe SLBA may cast it, since any
/// value above <see cref="long.MaxValue"/> becomes negative and is reported as out of range. Buffers must
/// hold at least <c>count × BlockSize</c> bytes.
/// </remarks>
public interface IVolume
{
    /// <summary>Engine-wide unique id, assigned at creation, never reused (a stable namespace identity).</summary>
    int Id { get; }

    /// <summary>Name given at creation.</summary>
    string Name { get; }

    /// <summary>Logical block size in bytes (512 or 4096): the block size of the member drives.</summary>
    int BlockSize { get; }

    /// <summary>Size in logical blocks (NVMe NSZE).</summary>
    long BlockCount { get; }

    /// <summary>Blocks that hold allocated storage (NVMe NUSE): <see cref="BlockCount"/> for thick volumes.</summary>
    long AllocatedBlocks { get; }

    /// <summary>True for thin-provisioned volumes and snapshots (storage allocated on first write).</summary>
    bool IsThin { get; }

    /// <summary>True if writes are refused with <see cref="VolumeStatus.ReadOnly"/> (a read-only snapshot).</summary>
    bool IsReadOnly { get; }

    /// <summary>Health of the volume (optimal, degraded, rebuilding, failed).</summary>
    VolumeState State { get; }

    /// <summary>Reads <paramref name="count"/> blocks starting at <paramref name="lba"/>.</summary>
    VolumeResult Read(long lba, int count, Span<byte> destination);

    /// <summary>Writes <paramref name="count"/> blocks starting at <paramref name="lba"/>.</summary>
    VolumeResult Write(long lba, int count, ReadOnlySpan<byte> source);

    /// <summary>Makes every acknowledged write durable on the member drives.</summary>
    VolumeResult Flush();

    /// <summary>Deallocates a range (NVMe Dataset Management, AD): afterwards the range reads as zeros.</summary>
    VolumeResult Deallocate(long lba, int count);

    /// <summary>Sets a range to zeros (NVMe Write Zeroes); may deallocate as well.</summary>
    VolumeResult WriteZeroes(long lba, int count);
}
