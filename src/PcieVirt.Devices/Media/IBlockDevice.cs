namespace PcieVirt.Devices.Media;

/// <summary>
/// A physical drive as the RAID engine sees it: fixed-size logical blocks, synchronous requests that
/// return a modelled service time, and a failed state in which every request is refused.
/// </summary>
public interface IBlockDevice
{
    string Name { get; }

    /// <summary>Logical block size in bytes: 512 or 4096.</summary>
    int BlockSize { get; }

    /// <summary>Capacity in logical blocks.</summary>
    long BlockCount { get; }

    /// <summary>True once the drive has failed; every request then returns <see cref="MediaStatus.DriveFailed"/>.</summary>
    bool IsFailed { get; }

    MediaResult Read(long lba, int count, Span<byte> destination);

    MediaResult Write(long lba, int count, ReadOnlySpan<byte> source);

    /// <summary>Makes completed writes durable (for an image file: flushed to the host's disk).</summary>
    MediaResult Flush();

    /// <summary>Deallocates a range; it reads as zeros afterwards (the model's drives all zero on trim).</summary>
    MediaResult Trim(long lba, int count);
}
