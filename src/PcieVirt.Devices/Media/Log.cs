using Microsoft.Extensions.Logging;

namespace PcieVirt.Devices.Media;

/// <summary>Log messages of the physical drives.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 6000, Level = LogLevel.Warning, Message = "Drive {Drive} failed")]
    public static partial void DriveFailed(ILogger logger, string drive);

    [LoggerMessage(EventId = 6001, Level = LogLevel.Error,
        Message = "Drive {Drive}: host I/O error on {Operation} of {Count} blocks at LBA {Lba}; the drive is failed")]
    public static partial void DriveIoError(ILogger logger, Exception exception, string drive, string operation, long lba, int count);
}
