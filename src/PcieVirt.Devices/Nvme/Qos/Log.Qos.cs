using Microsoft.Extensions.Logging;

namespace PcieVirt.Devices.Nvme;

// QoS arbiter messages (4200-4219), part of the NVMe area's Log class.
internal static partial class Log
{
    [LoggerMessage(EventId = 4200, Level = LogLevel.Information, Message = "QoS: controller {ControllerId} limits {IopsLimit} IOPS, {BytesPerSecond} B/s, weight {Weight}, burst {BurstNs} ns (0 = unlimited)")]
    public static partial void QosConfigured(ILogger logger, ushort controllerId, ulong iopsLimit, ulong bytesPerSecond, int weight, ulong burstNs);

    [LoggerMessage(EventId = 4201, Level = LogLevel.Information, Message = "QoS: controller {ControllerId} put under the arbiter")]
    public static partial void QosControllerAdded(ILogger logger, ushort controllerId);

    [LoggerMessage(EventId = 4204, Level = LogLevel.Information, Message = "QoS: controller {ControllerId} taken from the arbiter")]
    public static partial void QosControllerRemoved(ILogger logger, ushort controllerId);

    [LoggerMessage(EventId = 4202, Level = LogLevel.Warning, Message = "{Controller}: Set Controller QoS for controller {Target} refused: {Reason}")]
    public static partial void QosRefused(ILogger logger, string controller, ushort target, string reason);

    [LoggerMessage(EventId = 4203, Level = LogLevel.Debug, Message = "{Controller}: {Count} command(s) in execution dropped by the reset")]
    public static partial void InFlightDropped(ILogger logger, string controller, int count);
}
