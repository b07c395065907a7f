using Microsoft.Extensions.Logging;
using PcieVirt.Fabric;

namespace PcieVirt.Platform.HostOs;

/// <summary>Log messages of the host OS model (event IDs 3100–3149).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 3100, Level = LogLevel.Information, Message = "{Host}: PCI core up, {Pfs} SR-IOV PFs initialised, {Failures} failed")]
    public static partial void Booted(ILogger logger, string host, int pfs, int failures);

    [LoggerMessage(EventId = 3101, Level = LogLevel.Debug,
        Message = "{Pf}: VF BAR{Bar} at 0x{Base:x} is 0x{Size:x} bytes per VF (resource for {TotalVfs} VFs)")]
    public static partial void VfBarSized(ILogger logger, PciAddress pf, int bar, ulong @base, ulong size, int totalVfs);

    [LoggerMessage(EventId = 3102, Level = LogLevel.Information,
        Message = "{Pf}: SR-IOV: TotalVFs {TotalVfs}, offset {Offset}, stride {Stride}, VFs reach bus {MaxBus:x2} (bus range ends at {LastBus:x2})")]
    public static partial void PfInitialised(ILogger logger, PciAddress pf, int totalVfs, int offset, int stride, int maxBus, int lastBus);

    [LoggerMessage(EventId = 3103, Level = LogLevel.Information, Message = "{Pf}: enabled {Count} VFs ({First}..{Last})")]
    public static partial void VfsEnabled(ILogger logger, PciAddress pf, int count, PciAddress first, PciAddress last);

    [LoggerMessage(EventId = 3104, Level = LogLevel.Information, Message = "{Pf}: disabled {Count} VFs")]
    public static partial void VfsDisabled(ILogger logger, PciAddress pf, int count);

    [LoggerMessage(EventId = 3105, Level = LogLevel.Warning, Message = "{Where}: {Message}")]
    public static partial void Failed(ILogger logger, string where, string message);

    [LoggerMessage(EventId = 3106, Level = LogLevel.Debug, Message = "waited {Duration} ({Why}); now t={Now} ns")]
    public static partial void Waited(ILogger logger, string duration, string why, ulong now);
}
