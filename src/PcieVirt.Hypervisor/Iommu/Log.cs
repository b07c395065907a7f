using Microsoft.Extensions.Logging;
using PcieVirt.Pci;

namespace PcieVirt.Hypervisor.Iommu;

/// <summary>Log messages of the IOMMU (DMA and interrupt remapping).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 5100, Level = LogLevel.Warning,
        Message = "IOMMU fault: {Operation} from {Requester} at 0x{Address:x} refused ({Reason})")]
    public static partial void Fault(ILogger logger, string operation, Bdf requester, ulong address, IommuFaultReason reason);

    [LoggerMessage(EventId = 5101, Level = LogLevel.Debug,
        Message = "IOMMU: {Requester} attached to {Domain}")]
    public static partial void Attached(ILogger logger, Bdf requester, string domain);

    [LoggerMessage(EventId = 5102, Level = LogLevel.Debug,
        Message = "IOMMU: {Requester} detached from {Domain}")]
    public static partial void Detached(ILogger logger, Bdf requester, string domain);

    [LoggerMessage(EventId = 5103, Level = LogLevel.Trace,
        Message = "IOMMU: {Requester} {Operation} IOVA 0x{Address:x} -> host 0x{HostAddress:x} ({Cache})")]
    public static partial void Translated(ILogger logger, Bdf requester, string operation, ulong address, ulong hostAddress, string cache);

    [LoggerMessage(EventId = 5104, Level = LogLevel.Trace,
        Message = "IOMMU: interrupt from {Requester} at 0x{Address:x} data 0x{Data:x} -> {Outcome}")]
    public static partial void Interrupt(ILogger logger, Bdf requester, ulong address, uint data, string outcome);
}
