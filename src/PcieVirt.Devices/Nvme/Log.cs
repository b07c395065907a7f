using Microsoft.Extensions.Logging;

namespace PcieVirt.Devices.Nvme;

/// <summary>Log messages of the NVMe controller model. Per-command traces are at Trace level.</summary>
internal static partial class Log
{
    // --- registers and state (4000-4049) ---

    [LoggerMessage(EventId = 4000, Level = LogLevel.Debug, Message = "{Controller}: write to read-only register {Register} (0x{Offset:x2}) ignored")]
    public static partial void ReadOnlyRegisterWrite(ILogger logger, string controller, string register, int offset);

    [LoggerMessage(EventId = 4001, Level = LogLevel.Warning, Message = "{Controller}: {Width}-byte register access at 0x{Offset:x} is not an aligned dword or qword; write dropped")]
    public static partial void BadRegisterAccess(ILogger logger, string controller, int width, ulong offset);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Information, Message = "{Controller}: enabled (admin SQ 0x{Asq:x} x{SqSize}, CQ 0x{Acq:x} x{CqSize}, page {PageSize} B); ready at {ReadyAtNs} ns")]
    public static partial void Enabled(ILogger logger, string controller, ulong asq, int sqSize, ulong acq, int cqSize, int pageSize, ulong readyAtNs);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Error, Message = "{Controller}: controller fatal status: {Reason}")]
    public static partial void Fatal(ILogger logger, string controller, string reason);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Information, Message = "{Controller}: controller reset ({Cause})")]
    public static partial void ControllerReset(ILogger logger, string controller, string cause);

    [LoggerMessage(EventId = 4005, Level = LogLevel.Information, Message = "{Controller}: shutdown notification {Kind}; complete at {CompleteAtNs} ns")]
    public static partial void Shutdown(ILogger logger, string controller, string kind, ulong completeAtNs);

    [LoggerMessage(EventId = 4006, Level = LogLevel.Warning, Message = "{Controller}: CC.{Field} changed while CC.EN is 1; the change is ignored (the field may change only while disabled)")]
    public static partial void CcFieldChangeWhileEnabled(ILogger logger, string controller, string field);

    [LoggerMessage(EventId = 4007, Level = LogLevel.Error, Message = "{Controller}: unexpected fault while processing commands; controller fatal")]
    public static partial void InternalFault(ILogger logger, System.Exception exception, string controller);

    [LoggerMessage(EventId = 4008, Level = LogLevel.Debug, Message = "{Controller}: INTMS/INTMC written while MSI-X is enabled; ignored (the registers apply to pin and MSI interrupts)")]
    public static partial void InterruptMaskWithMsix(ILogger logger, string controller);

    // --- doorbells (4050-4069) ---

    [LoggerMessage(EventId = 4050, Level = LogLevel.Warning, Message = "{Controller}: doorbell write at 0x{Offset:x}: {Reason}")]
    public static partial void BadDoorbell(ILogger logger, string controller, int offset, string reason);

    [LoggerMessage(EventId = 4051, Level = LogLevel.Debug, Message = "{Controller}: doorbell write at 0x{Offset:x} ignored: controller not ready")]
    public static partial void DoorbellNotReady(ILogger logger, string controller, int offset);

    [LoggerMessage(EventId = 4052, Level = LogLevel.Trace, Message = "{Controller}: {Queue} {Qid} doorbell = {Value}")]
    public static partial void Doorbell(ILogger logger, string controller, string queue, int qid, int value);

    // --- commands (4070-4099) ---

    [LoggerMessage(EventId = 4070, Level = LogLevel.Trace, Message = "{Controller}: SQ{SqId} cid {Cid} opcode 0x{Opcode:x2} nsid {Nsid} -> {Status}")]
    public static partial void Command(ILogger logger, string controller, int sqId, int cid, int opcode, uint nsid, NvmeStatus status);

    [LoggerMessage(EventId = 4071, Level = LogLevel.Debug, Message = "{Controller}: SQ{SqId} cid {Cid} opcode 0x{Opcode:x2} failed: {Status} ({Reason})")]
    public static partial void CommandFailed(ILogger logger, string controller, int sqId, int cid, int opcode, NvmeStatus status, string reason);

    [LoggerMessage(EventId = 4072, Level = LogLevel.Information, Message = "{Controller}: {What} queue {Qid} created: {Entries} entries at 0x{Base:x}{Extra}")]
    public static partial void QueueCreated(ILogger logger, string controller, string what, int qid, int entries, ulong @base, string extra);

    [LoggerMessage(EventId = 4073, Level = LogLevel.Information, Message = "{Controller}: {What} queue {Qid} deleted")]
    public static partial void QueueDeleted(ILogger logger, string controller, string what, int qid);

    [LoggerMessage(EventId = 4074, Level = LogLevel.Debug, Message = "{Controller}: asynchronous event type {Type} info 0x{Info:x2} log 0x{LogPage:x2} {Disposition}")]
    public static partial void AsyncEvent(ILogger logger, string controller, int type, int info, int logPage, string disposition);

    [LoggerMessage(EventId = 4075, Level = LogLevel.Information, Message = "{Controller}: virtualization management: {Action}")]
    public static partial void Virtualization(ILogger logger, string controller, string action);

    [LoggerMessage(EventId = 4076, Level = LogLevel.Debug, Message = "{Controller}: namespace {Nsid} {Change}")]
    public static partial void NamespaceVisibility(ILogger logger, string controller, uint nsid, string change);

    // --- subsystem (4100-4119) ---

    [LoggerMessage(EventId = 4100, Level = LogLevel.Information, Message = "Namespace {Nsid} added: {Blocks} blocks of {BlockSize} B")]
    public static partial void NamespaceAdded(ILogger logger, uint nsid, ulong blocks, int blockSize);

    [LoggerMessage(EventId = 4101, Level = LogLevel.Information, Message = "Namespace {Nsid} attached to controller {ControllerId}")]
    public static partial void NamespaceAttached(ILogger logger, uint nsid, ushort controllerId);

    [LoggerMessage(EventId = 4102, Level = LogLevel.Information, Message = "Namespace {Nsid} detached from controller {ControllerId}")]
    public static partial void NamespaceDetached(ILogger logger, uint nsid, ushort controllerId);
}
