using Microsoft.Extensions.Logging;
using PcieVirt.Pci;

namespace PcieVirt.Fabric;

/// <summary>Log messages of the fabric (routing, TLP traces, enumeration).</summary>
internal static partial class Log
{
    // --- per-TLP traces (category PcieVirt.Fabric.Tlp, Trace level) ---

    [LoggerMessage(EventId = 1000, Level = LogLevel.Trace,
        Message = "{Type} requester={RequesterId} target={Target} register=0x{Register:x3} be=0x{ByteEnables:x1} data=0x{Data:x8} status={Status}")]
    public static partial void ConfigTlp(ILogger logger, ConfigTlpType type, Bdf requesterId, Bdf target, int register,
        int byteEnables, uint data, string status);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Trace,
        Message = "{Type} requester={RequesterId} address=0x{Address:x} length={Length} completer={Completer} status={Status}")]
    public static partial void AddressTlp(ILogger logger, string type, Bdf requesterId, ulong address, int length, Bdf completer, string status);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Trace,
        Message = "{Type} requester={RequesterId} address=0x{Address:x} length={Length} upstream to {Destination} status={Status}")]
    public static partial void UpstreamTlp(ILogger logger, string type, Bdf requesterId, ulong address, int length, string destination, string status);

    // --- routing events (category PcieVirt.Fabric) ---

    [LoggerMessage(EventId = 1100, Level = LogLevel.Debug,
        Message = "Config {Operation} to {Target} offset 0x{Offset:x3} width {Width}: Unsupported Request ({Reason})")]
    public static partial void ConfigUnsupportedRequest(ILogger logger, string operation, Bdf target, int offset, int width, string reason);

    [LoggerMessage(EventId = 1101, Level = LogLevel.Warning,
        Message = "ECAM {Operation} at 0x{Address:x} width {Width} rejected: {Reason}; completed as Unsupported Request")]
    public static partial void EcamAccessRejected(ILogger logger, string operation, ulong address, int width, string reason);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Warning,
        Message = "Config access to {Address} offset 0x{Offset:x} width {Width} rejected: {Reason}; completed as Unsupported Request")]
    public static partial void ConfigAccessRejected(ILogger logger, PciAddress address, int offset, int width, string reason);

    [LoggerMessage(EventId = 1103, Level = LogLevel.Error,
        Message = "Device model {Function} faulted on a config access at 0x{Offset:x3} width {Width}; completed as Completer Abort")]
    public static partial void ConfigDeviceFault(ILogger logger, Exception exception, string function, int offset, int width);

    [LoggerMessage(EventId = 1104, Level = LogLevel.Debug,
        Message = "Host {Space} {Operation} at 0x{Address:x} length {Length}: Unsupported Request (no function decodes it)")]
    public static partial void AddressUnsupportedRequest(ILogger logger, string space, string operation, ulong address, int length);

    [LoggerMessage(EventId = 1105, Level = LogLevel.Debug,
        Message = "Host {Space} access at 0x{Address:x} length {Length} rejected: {Reason}")]
    public static partial void HostAccessRejected(ILogger logger, string space, ulong address, int length, string reason);

    [LoggerMessage(EventId = 1106, Level = LogLevel.Error,
        Message = "Device model {Function} faulted on a BAR{Bar} access at offset 0x{Offset:x}; completed as Completer Abort")]
    public static partial void BarDeviceFault(ILogger logger, Exception exception, string function, int bar, ulong offset);

    [LoggerMessage(EventId = 1107, Level = LogLevel.Debug,
        Message = "Request from {RequesterId} ({Function}) at 0x{Address:x} not issued: {Reason}")]
    public static partial void UpstreamBlocked(ILogger logger, Bdf requesterId, ulong address, string function, string reason);

    [LoggerMessage(EventId = 1108, Level = LogLevel.Debug,
        Message = "Request from {RequesterId} at 0x{Address:x}: Unsupported Request ({Reason})")]
    public static partial void UpstreamUnsupported(ILogger logger, Bdf requesterId, ulong address, string reason);

    // --- enumeration (category of the logger given to FirmwareEnumerator) ---

    [LoggerMessage(EventId = 1200, Level = LogLevel.Debug,
        Message = "Found {Address} [{VendorId:x4}:{DeviceId:x4}] class {ClassCode:x6} bridge={IsBridge}")]
    public static partial void EnumerationFound(ILogger logger, PciAddress address, ushort vendorId, ushort deviceId, uint classCode, bool isBridge);

    [LoggerMessage(EventId = 1201, Level = LogLevel.Warning, Message = "Enumeration of {Function}: {Message}")]
    public static partial void EnumerationFailure(ILogger logger, string function, string message);

    [LoggerMessage(EventId = 1202, Level = LogLevel.Information,
        Message = "Enumerated {RootComplex}: {Count} functions, buses up to {LastBus:x2}, {Failures} failures")]
    public static partial void EnumerationDone(ILogger logger, string rootComplex, int count, int lastBus, int failures);

    [LoggerMessage(EventId = 1203, Level = LogLevel.Error, Message = "Enumeration aborted by an unexpected fault")]
    public static partial void EnumerationAborted(ILogger logger, Exception exception);

    // --- SR-IOV VFs in the fabric (category PcieVirt.Fabric) ---

    [LoggerMessage(EventId = 1300, Level = LogLevel.Debug,
        Message = "{Pf}: {Count} VFs placed in the fabric at {First}..{Last}")]
    public static partial void VfsPlaced(ILogger logger, string pf, int count, Bdf first, Bdf last);

    [LoggerMessage(EventId = 1301, Level = LogLevel.Debug,
        Message = "{Pf}: {Count} VFs taken out of the fabric")]
    public static partial void VfsUnplaced(ILogger logger, string pf, int count);

    [LoggerMessage(EventId = 1302, Level = LogLevel.Warning,
        Message = "{Pf}: {Count} VFs ({First}..{Last}) sit on buses beyond the upstream bridge's Subordinate Bus Number {Subordinate:x2}; configuration requests cannot reach them (§7.3.3)")]
    public static partial void VfsUnreachable(ILogger logger, string pf, int count, Bdf first, Bdf last, int subordinate);

    [LoggerMessage(EventId = 1303, Level = LogLevel.Error,
        Message = "{Pf}: {Count} VFs cannot be placed, the first {First}: {Reason}")]
    public static partial void VfsNotPlaced(ILogger logger, string pf, int count, string first, string reason);

    [LoggerMessage(EventId = 1304, Level = LogLevel.Debug,
        Message = "Config {Operation} to {Target} offset 0x{Offset:x3} width {Width}: Configuration Request Retry Status (VF not ready until t={ReadyAt} ns, now t={Now} ns; §9.3.3.3.1){Visibility}")]
    public static partial void ConfigRequestRetry(ILogger logger, string operation, Bdf target, int offset, int width, ulong readyAt, ulong now, string visibility);

    // --- host failure (category PcieVirt.Fabric) ---

    [LoggerMessage(EventId = 1320, Level = LogLevel.Warning,
        Message = "{RootComplex} failed at t={Now} ns: it issues no more requests; requests towards it complete UR or are dropped")]
    public static partial void RootComplexFailed(ILogger logger, string rootComplex, ulong now);

    [LoggerMessage(EventId = 1321, Level = LogLevel.Debug,
        Message = "{RootComplex} is failed: {Kind} from {Requester} at 0x{Address:x} refused")]
    public static partial void RefusedByFailedHost(ILogger logger, string rootComplex, string kind, Bdf requester, ulong address);

    [LoggerMessage(EventId = 1322, Level = LogLevel.Information,
        Message = "{RootComplex}: slot rescan below {Port} found {Functions} functions, {Failures} failures")]
    public static partial void SlotRescanned(ILogger logger, string rootComplex, Bdf port, int functions, int failures);
}
