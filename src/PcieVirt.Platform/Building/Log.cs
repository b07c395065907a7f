using Microsoft.Extensions.Logging;

namespace PcieVirt.Platform.Building;

internal static partial class Log
{
    [LoggerMessage(EventId = 3002, Level = LogLevel.Information,
        Message = "{Function}: device kind '{Kind}' has no behaviour model yet; the function exposes its registers only")]
    public static partial void DeviceKindAsGeneric(ILogger logger, string function, string kind);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Information,
        Message = "{Host}: enumerated {Functions} functions, buses {RootBus:x2}..{LastBus:x2}, {Failures} failures")]
    public static partial void Enumerated(ILogger logger, string host, int functions, int rootBus, int lastBus, int failures);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Warning, Message = "{Host}: enumeration: {Failure}")]
    public static partial void EnumerationFailure(ILogger logger, string host, string failure);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Warning, Message = "VH0 (management) enumeration: {Failure}")]
    public static partial void ManagementEnumerationFailure(ILogger logger, string failure);
}
