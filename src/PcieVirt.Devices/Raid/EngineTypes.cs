using PcieVirt.Devices.Media;

namespace PcieVirt.Devices.Raid;

/// <summary>Outcome of a management request: success, or a message saying why it was refused.</summary>
public readonly record struct EngineResult(string? Error)
{
    public bool IsSuccess => Error is null;

    public static EngineResult Ok { get; } = new((string?)null);

    public static EngineResult Fail(string error) => new(error);

    public override string ToString() => Error ?? "ok";
}

/// <summary>Outcome of a management request that creates or finds something.</summary>
public readonly record struct EngineResult<T>(T? Value, string? Error) where T : class
{
    public bool IsSuccess => Error is null;

    public static EngineResult<T> Ok(T value) => new(value, null);

    public static EngineResult<T> Fail(string error) => new(null, error);

    public override string ToString() => Error ?? $"ok: {Value}";
}

/// <summary>A drive to create.</summary>
public sealed record DriveSpec
{
    /// <summary>Unique name, e.g. "d0".</summary>
    public required string Name { get; init; }

    public DriveKind Kind { get; init; } = DriveKind.NvmeFlash;

    /// <summary>Logical block size: 512 or 4096.</summary>
    public int BlockSize { get; init; } = 512;

    /// <summary>Capacity in bytes, a multiple of the block size. For an existing image file 0 takes the file's size.</summary>
    public long CapacityBytes { get; init; }

    /// <summary>Raw image file backing the drive; null for sparse in-memory storage.</summary>
    public string? ImagePath { get; init; }

    /// <summary>Seed of the latency model's jitter; null derives one from the engine seed and the drive name.</summary>
    public ulong? Seed { get; init; }

    /// <summary>A latency model replacing the default of <see cref="Kind"/>.</summary>
    public ILatencyModel? Latency { get; init; }
}

/// <summary>A RAID volume to create.</summary>
public sealed record VolumeSpec
{
    public required string Name { get; init; }

    public required RaidLevel Level { get; init; }

    /// <summary>Member drive names in slot order (the layout formulas number slots in this order).</summary>
    public required IReadOnlyList<string> Members { get; init; }

    /// <summary>Chunk ("stripe unit") size in bytes: a power of two from the block size to 16 MiB.</summary>
    public int StripeSizeBytes { get; init; } = 64 * 1024;

    /// <summary>Drives reserved as hot spares for this volume.</summary>
    public IReadOnlyList<string> Spares { get; init; } = [];
}

/// <summary>What a drive is used for, as listed by the engine.</summary>
public enum DriveState
{
    /// <summary>Online and not used by any volume.</summary>
    Available,

    /// <summary>Online member of a volume (in sync or being rebuilt).</summary>
    Member,

    /// <summary>Online hot spare, global or dedicated to a volume.</summary>
    Spare,

    /// <summary>Failed.</summary>
    Failed,
}

/// <summary>A drive as listed by <see cref="RaidEngine.ListDrives"/>.</summary>
/// <param name="Volume">The volume it is a member of or a dedicated spare for, else null.</param>
public sealed record PhysicalDriveInfo(string Name, DriveKind Kind, int BlockSize, long BlockCount, DriveState State, string? Volume, string? ImagePath);

/// <summary>A volume as listed by <see cref="RaidEngine.ListVolumes"/>.</summary>
/// <param name="Kind">"raid0" … "raid10", "thin" or "snapshot".</param>
/// <param name="Detail">Members and their states, the pool, or the origin.</param>
public sealed record VolumeInfo(int Id, string Name, string Kind, VolumeState State, long BlockCount, int BlockSize,
    long AllocatedBlocks, bool IsReadOnly, bool IsExposable, string Detail);
