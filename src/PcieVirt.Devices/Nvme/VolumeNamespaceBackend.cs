using PcieVirt.Devices.Raid;

namespace PcieVirt.Devices.Nvme;

/// <summary>
/// A RAID engine volume (<see cref="IVolume"/>) served as an NVMe namespace: one volume is one namespace.
/// Volume statuses map to NVMe statuses as spec-notes/raid-engine.md suggests (the NVMe page owns the
/// mapping); the volume's modelled service time is passed through. Allocates nothing per call.
/// </summary>
public sealed class VolumeNamespaceBackend : INamespaceBackend
{
    /// <summary>Wraps <paramref name="volume"/>.</summary>
    public VolumeNamespaceBackend(IVolume volume)
    {
        ArgumentNullException.ThrowIfNull(volume);
        Volume = volume;
    }

    /// <summary>The volume behind the namespace.</summary>
    public IVolume Volume { get; }

    public int BlockSize => Volume.BlockSize;
    public ulong BlockCount => (ulong)Volume.BlockCount;

    public NvmeBackendResult Read(ulong lba, Span<byte> destination)
    {
        int count = destination.Length / BlockSize;
        var r = Volume.Read(ToLba(lba), count, destination);
        return new NvmeBackendResult(Map(r.Status, isWrite: false), ToNs(r.ServiceTimeNs));
    }

    public NvmeBackendResult Write(ulong lba, ReadOnlySpan<byte> source)
    {
        int count = source.Length / BlockSize;
        var r = Volume.Write(ToLba(lba), count, source);
        return new NvmeBackendResult(Map(r.Status, isWrite: true), ToNs(r.ServiceTimeNs));
    }

    public NvmeBackendResult Flush()
    {
        var r = Volume.Flush();
        return new NvmeBackendResult(Map(r.Status, isWrite: true), ToNs(r.ServiceTimeNs));
    }

    public NvmeBackendResult Deallocate(ulong lba, ulong blockCount)
    {
        if (blockCount > int.MaxValue) return new NvmeBackendResult(NvmeStatus.InvalidFieldInCommand, 0);
        var r = Volume.Deallocate(ToLba(lba), (int)blockCount);
        return new NvmeBackendResult(Map(r.Status, isWrite: true), ToNs(r.ServiceTimeNs));
    }

    public NvmeBackendResult WriteZeroes(ulong lba, ulong blockCount)
    {
        if (blockCount > int.MaxValue) return new NvmeBackendResult(NvmeStatus.InvalidFieldInCommand, 0);
        var r = Volume.WriteZeroes(ToLba(lba), (int)blockCount);
        return new NvmeBackendResult(Map(r.Status, isWrite: true), ToNs(r.ServiceTimeNs));
    }

    /// <summary>
    /// NVMe status for a volume status (NVMe Base 1.4 §4.6.1.2): LBA Out of Range, Namespace is Write
    /// Protected for a read-only snapshot, Unrecovered Read Error / Write Fault for media failures,
    /// Capacity Exceeded for an exhausted thin pool, Invalid Field for a malformed request.
    /// </summary>
    public static NvmeStatus Map(VolumeStatus status, bool isWrite) => status switch
    {
        VolumeStatus.Success => NvmeStatus.Success,
        VolumeStatus.OutOfRange => NvmeStatus.LbaOutOfRange,
        VolumeStatus.ReadOnly => NvmeStatus.NamespaceWriteProtected,
        VolumeStatus.MediaError => isWrite ? NvmeStatus.WriteFault : NvmeStatus.UnrecoveredReadError,
        VolumeStatus.CapacityExceeded => NvmeStatus.CapacityExceeded,
        _ => NvmeStatus.InvalidFieldInCommand,
    };

    // An SLBA above long.MaxValue becomes negative, which the volume reports as out of range.
    static long ToLba(ulong lba) => unchecked((long)lba);
    static ulong ToNs(long ns) => ns <= 0 ? 0 : (ulong)ns;
}
