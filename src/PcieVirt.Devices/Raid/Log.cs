using Microsoft.Extensions.Logging;

namespace PcieVirt.Devices.Raid;

/// <summary>Log messages of the RAID engine (management requests, member loss, rebuild, pools, snapshots).</summary>
internal static partial class Log
{
    // --- member and volume health ---

    [LoggerMessage(EventId = 6100, Level = LogLevel.Warning,
        Message = "Volume {Volume}: member {Drive} (slot {Slot}) returned {Status}; dropping it")]
    public static partial void MemberIoError(ILogger logger, string volume, string drive, int slot, string status);

    [LoggerMessage(EventId = 6101, Level = LogLevel.Warning, Message = "Volume {Volume}: slot {Slot} ({Drive}) is missing")]
    public static partial void MemberLost(ILogger logger, string volume, string drive, int slot);

    [LoggerMessage(EventId = 6102, Level = LogLevel.Error,
        Message = "Volume {Volume} ({Level}) has lost more members than it tolerates; it is failed and all I/O to it fails")]
    public static partial void VolumeFailed(ILogger logger, string volume, string level);

    [LoggerMessage(EventId = 6103, Level = LogLevel.Information,
        Message = "Volume {Volume}: rebuilding slot {Slot} onto {Drive} ({Rows} rows)")]
    public static partial void RebuildStarted(ILogger logger, string volume, string drive, int slot, long rows);

    [LoggerMessage(EventId = 6104, Level = LogLevel.Information, Message = "Volume {Volume}: slot {Slot} ({Drive}) rebuilt, in sync")]
    public static partial void RebuildCompleted(ILogger logger, string volume, string drive, int slot);

    [LoggerMessage(EventId = 6105, Level = LogLevel.Error,
        Message = "Volume {Volume}: stripe {Stripe} has {Lost} unreadable data chunks and too little parity to rebuild them")]
    public static partial void Unrecoverable(ILogger logger, string volume, long stripe, int lost);

    // --- management ---

    [LoggerMessage(EventId = 6120, Level = LogLevel.Warning, Message = "RAID engine: {Operation} refused: {Reason}")]
    public static partial void RequestRefused(ILogger logger, string operation, string reason);

    [LoggerMessage(EventId = 6121, Level = LogLevel.Information, Message = "RAID engine: drive {Drive} created: {Description}")]
    public static partial void DriveCreated(ILogger logger, string drive, string description);

    [LoggerMessage(EventId = 6122, Level = LogLevel.Information,
        Message = "RAID engine: volume {Volume} created: {Level} over {Members}, chunk {ChunkBytes} B, {Blocks} blocks of {BlockSize} B")]
    public static partial void VolumeCreated(ILogger logger, string volume, string level, string members, int chunkBytes, long blocks, int blockSize);

    [LoggerMessage(EventId = 6123, Level = LogLevel.Information, Message = "RAID engine: volume {Volume} deleted")]
    public static partial void VolumeDeleted(ILogger logger, string volume);

    [LoggerMessage(EventId = 6124, Level = LogLevel.Information, Message = "RAID engine: drive {Drive} is now {Role}")]
    public static partial void DriveRole(ILogger logger, string drive, string role);

    [LoggerMessage(EventId = 6125, Level = LogLevel.Information,
        Message = "RAID engine: pool {Pool} created on {Backing}: {Extents} extents of {ExtentBlocks} blocks")]
    public static partial void PoolCreated(ILogger logger, string pool, string backing, long extents, int extentBlocks);

    [LoggerMessage(EventId = 6126, Level = LogLevel.Information,
        Message = "RAID engine: thin volume {Volume} created in pool {Pool}: {Blocks} virtual blocks")]
    public static partial void ThinCreated(ILogger logger, string volume, string pool, long blocks);

    [LoggerMessage(EventId = 6127, Level = LogLevel.Information,
        Message = "RAID engine: snapshot {Snapshot} of {Origin} created ({Mode}), exceptions in pool {Pool}")]
    public static partial void SnapshotCreated(ILogger logger, string snapshot, string origin, string mode, string pool);

    [LoggerMessage(EventId = 6128, Level = LogLevel.Information, Message = "RAID engine: pool {Pool} deleted")]
    public static partial void PoolDeleted(ILogger logger, string pool);

    // --- thin provisioning and snapshots ---

    [LoggerMessage(EventId = 6140, Level = LogLevel.Warning,
        Message = "Thin volume {Volume}: pool {Pool} is exhausted; write at LBA {Lba} fails with Capacity Exceeded")]
    public static partial void PoolExhausted(ILogger logger, string volume, string pool, long lba);

    [LoggerMessage(EventId = 6141, Level = LogLevel.Error,
        Message = "Snapshot {Snapshot}: pool {Pool} is exhausted; the snapshot is invalidated (its I/O now fails)")]
    public static partial void SnapshotInvalidated(ILogger logger, string snapshot, string pool);
}
