namespace PcieVirt.Devices.Media;

/// <summary>
/// Media that take no time (like QEMU's null block driver): measures the I/O path alone, as the
/// emulated-controller versus virtio-blk comparisons do (latency-anchors.md §6.2).
/// </summary>
public sealed class NullLatencyModel : ILatencyModel
{
    /// <summary>The one instance (stateless).</summary>
    public static NullLatencyModel Instance { get; } = new();

    /// <inheritdoc/>
    public long ServiceTime(MediaOperation operation, long lba, int count, int blockSize) => 0;
}
