namespace PcieVirt.Devices.Nvme;

/// <summary>
/// What a backend reports for one operation: the NVMe status to complete the command with and the
/// virtual time in nanoseconds the operation occupies the media (the seam a discrete-event core uses
/// to delay the completion; the controller today posts at once and reports the time to observers).
/// </summary>
public readonly record struct NvmeBackendResult(NvmeStatus Status, ulong ServiceTimeNs)
{
    /// <summary>Success after <paramref name="serviceTimeNs"/>.</summary>
    public static NvmeBackendResult Ok(ulong serviceTimeNs = 0) => new(NvmeStatus.Success, serviceTimeNs);
}

/// <summary>
/// The storage behind one namespace (a drive, a RAID volume, a snapshot). The controller checks the
/// LBA range against <see cref="BlockCount"/> before calling, so a backend sees only in-range requests;
/// it reports media problems through the status (e.g. <see cref="NvmeStatus.UnrecoveredReadError"/>,
/// <see cref="NvmeStatus.WriteFault"/>, <see cref="NvmeStatus.NamespaceNotReady"/>). Calls are made on
/// the controller's hot path: implementations should not allocate per call and must not throw for
/// media errors.
/// </summary>
public interface INamespaceBackend
{
    /// <summary>Bytes per logical block (a power of two, 512 to 65536).</summary>
    int BlockSize { get; }

    /// <summary>Number of logical blocks (the namespace size, NSZE).</summary>
    ulong BlockCount { get; }

    /// <summary>Reads <c>destination.Length / BlockSize</c> blocks starting at <paramref name="lba"/>.</summary>
    NvmeBackendResult Read(ulong lba, Span<byte> destination);

    /// <summary>Writes <c>source.Length / BlockSize</c> blocks starting at <paramref name="lba"/>.</summary>
    NvmeBackendResult Write(ulong lba, ReadOnlySpan<byte> source);

    /// <summary>Makes every completed write durable (NVM Flush command; a volatile cache is drained).</summary>
    NvmeBackendResult Flush();

    /// <summary>Deallocates (trims) blocks; afterwards they read as zeros (the DLFEAT the controller reports).</summary>
    NvmeBackendResult Deallocate(ulong lba, ulong blockCount);

    /// <summary>Sets blocks to zero.</summary>
    NvmeBackendResult WriteZeroes(ulong lba, ulong blockCount);
}
