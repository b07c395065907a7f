namespace PcieVirt.Devices.Media;

/// <summary>
/// Byte storage behind a <see cref="PhysicalDrive"/>, without timing or failure semantics. Offsets and
/// lengths are in bytes and always within <see cref="Length"/> (the drive checks ranges).
/// </summary>
public interface IBlockStore : IDisposable
{
    /// <summary>Size in bytes.</summary>
    long Length { get; }

    /// <summary>Bytes of host memory or file space actually holding data (sparse stores allocate lazily).</summary>
    long AllocatedBytes { get; }

    void Read(long offset, Span<byte> destination);

    void Write(long offset, ReadOnlySpan<byte> source);

    /// <summary>Sets a range to zeros, releasing storage where the store can.</summary>
    void Zero(long offset, long length);

    /// <summary>Makes written data durable.</summary>
    void Flush();
}
