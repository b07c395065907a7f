using Microsoft.Extensions.Logging;
using PcieVirt.Pci;

namespace PcieVirt.Fabric.MultiRoot;

/// <summary>Log messages of the multi-root switch and manager.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1400, Level = LogLevel.Trace,
        Message = "{Kind} {Direction} {Requester}->{Target} host link {HostLink} (untagged) | switch VH {InternalVh} | device link {DeviceLink}: {Prefix}")]
    public static partial void TaggedTlp(ILogger logger, MrTlpKind kind, string direction, string requester, string target,
        string hostLink, int internalVh, string deviceLink, MrIovPrefix prefix);

    [LoggerMessage(EventId = 1401, Level = LogLevel.Trace,
        Message = "{Kind} {Direction} {Target} host link {HostLink} (untagged) | switch VH {InternalVh} (virtual switch)")]
    public static partial void SwitchTlp(ILogger logger, MrTlpKind kind, string direction, Bdf target, string hostLink, int internalVh);

    [LoggerMessage(EventId = 1410, Level = LogLevel.Information,
        Message = "MR-PCIM: {Function} of {Device} hot-removed from VH {Vh} (virtual downstream port {Port})")]
    public static partial void HotRemoved(ILogger logger, string function, string device, int vh, int port);

    [LoggerMessage(EventId = 1411, Level = LogLevel.Information,
        Message = "MR-PCIM: {Function} of {Device} hot-added to VH {Vh} (virtual downstream port {Port})")]
    public static partial void HotAdded(ILogger logger, string function, string device, int vh, int port);

    [LoggerMessage(EventId = 1412, Level = LogLevel.Debug, Message = "MR-PCIM: {Operation} refused: {Reason}")]
    public static partial void Refused(ILogger logger, string operation, string reason);
}
