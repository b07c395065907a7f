namespace PcieVirt.Devices.Raid;

/// <summary>Outcome of a volume request. The NVMe layer maps it to a status code.</summary>
public enum VolumeStatus
{
    /// <summary>Completed (NVMe Successful Completion).</summary>
    Success,

    /// <summary>The range is beyond <see cref="IVolume.BlockCount"/> (NVMe LBA Out of Range).</summary>
    OutOfRange,

    /// <summary>Write to a read-only volume (NVMe Attempted Write to Read Only Range).</summary>
    ReadOnly,

    /// <summary>Data could not be read or written: the volume has failed, or a snapshot was invalidated
    /// (NVMe Unrecovered Read Error / Write Fault).</summary>
    MediaError,

    /// <summary>A thin volume or snapshot found its extent pool exhausted (NVMe Capacity Exceeded).</summary>
    CapacityExceeded,

    /// <summary>Count is not positive or the buffer is smaller than count × block size (a caller bug;
    /// NVMe Invalid Field in Command).</summary>
    InvalidRequest,
}

/// <summary>Health of a volume.</summary>
public enum VolumeState
{
    /// <summary>All members in sync.</summary>
    Optimal,

    /// <summary>One or more members missing; data is served by reconstruction or from a mirror.</summary>
    Degraded,

    /// <summary>A replacement member is being rebuilt (and none is missing without a replacement).</summary>
    Rebuilding,

    /// <summary>More members lost than the level tolerates (or a snapshot invalidated): I/O fails.</summary>
    Failed,
}

/// <summary>Status of a volume request and its modelled service time in virtual nanoseconds.</summary>
public readonly record struct VolumeResult(VolumeStatus Status, long ServiceTimeNs)
{
    /// <summary>True for <see cref="VolumeStatus.Success"/>.</summary>
    public bool IsSuccess => Status == VolumeStatus.Success;

    /// <summary>A successful result taking <paramref name="ns"/> virtual nanoseconds.</summary>
    public static VolumeResult Ok(long ns) => new(VolumeStatus.Success, ns);

    /// <summary>A failed result with no service time.</summary>
    public static VolumeResult Fail(VolumeStatus status) => new(status, 0);
}
