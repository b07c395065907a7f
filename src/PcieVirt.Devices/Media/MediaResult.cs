namespace PcieVirt.Devices.Media;

/// <summary>Outcome of a request to a physical drive.</summary>
public enum MediaStatus
{
    /// <summary>Completed.</summary>
    Success,

    /// <summary>The range lies beyond the drive's capacity.</summary>
    OutOfRange,

    /// <summary>The drive has failed (by command or after an I/O error) and answers nothing.</summary>
    DriveFailed,
}

/// <summary>Status of a drive request and its service time in virtual nanoseconds.</summary>
public readonly record struct MediaResult(MediaStatus Status, long ServiceTimeNs)
{
    /// <summary>True for <see cref="MediaStatus.Success"/>.</summary>
    public bool IsSuccess => Status == MediaStatus.Success;
}

/// <summary>The operation a latency model prices.</summary>
public enum MediaOperation
{
    Read,
    Write,
    Flush,

    /// <summary>Deallocate a range; afterwards it reads as zeros.</summary>
    Trim,
}

/// <summary>Latency class of a drive; selects the default <see cref="ILatencyModel"/>.</summary>
public enum DriveKind
{
    /// <summary>NAND-flash NVMe SSD (data-centre class, power-loss protected).</summary>
    NvmeFlash,

    /// <summary>3D XPoint (Optane-class) NVMe SSD.</summary>
    Optane,

    /// <summary>7,200 rpm hard disk: seek + rotation + transfer.</summary>
    Hdd,
}
