using Microsoft.Extensions.Logging;

namespace PcieVirt.Hypervisor.Virtio;

/// <summary>Log messages of the virtio rings and the virtio-blk device.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 8500, Level = LogLevel.Error,
        Message = "virtqueue {Queue}: DEVICE_NEEDS_RESET: {Reason}")]
    public static partial void QueueBroken(ILogger logger, string queue, string reason);

    [LoggerMessage(EventId = 8501, Level = LogLevel.Trace,
        Message = "virtqueue {Queue}: popped head {Head} ({Segments} segments)")]
    public static partial void ChainPopped(ILogger logger, string queue, ushort head, int segments);

    [LoggerMessage(EventId = 8502, Level = LogLevel.Trace,
        Message = "virtqueue {Queue}: used head {Head} len {Length}, interrupt {Interrupt}")]
    public static partial void ChainUsed(ILogger logger, string queue, ushort head, uint length, bool interrupt);

    [LoggerMessage(EventId = 8510, Level = LogLevel.Trace,
        Message = "virtio-blk: head {Head} type {Type} sector {Sector} length {Length}")]
    public static partial void BlkRequest(ILogger logger, ushort head, uint type, ulong sector, long length);

    [LoggerMessage(EventId = 8511, Level = LogLevel.Debug,
        Message = "virtio-blk: head {Head} completes with status {Status} ({Reason})")]
    public static partial void BlkRequestFailed(ILogger logger, ushort head, byte status, string reason);

    [LoggerMessage(EventId = 8520, Level = LogLevel.Warning,
        Message = "virtio driver: device returned bad used entry (id {Id}); queue marked broken")]
    public static partial void DriverSawBadUsed(ILogger logger, uint id);
}
