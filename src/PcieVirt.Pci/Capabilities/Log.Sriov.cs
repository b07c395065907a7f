using Microsoft.Extensions.Logging;

namespace PcieVirt.Pci.Capabilities;

/// <summary>Log messages of the SR-IOV capability and virtual functions (event IDs 2150–2179).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 2150, Level = LogLevel.Warning,
        Message = "{Function}: NumVFs write of {Requested} exceeds TotalVFs {TotalVfs} (undefined, §9.3.3.7); ignored, NumVFs stays {Kept}")]
    public static partial void NumVfsExceedsTotal(ILogger logger, string function, int requested, int totalVfs, int kept);

    [LoggerMessage(EventId = 2151, Level = LogLevel.Warning,
        Message = "{Function}: NumVFs write of {Requested} while VF Enable is set (undefined, §9.3.3.7); ignored, NumVFs stays {Kept}")]
    public static partial void NumVfsWriteWhileEnabled(ILogger logger, string function, int requested, int kept);

    [LoggerMessage(EventId = 2152, Level = LogLevel.Warning,
        Message = "{Function}: System Page Size write of 0x{Requested:x8} is not exactly one of the Supported Page Sizes 0x{Supported:x8} (undefined, §9.3.3.13); ignored, stays 0x{Kept:x8}")]
    public static partial void SystemPageSizeRejected(ILogger logger, string function, uint requested, uint supported, uint kept);

    [LoggerMessage(EventId = 2153, Level = LogLevel.Warning,
        Message = "{Function}: System Page Size write of 0x{Requested:x8} while VF Enable is set (undefined, §9.3.3.13); ignored, stays 0x{Kept:x8}")]
    public static partial void SystemPageSizeWriteWhileEnabled(ILogger logger, string function, uint requested, uint kept);

    [LoggerMessage(EventId = 2154, Level = LogLevel.Warning,
        Message = "{Function}: VF Enable set with NumVFs = 0: no VF appears")]
    public static partial void VfEnableWithoutVfs(ILogger logger, string function);

    [LoggerMessage(EventId = 2155, Level = LogLevel.Information,
        Message = "{Function}: VF Enable: {Count} VFs at {First}..{Last} (offset {Offset}, stride {Stride}), config-ready at t={ReadyAt} ns")]
    public static partial void VfsEnabled(ILogger logger, string function, int count, string first, string last, int offset, int stride, ulong readyAt);

    [LoggerMessage(EventId = 2156, Level = LogLevel.Information,
        Message = "{Function}: {Count} VFs removed ({Reason})")]
    public static partial void VfsRemoved(ILogger logger, string function, int count, string reason);

    [LoggerMessage(EventId = 2157, Level = LogLevel.Warning,
        Message = "{Function}: ARI Capable Hierarchy change while VF Enable is set in a PF of the device (undefined, §9.3.3.3.5); ignored")]
    public static partial void AriChangeWhileEnabled(ILogger logger, string function);

    [LoggerMessage(EventId = 2158, Level = LogLevel.Error,
        Message = "{Function}: routing rule gave First VF Offset {Offset} and VF Stride {Stride} for NumVFs {NumVfs}; the spec forbids a zero offset with VFs and a zero stride with more than one VF (§9.3.3.9-10)")]
    public static partial void RoutingRuleInvalid(ILogger logger, string function, int numVfs, int offset, int stride);

    [LoggerMessage(EventId = 2159, Level = LogLevel.Warning,
        Message = "{Function}: VF{Number} routing ID {RoutingId} wraps below the PF's bus (§9.3.3.9: a VF never sits on a lower bus); it is unreachable")]
    public static partial void VfRoutingIdWraps(ILogger logger, string function, int number, string routingId);

    [LoggerMessage(EventId = 2160, Level = LogLevel.Debug,
        Message = "{Function}: System Page Size now {Bytes} bytes; VF BARs realigned")]
    public static partial void SystemPageSizeChanged(ILogger logger, string function, ulong bytes);

    [LoggerMessage(EventId = 2161, Level = LogLevel.Debug,
        Message = "{Function}: VF Migration Status set")]
    public static partial void VfMigrationStatus(ILogger logger, string function);
}
