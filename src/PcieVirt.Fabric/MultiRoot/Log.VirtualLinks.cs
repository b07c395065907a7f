using Microsoft.Extensions.Logging;

namespace PcieVirt.Fabric.MultiRoot;

// Log messages of the virtual links (per TLP, Trace level: zero cost when off).
internal static partial class Log
{
    [LoggerMessage(EventId = 1430, Level = LogLevel.Trace,
        Message = "{Channel} VL{Vl} {Type} {Payload} B ready {ReadyNs} ns: start {StartNs} ns, end {EndNs} ns, share {Share:F3}")]
    public static partial void VlTlp(ILogger logger, string channel, int vl, FcType type, int payload, ulong readyNs, ulong startNs, ulong endNs, double share);

    [LoggerMessage(EventId = 1431, Level = LogLevel.Trace,
        Message = "{Channel} VL{Vl} {Type}: no credits, held {StallNs} ns until an UpdateFC")]
    public static partial void VlCreditStall(ILogger logger, string channel, int vl, FcType type, ulong stallNs);
}
