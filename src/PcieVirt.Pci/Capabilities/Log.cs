using Microsoft.Extensions.Logging;

namespace PcieVirt.Pci.Capabilities;

/// <summary>Log messages of the capability types. Per-message traces are at Trace level.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 2100, Level = LogLevel.Warning,
        Message = "{Function}: PowerState write of unsupported {Requested} ignored; function stays in {Current}")]
    public static partial void UnsupportedPowerState(ILogger logger, string function, string requested, string current);

    [LoggerMessage(EventId = 2101, Level = LogLevel.Debug,
        Message = "{Function}: D3hot to D0 with No_Soft_Reset clear resets the function")]
    public static partial void PowerStateSoftReset(ILogger logger, string function);

    [LoggerMessage(EventId = 2110, Level = LogLevel.Warning,
        Message = "{Function}: MSI Multiple Message Enable {Written} exceeds Multiple Message Capable {Capable}; clamped to {Capable}")]
    public static partial void MsiMultipleMessageClamped(ILogger logger, string function, int written, int capable);

    [LoggerMessage(EventId = 2111, Level = LogLevel.Trace,
        Message = "{Function}: {Kind} vector {Vector} -> write 0x{Data:x8} to 0x{Address:x}")]
    public static partial void MessageSent(ILogger logger, string function, string kind, int vector, ulong address, uint data);

    [LoggerMessage(EventId = 2112, Level = LogLevel.Trace,
        Message = "{Function}: {Kind} vector {Vector} held pending")]
    public static partial void MessagePending(ILogger logger, string function, string kind, int vector);

    [LoggerMessage(EventId = 2113, Level = LogLevel.Debug,
        Message = "{Function}: {Kind} vector {Vector} message to 0x{Address:x} was not accepted upstream")]
    public static partial void MessageRejected(ILogger logger, string function, string kind, int vector, ulong address);

    [LoggerMessage(EventId = 2120, Level = LogLevel.Warning,
        Message = "{Function}: MSI-X {Structure} access of {Length} bytes at offset 0x{Offset:x} is not an aligned DWORD/QWORD access; write dropped")]
    public static partial void MsixBadAccess(ILogger logger, string function, string structure, int length, ulong offset);

    [LoggerMessage(EventId = 2130, Level = LogLevel.Information,
        Message = "{Function}: Initiate Function Level Reset")]
    public static partial void InitiateFlr(ILogger logger, string function);

    [LoggerMessage(EventId = 2131, Level = LogLevel.Warning,
        Message = "{Function}: {Field} write of encoding {Written} is not supported; field keeps {Kept}")]
    public static partial void FieldWriteRejected(ILogger logger, string function, string field, int written, int kept);

    [LoggerMessage(EventId = 2132, Level = LogLevel.Debug,
        Message = "{Function}: Initiate FLR written on a function that is not FLR capable; ignored")]
    public static partial void FlrNotCapable(ILogger logger, string function);

    [LoggerMessage(EventId = 2140, Level = LogLevel.Debug,
        Message = "{Function}: AER records {Error} (masked: {Masked}), signals {Message}")]
    public static partial void ErrorRecorded(ILogger logger, string function, string error, bool masked, string message);
}
