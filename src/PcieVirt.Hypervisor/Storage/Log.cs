using Microsoft.Extensions.Logging;

namespace PcieVirt.Hypervisor.Storage;

/// <summary>Log messages of the hypervisor's storage stack.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 5100, Level = LogLevel.Information, Message = "vmfs {Uuid} '{Label}': formatted, {FileBlocks} file blocks of {FileBlockSize} bytes")]
    public static partial void Formatted(ILogger logger, Guid uuid, string label, uint fileBlocks, int fileBlockSize);

    [LoggerMessage(EventId = 5101, Level = LogLevel.Information, Message = "vmfs {Uuid} '{Label}': mounted by host {HostId}, {FreeBlocks} free file blocks, {Leaked} leaked")]
    public static partial void Mounted(ILogger logger, Guid uuid, string label, ulong hostId, uint freeBlocks, uint leaked);

    [LoggerMessage(EventId = 5102, Level = LogLevel.Information, Message = "vmfs: created '{Name}' ({Size} bytes, thin={Thin})")]
    public static partial void Created(ILogger logger, string name, ulong size, bool thin);

    [LoggerMessage(EventId = 5103, Level = LogLevel.Information, Message = "vmfs: deleted '{Name}'")]
    public static partial void Deleted(ILogger logger, string name);

    [LoggerMessage(EventId = 5104, Level = LogLevel.Warning, Message = "vmfs: host {HostId} cannot open '{Name}': locked by host {Owner}")]
    public static partial void LockConflict(ILogger logger, string name, ulong hostId, ulong owner);

    [LoggerMessage(EventId = 5105, Level = LogLevel.Trace, Message = "vmfs: '{Name}' file block {Index} -> volume block {Block}")]
    public static partial void BlockAllocated(ILogger logger, string name, long index, uint block);
}
