using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using static PcieVirt.Devices.Nvme.NvmeRegisters;

namespace PcieVirt.Devices.Nvme;

// Admin command set (NVMe Base 1.4 §5): queue management, Get Log Page, Set/Get Features,
// Asynchronous Event Request, Abort, Namespace Attachment.
public sealed partial class NvmeController
{
    // ---- features (current values; defaults restored at every Controller Level Reset) ----
    byte _coalesceThreshold, _coalesceTime;
    readonly bool[] _vectorCoalescingDisabled;
    int _allocatedSq, _allocatedCq;
    bool _ioQueuesCreated;
    bool _writeCacheEnabled;
    uint _asyncEventConfig, _arbitration, _powerState, _errorRecovery, _writeAtomicity;
    ushort _overTemperatureThreshold, _underTemperatureThreshold;
    int _ioQueueLimit, _interruptLimit;

    // ---- asynchronous events (Asynchronous Event Request command) ----
    readonly ushort[] _aerCids;
    int _aerCount;
    readonly uint[] _events = new uint[16];
    int _eventCount;
    int _maskedEventTypes; // bit per Asynchronous Event Type reported and not yet cleared by reading its log

    // ---- namespaces this controller sees (attached), indexed by NSID; changed list (log 04h) ----
    // Indexed by NSID; grown to the highest attached NSID only, so an idle VF does not carry a slot per
    // namespace the subsystem could ever hold.
    NvmeNamespace?[] _active = [];
    const int ChangedNsListEntries = 1024; // the Changed Namespace List log page holds 1024 NSIDs
    uint[] _changedNs = [];                 // grown as namespaces change, up to ChangedNsListEntries
    int _changedNsCount;

    // ---- Error Information log (log 01h): a ring, newest reported first ----
    struct ErrorEntry
    {
        public ulong Count;
        public ushort SqId, CommandId, StatusField, Location;
        public ulong Lba;
        public uint Nsid;
    }

    ErrorEntry[]? _errorLog; // allocated on the first error
    int _errorNext;
    ulong _errorCount;

    // ---- SMART / Health counters (log 02h) ----
    ulong _read512, _written512, _hostReads, _hostWrites, _mediaErrors, _busyNs;

    /// <summary>Error Information entries recorded since creation (the log's Error Count of the newest entry).</summary>
    public ulong ErrorCount => _errorCount;

    const ushort CurrentTemperatureK = 0x0137; // 311 K (38 °C), constant in this model
    const ushort WarningTemperatureK = 0x0157, CriticalTemperatureK = 0x0165;

    void ResetFeatures()
    {
        _coalesceThreshold = _coalesceTime = 0;
        Array.Clear(_vectorCoalescingDisabled);
        _ioQueuesCreated = false;
        _writeCacheEnabled = _o.VolatileWriteCache;
        _asyncEventConfig = 0;
        _arbitration = 0b111; // Arbitration Burst 111b: no limit
        _powerState = 0;
        _errorRecovery = 0;
        _writeAtomicity = 0;
        _overTemperatureThreshold = WarningTemperatureK;
        _underTemperatureThreshold = 0;
        ApplyResourceLimits();
    }

    /// <summary>How many I/O queue pairs and interrupt vectors this controller may use now (§8.5 resources).</summary>
    void ApplyResourceLimits()
    {
        if (IsSecondary)
        {
            var s = Subsystem.FindSecondary(ControllerId);
            _ioQueueLimit = s is { IsOnline: true } ? Math.Min(_o.MaxIoQueuePairs, Math.Max(0, s.QueueResources - 1)) : 0;
            _interruptLimit = s is { IsOnline: true } ? s.InterruptResources : 0;
        }
        else if (_o.Virtualization is { } v)
        {
            _ioQueueLimit = Math.Min(_o.MaxIoQueuePairs, v.PrivateQueues + _primaryQueuesFlexible - 1);
            _interruptLimit = v.PrivateInterrupts + _primaryInterruptsFlexible;
        }
        else
        {
            _ioQueueLimit = _o.MaxIoQueuePairs;
            _interruptLimit = int.MaxValue;
        }
        _allocatedSq = _allocatedCq = _ioQueueLimit;
    }

    void ExecuteAdmin(in NvmeCommand cmd, ushort cid)
    {
        _result.ServiceNs = 0;
        if (cmd.Fuse != 0) { Fail(NvmeStatus.InvalidFieldInCommand, "fused operations are not supported", 1); return; }
        switch (cmd.Opcode)
        {
            case NvmeAdminOpcode.DeleteIoSubmissionQueue: DeleteSq(cmd); break;
            case NvmeAdminOpcode.CreateIoSubmissionQueue: CreateSq(cmd); break;
            case NvmeAdminOpcode.GetLogPage: GetLogPage(cmd); break;
            case NvmeAdminOpcode.DeleteIoCompletionQueue: DeleteCq(cmd); break;
            case NvmeAdminOpcode.CreateIoCompletionQueue: CreateCq(cmd); break;
            case NvmeAdminOpcode.Identify: Identify(cmd); break;
            case NvmeAdminOpcode.Abort: Abort(cmd); break;
            case NvmeAdminOpcode.SetFeatures: SetFeatures(cmd); break;
            case NvmeAdminOpcode.GetFeatures: GetFeatures(cmd); break;
            case NvmeAdminOpcode.AsynchronousEventRequest: AsyncEventRequest(cid); break;
            case NvmeAdminOpcode.NamespaceAttachment when !IsSecondary: NamespaceAttachment(cmd); break;
            case NvmeAdminOpcode.VirtualizationManagement when IsPrimary: VirtualizationManagement(cmd); break;
            case SetControllerQosOpcode when IsPrimary: SetControllerQos(cmd); break;
            default: Fail(NvmeStatus.InvalidCommandOpcode, "opcode not supported by this controller", 0); break;
        }
    }

    // ---------------------------------------------------------------- queue management

    void CreateCq(in NvmeCommand cmd)
    {
        int qid = (ushort)cmd.Cdw10, size = (int)(cmd.Cdw10 >> 16) + 1;
        bool contiguous = (cmd.Cdw11 & 1) != 0, interrupts = (cmd.Cdw11 & 2) != 0;
        int vector = (int)(cmd.Cdw11 >> 16);
        if (qid == 0 || qid > _allocatedCq || _cqs[qid].Exists)
        { Fail(NvmeStatus.InvalidQueueIdentifier, $"CQ {qid} is 0, beyond the {_allocatedCq} allocated, or exists", 40); return; }
        if (size < 2 || size > _o.MaxQueueEntries)
        { Fail(NvmeStatus.InvalidQueueSize, $"{size} entries is outside 2..{_o.MaxQueueEntries} (CAP.MQES)", 42); return; }
        if (CcFields.Iocqes.Get(_cc) != 4)
        { Fail(NvmeStatus.InvalidQueueSize, "CC.IOCQES is not set to the supported 16-byte entry"); return; }
        if (!contiguous)
        { Fail(NvmeStatus.InvalidFieldInCommand, "CAP.CQR is set: queues must be physically contiguous (PC=1)", 44); return; }
        if ((cmd.Prp1 & (ulong)(PageSize - 1)) != 0)
        { Fail(NvmeStatus.PrpOffsetInvalid, $"queue base 0x{cmd.Prp1:x} is not memory-page aligned", 24); return; }
        if (vector >= UsableVectors())
        { Fail(NvmeStatus.InvalidInterruptVector, $"vector {vector} is beyond the {UsableVectors()} usable", 46); return; }
        _cqs[qid].Open(cmd.Prp1, size, vector, interrupts);
        _ioQueuesCreated = true;
        if (_log.IsEnabled(LogLevel.Information))
            Log.QueueCreated(_log, _name, "completion", qid, size, cmd.Prp1, interrupts ? $", vector {vector}" : ", interrupts off");
    }

    void CreateSq(in NvmeCommand cmd)
    {
        int qid = (ushort)cmd.Cdw10, size = (int)(cmd.Cdw10 >> 16) + 1;
        bool contiguous = (cmd.Cdw11 & 1) != 0;
        int priority = (int)(cmd.Cdw11 >> 1) & 3, cqid = (int)(cmd.Cdw11 >> 16);
        if (qid == 0 || qid > _allocatedSq || _sqs[qid].Exists)
        { Fail(NvmeStatus.InvalidQueueIdentifier, $"SQ {qid} is 0, beyond the {_allocatedSq} allocated, or exists", 40); return; }
        if (size < 2 || size > _o.MaxQueueEntries)
        { Fail(NvmeStatus.InvalidQueueSize, $"{size} entries is outside 2..{_o.MaxQueueEntries} (CAP.MQES)", 42); return; }
        if (CcFields.Iosqes.Get(_cc) != 6)
        { Fail(NvmeStatus.InvalidQueueSize, "CC.IOSQES is not set to the supported 64-byte entry"); return; }
        if (cqid == 0 || cqid >= _cqs.Length || !_cqs[cqid].Exists)
        { Fail(NvmeStatus.CompletionQueueInvalid, $"CQ {cqid} does not exist (or is the admin CQ)", 46); return; }
        if (!contiguous)
        { Fail(NvmeStatus.InvalidFieldInCommand, "CAP.CQR is set: queues must be physically contiguous (PC=1)", 44); return; }
        if ((cmd.Prp1 & (ulong)(PageSize - 1)) != 0)
        { Fail(NvmeStatus.PrpOffsetInvalid, $"queue base 0x{cmd.Prp1:x} is not memory-page aligned", 24); return; }
        _sqs[qid].Open(cmd.Prp1, size, (ushort)cqid, priority);
        _cqs[cqid].SqCount++;
        _ioQueuesCreated = true;
        if (_log.IsEnabled(LogLevel.Information)) Log.QueueCreated(_log, _name, "submission", qid, size, cmd.Prp1, $", CQ {cqid}");
    }

    void DeleteSq(in NvmeCommand cmd)
    {
        int qid = (ushort)cmd.Cdw10;
        if (qid == 0 || qid >= _sqs.Length || !_sqs[qid].Exists)
        { Fail(NvmeStatus.InvalidQueueIdentifier, $"SQ {qid} does not exist (or is the admin SQ)", 40); return; }
        var sq = _sqs[qid];
        var cq = _cqs[sq.CqId];
        // Commands submitted but not yet processed are aborted, each with its own completion (§5, Delete I/O SQ).
        Span<byte> entry = stackalloc byte[NvmeCommand.Size];
        while (sq.Head != sq.Tail && !WouldFillAdminSlot(cq))
        {
            if (!DmaRead(sq.Base + (ulong)sq.Head * NvmeCommand.Size, entry)) break;
            sq.Head = (sq.Head + 1) % sq.Size;
            ushort abortedCid = new NvmeCommand(entry).CommandId;
            RecordError(sq.Id, abortedCid, NvmeStatus.CommandAbortedSqDeletion, 0);
            if (!PostCompletion(cq, sq.Id, (ushort)sq.Head, abortedCid, 0, NvmeStatus.CommandAbortedSqDeletion)) break;
        }
        AbandonAsync(sq.Id);
        sq.Close();
        cq.SqCount--;
        Log.QueueDeleted(_log, _name, "submission", qid);
    }

    /// <summary>True when posting to <paramref name="cq"/> would take the slot the running admin command needs (same CQ) or none is free.</summary>
    bool WouldFillAdminSlot(CompletionQueue cq) =>
        cq.IsFull || (cq.Id == 0 && (cq.Tail + 2) % cq.Size == cq.Head);

    void DeleteCq(in NvmeCommand cmd)
    {
        int qid = (ushort)cmd.Cdw10;
        if (qid == 0 || qid >= _cqs.Length || !_cqs[qid].Exists)
        { Fail(NvmeStatus.InvalidQueueIdentifier, $"CQ {qid} does not exist (or is the admin CQ)", 40); return; }
        if (_cqs[qid].SqCount > 0)
        { Fail(NvmeStatus.InvalidQueueDeletion, $"CQ {qid} still has {_cqs[qid].SqCount} submission queue(s)", 40); return; }
        _cqs[qid].Close();
        Log.QueueDeleted(_log, _name, "completion", qid);
    }

    // ---------------------------------------------------------------- features

    void SetFeatures(in NvmeCommand cmd)
    {
        byte fid = (byte)cmd.Cdw10;
        bool save = (cmd.Cdw10 & 0x8000_0000) != 0;
        uint v = cmd.Cdw11;
        if (!IsKnownFeature(fid)) { Fail(NvmeStatus.InvalidFieldInCommand, $"feature 0x{fid:x2} is not supported", 40); return; }
        if (save) { Fail(NvmeStatus.FeatureIdentifierNotSaveable, "no feature is saveable (no persistent settings)", 43, 7); return; }
        switch (fid)
        {
            case NvmeFeatureId.Arbitration:
                _arbitration = v;
                break;
            case NvmeFeatureId.PowerManagement:
                if ((v & 0x1F) != 0) { Fail(NvmeStatus.InvalidFieldInCommand, "only power state 0 exists (NPSS = 0)", 44); return; }
                _powerState = v & 0xFF;
                break;
            case NvmeFeatureId.TemperatureThreshold:
                // TMPSEL 0 (composite) only; THSEL 00b over, 01b under.
                if (((v >> 16) & 0xF) != 0 || ((v >> 20) & 3) > 1) { Fail(NvmeStatus.InvalidFieldInCommand, "only the composite temperature's thresholds exist", 46); return; }
                if (((v >> 20) & 3) == 0) _overTemperatureThreshold = (ushort)v; else _underTemperatureThreshold = (ushort)v;
                break;
            case NvmeFeatureId.ErrorRecovery:
                if ((v & 0x1_0000) != 0) { Fail(NvmeStatus.InvalidFieldInCommand, "DULBE needs deallocated-block errors, which no namespace reports", 46); return; }
                _errorRecovery = v & 0xFFFF;
                break;
            case NvmeFeatureId.VolatileWriteCache:
                if (!_o.VolatileWriteCache) { Fail(NvmeStatus.InvalidFieldInCommand, "no volatile write cache is present (VWC bit 0 clear)", 40); return; }
                _writeCacheEnabled = (v & 1) != 0;
                break;
            case NvmeFeatureId.NumberOfQueues:
                SetNumberOfQueues(v);
                return;
            case NvmeFeatureId.InterruptCoalescing:
                _coalesceThreshold = (byte)v;
                _coalesceTime = (byte)(v >> 8);
                break;
            case NvmeFeatureId.InterruptVectorConfiguration:
            {
                int vector = (ushort)v;
                if (vector >= _vectorCoalescingDisabled.Length || vector >= UsableVectors())
                { Fail(NvmeStatus.InvalidFieldInCommand, $"interrupt vector {vector} is not usable", 44); return; }
                if (vector == 0 && (v & 0x1_0000) == 0)
                { Fail(NvmeStatus.InvalidFieldInCommand, "the admin queue's vector 0 cannot be coalesced (CD must stay 1)", 46); return; }
                _vectorCoalescingDisabled[vector] = (v & 0x1_0000) != 0;
                break;
            }
            case NvmeFeatureId.WriteAtomicityNormal:
                _writeAtomicity = v & 1;
                break;
            case NvmeFeatureId.AsynchronousEventConfiguration:
                _asyncEventConfig = v & 0x1FF; // SMART critical warnings (7:0) and Namespace Attribute Notices (8)
                break;
        }
        _result.Dword0 = 0;
    }

    void SetNumberOfQueues(uint v)
    {
        int nsqr = (ushort)v, ncqr = (int)(v >> 16);
        if (nsqr == 0xFFFF || ncqr == 0xFFFF) { Fail(NvmeStatus.InvalidFieldInCommand, "65536 queues cannot be requested", 44); return; }
        // Allowed once after a reset, before any I/O queue exists (Number of Queues feature).
        if (_ioQueuesCreated) { Fail(NvmeStatus.CommandSequenceError, "I/O queues were already created since the last reset"); return; }
        if (_ioQueueLimit == 0) { Fail(NvmeStatus.InvalidFieldInCommand, "this controller has no I/O queue resources", 44); return; }
        _allocatedSq = Math.Min(nsqr + 1, _ioQueueLimit);
        _allocatedCq = Math.Min(ncqr + 1, _ioQueueLimit);
        _result.Dword0 = (uint)(_allocatedSq - 1) | (uint)(_allocatedCq - 1) << 16;
    }

    static bool IsKnownFeature(byte fid) => fid is NvmeFeatureId.Arbitration or NvmeFeatureId.PowerManagement
        or NvmeFeatureId.TemperatureThreshold or NvmeFeatureId.ErrorRecovery or NvmeFeatureId.VolatileWriteCache
        or NvmeFeatureId.NumberOfQueues or NvmeFeatureId.InterruptCoalescing or NvmeFeatureId.InterruptVectorConfiguration
        or NvmeFeatureId.WriteAtomicityNormal or NvmeFeatureId.AsynchronousEventConfiguration;

    void GetFeatures(in NvmeCommand cmd)
    {
        byte fid = (byte)cmd.Cdw10;
        int select = (int)(cmd.Cdw10 >> 8) & 7;
        if (!IsKnownFeature(fid) || (fid == NvmeFeatureId.VolatileWriteCache && !_o.VolatileWriteCache))
        { Fail(NvmeStatus.InvalidFieldInCommand, $"feature 0x{fid:x2} is not supported", 40); return; }
        if (select > 3) { Fail(NvmeStatus.InvalidFieldInCommand, $"SEL {select} is reserved", 41); return; }
        if (select == 3)
        {
            // Supported capabilities: changeable (bit 2), not saveable, not namespace specific.
            _result.Dword0 = 0b100;
            return;
        }
        // Nothing is saveable, so the saved value is the default (SEL 010b).
        bool current = select == 0;
        _result.Dword0 = fid switch
        {
            NvmeFeatureId.Arbitration => current ? _arbitration : 0b111,
            NvmeFeatureId.PowerManagement => current ? _powerState : 0,
            NvmeFeatureId.TemperatureThreshold => ((cmd.Cdw11 >> 20) & 3) == 1
                ? (current ? _underTemperatureThreshold : 0u) | (1u << 20)
                : current ? _overTemperatureThreshold : WarningTemperatureK,
            NvmeFeatureId.ErrorRecovery => current ? _errorRecovery : 0,
            NvmeFeatureId.VolatileWriteCache => current ? (_writeCacheEnabled ? 1u : 0u) : 1u,
            NvmeFeatureId.NumberOfQueues => current
                ? (uint)(Math.Max(_allocatedSq, 1) - 1) | (uint)(Math.Max(_allocatedCq, 1) - 1) << 16
                : (uint)(Math.Max(_ioQueueLimit, 1) - 1) * 0x1_0001u,
            NvmeFeatureId.InterruptCoalescing => current ? (uint)(_coalesceThreshold | _coalesceTime << 8) : 0,
            NvmeFeatureId.InterruptVectorConfiguration => GetVectorConfiguration((ushort)cmd.Cdw11, current),
            NvmeFeatureId.WriteAtomicityNormal => current ? _writeAtomicity : 0,
            NvmeFeatureId.AsynchronousEventConfiguration => current ? _asyncEventConfig : 0,
            _ => 0,
        };
    }

    uint GetVectorConfiguration(int vector, bool current)
    {
        if (vector >= _vectorCoalescingDisabled.Length) { Fail(NvmeStatus.InvalidFieldInCommand, $"interrupt vector {vector} does not exist", 44); return 0; }
        bool disabled = vector == 0 || (current && _vectorCoalescingDisabled[vector]);
        return (uint)vector | (disabled ? 0x1_0000u : 0);
    }

    // ---------------------------------------------------------------- asynchronous events

    void AsyncEventRequest(ushort cid)
    {
        if (_aerCount == _aerCids.Length)
        { Fail(NvmeStatus.AsynchronousEventRequestLimitExceeded, $"{_aerCids.Length} requests are already outstanding (AERL)"); return; }
        _aerCids[_aerCount++] = cid;
        _result.Deferred = true;
        DeliverPendingEvents();
    }

    /// <summary>Queues an event for the host and completes an outstanding Asynchronous Event Request with it when one is waiting.</summary>
    void RaiseAsyncEvent(byte type, byte info, byte logPage)
    {
        uint dw0 = type | (uint)info << 8 | (uint)logPage << 16;
        for (int i = 0; i < _eventCount; i++)
            if (_events[i] == dw0) return; // already waiting to be reported
        if (_eventCount == _events.Length)
        {
            Log.AsyncEvent(_log, _name, type, info, logPage, "dropped: too many events waiting");
            return;
        }
        _events[_eventCount++] = dw0;
        Log.AsyncEvent(_log, _name, type, info, logPage, "raised");
        DeliverPendingEvents();
    }

    void DeliverPendingEvents()
    {
        var cq = _cqs[0];
        while (_aerCount > 0 && _eventCount > 0 && cq.Exists && !cq.IsFull)
        {
            int pick = -1;
            for (int i = 0; i < _eventCount; i++)
                if ((_maskedEventTypes & (1 << (int)(_events[i] & 7))) == 0) { pick = i; break; }
            if (pick < 0) return;
            uint dw0 = _events[pick];
            Array.Copy(_events, pick + 1, _events, pick, _eventCount - pick - 1);
            _eventCount--;
            // Further events of this type wait until the host reads the log page with RAE clear.
            _maskedEventTypes |= 1 << (int)(dw0 & 7);
            ushort cid = _aerCids[0];
            Array.Copy(_aerCids, 1, _aerCids, 0, _aerCount - 1);
            _aerCount--;
            Log.AsyncEvent(_log, _name, (int)(dw0 & 7), (int)(dw0 >> 8) & 0xFF, (int)(dw0 >> 16) & 0xFF, $"reported to cid {cid}");
            if (!PostCompletion(cq, 0, (ushort)_sqs[0].Head, cid, dw0, NvmeStatus.Success)) return;
        }
    }

    void Abort(in NvmeCommand cmd)
    {
        ushort sqid = (ushort)cmd.Cdw10, target = (ushort)(cmd.Cdw10 >> 16);
        _result.Dword0 = 1; // bit 0 set: the command was not aborted
        // Only Asynchronous Event Requests are ever outstanding here: every other command is completed
        // before the next is fetched, so there is nothing else to abort.
        if (sqid != 0) return;
        for (int i = 0; i < _aerCount; i++)
        {
            if (_aerCids[i] != target) continue;
            if (WouldFillAdminSlot(_cqs[0])) return; // no room for both completions: leave it outstanding
            Array.Copy(_aerCids, i + 1, _aerCids, i, _aerCount - i - 1);
            _aerCount--;
            RecordError(0, target, NvmeStatus.CommandAbortRequested, 0);
            if (PostCompletion(_cqs[0], 0, (ushort)_sqs[0].Head, target, 0, NvmeStatus.CommandAbortRequested))
                _result.Dword0 = 0;
            return;
        }
    }

    // ---------------------------------------------------------------- namespaces

    void SetActive(NvmeNamespace ns, bool attached)
    {
        if (ns.Nsid >= (uint)_active.Length)
        {
            if (!attached) return;
            Array.Resize(ref _active, (int)Math.Min(Subsystem.MaxNamespaces + 1, Math.Max(ns.Nsid + 1, 2u * (uint)_active.Length)));
        }
        _active[ns.Nsid] = attached ? ns : null;
    }

    /// <summary>The namespace with <paramref name="nsid"/> if it is active on this controller.</summary>
    NvmeNamespace? Active(uint nsid) => nsid < (uint)_active.Length ? _active[nsid] : null;

    internal void OnNamespaceAttachmentChanged(NvmeNamespace ns, bool attached, bool notify)
    {
        SetActive(ns, attached);
        Log.NamespaceVisibility(_log, _name, ns.Nsid, attached ? "attached" : "detached");
        // The host learns the namespace set when it initialises; changes are reported to an enabled controller.
        if (!notify || !IsOperational) return;
        if (_changedNsCount < ChangedNsListEntries)
        {
            if (_changedNsCount == _changedNs.Length) Array.Resize(ref _changedNs, Math.Min(ChangedNsListEntries, Math.Max(16, 2 * _changedNs.Length)));
            bool listed = false;
            for (int i = 0; i < _changedNsCount; i++) listed |= _changedNs[i] == ns.Nsid;
            if (!listed) _changedNs[_changedNsCount++] = ns.Nsid;
        }
        else _changedNs[0] = 0xFFFF_FFFF; // more than 1024 changes: the list says "too many"
        if ((_asyncEventConfig & 0x100) != 0)
            RaiseAsyncEvent(NvmeAsyncEvent.TypeNotice, NvmeAsyncEvent.NamespaceAttributeChanged, NvmeLogPageId.ChangedNamespaceList);
    }

    void NamespaceAttachment(in NvmeCommand cmd)
    {
        uint select = cmd.Cdw10 & 0xF, nsid = cmd.Nsid;
        if (select > 1) { Fail(NvmeStatus.InvalidFieldInCommand, $"SEL {select} is reserved (0 attach, 1 detach)", 40); return; }
        if (nsid == 0 || nsid == 0xFFFF_FFFF) { Fail(NvmeStatus.InvalidFieldInCommand, $"NSID 0x{nsid:x} names no single namespace", 4); return; }
        if (nsid > Subsystem.MaxNamespaces || Subsystem.FindNamespace(nsid) == null)
        { Fail(NvmeStatus.InvalidNamespaceOrFormat, $"NSID {nsid} is not allocated", 4); return; }
        var list = ScratchBuffer.AsSpan(0, 4096);
        if (!ReceiveFromHost(cmd, list)) return;
        int count = BinaryPrimitives.ReadUInt16LittleEndian(list);
        if (count is 0 or > 2047) { Fail(NvmeStatus.ControllerListInvalid, $"the controller list holds {count} identifiers"); return; }
        Span<ushort> ids = stackalloc ushort[count];
        for (int i = 0; i < count; i++) ids[i] = BinaryPrimitives.ReadUInt16LittleEndian(list[(2 + 2 * i)..]);
        var status = select == 0 ? Subsystem.Attach(nsid, ids, this) : Subsystem.Detach(nsid, ids, this);
        if (!status.IsSuccess) Fail(status, select == 0 ? "attach refused" : "detach refused");
    }

    // ---------------------------------------------------------------- logs

    void GetLogPage(in NvmeCommand cmd)
    {
        byte lid = (byte)cmd.Cdw10;
        bool retainEvent = (cmd.Cdw10 & 0x8000) != 0;
        ulong dwords = ((cmd.Cdw10 >> 16) | (ulong)(cmd.Cdw11 & 0xFFFF) << 16) + 1;
        ulong offset = cmd.Cdw12 | (ulong)cmd.Cdw13 << 32;
        if ((offset & 3) != 0) { Fail(NvmeStatus.InvalidFieldInCommand, "log page offset is not dword aligned", 48); return; }
        if (dwords * 4 > (ulong)MaxTransferBytes) { Fail(NvmeStatus.InvalidFieldInCommand, $"{dwords * 4} bytes exceed MDTS", 42); return; }
        int length = (int)dwords * 4;
        var log = ScratchBuffer.AsSpan();
        log.Clear();
        int size;
        switch (lid)
        {
            case NvmeLogPageId.ErrorInformation:
                size = FillErrorLog(log);
                break;
            case NvmeLogPageId.SmartHealth:
                if (cmd.Nsid is not (0 or 0xFFFF_FFFF)) { Fail(NvmeStatus.InvalidFieldInCommand, "SMART data is per controller only (LPA bit 0 clear)", 4); return; }
                size = FillSmartLog(log);
                break;
            case NvmeLogPageId.FirmwareSlot:
                size = 512;
                log[0] = 1; // active firmware in slot 1
                WriteAscii(log.Slice(8, 8), _o.FirmwareRevision);
                break;
            case NvmeLogPageId.ChangedNamespaceList:
                size = 4096;
                for (int i = 0; i < _changedNsCount; i++) BinaryPrimitives.WriteUInt32LittleEndian(log[(4 * i)..], _changedNs[i]);
                if (!retainEvent) _changedNsCount = 0;
                break;
            default:
                Fail(NvmeStatus.InvalidLogPage, $"log page 0x{lid:x2} is not supported", 40);
                return;
        }
        if (offset >= (ulong)size) { Fail(NvmeStatus.InvalidFieldInCommand, $"offset {offset} is beyond the {size}-byte log", 48); return; }
        var page = DataBuffer.AsSpan(0, length);
        page.Clear();
        log.Slice((int)offset, Math.Min(length, size - (int)offset)).CopyTo(page);
        if (!SendToHost(cmd, page)) return;
        if (!retainEvent)
        {
            // Reading the log that goes with an event type re-arms that type (Retain Asynchronous Event clear).
            int type = lid switch
            {
                NvmeLogPageId.ErrorInformation => NvmeAsyncEvent.TypeErrorStatus,
                NvmeLogPageId.SmartHealth => NvmeAsyncEvent.TypeSmartHealth,
                NvmeLogPageId.ChangedNamespaceList => NvmeAsyncEvent.TypeNotice,
                _ => -1,
            };
            if (type >= 0)
            {
                _maskedEventTypes &= ~(1 << type);
                DeliverPendingEvents();
            }
        }
        _result.Bytes = length;
    }

    void RecordError(ushort sqId, ushort cid, NvmeStatus status, uint nsid)
    {
        _errorLog ??= new ErrorEntry[_o.ErrorLogEntries];
        ref var e = ref _errorLog[_errorNext];
        e.Count = ++_errorCount;
        e.SqId = sqId;
        e.CommandId = cid;
        e.StatusField = status.Field;
        e.Location = _result.ParameterLocation;
        e.Lba = _result.Lba;
        e.Nsid = nsid;
        _errorNext = (_errorNext + 1) % _errorLog.Length;
        if (status.Type == NvmeStatusCodeType.MediaAndDataIntegrity) _mediaErrors++;
    }

    int FillErrorLog(Span<byte> log)
    {
        // Entries newest first; slots never used read as zeros (Error Count 0 = invalid entry).
        if (_errorLog is null) return 64 * _o.ErrorLogEntries;
        int n = _errorLog.Length;
        for (int i = 0; i < n; i++)
        {
            ref var e = ref _errorLog[(_errorNext - 1 - i + 2 * n) % n];
            if (e.Count == 0) break;
            var d = log.Slice(64 * i, 64);
            BinaryPrimitives.WriteUInt64LittleEndian(d, e.Count);
            BinaryPrimitives.WriteUInt16LittleEndian(d[8..], e.SqId);
            BinaryPrimitives.WriteUInt16LittleEndian(d[10..], e.CommandId);
            // Status Field as posted: bits 15:1 status, bit 0 the phase tag (reported as 0 here).
            BinaryPrimitives.WriteUInt16LittleEndian(d[12..], (ushort)(e.StatusField << 1));
            BinaryPrimitives.WriteUInt16LittleEndian(d[14..], e.Location);
            BinaryPrimitives.WriteUInt64LittleEndian(d[16..], e.Lba);
            BinaryPrimitives.WriteUInt32LittleEndian(d[24..], e.Nsid);
        }
        return 64 * n;
    }

    int FillSmartLog(Span<byte> log)
    {
        log[0] = 0; // no critical warning
        BinaryPrimitives.WriteUInt16LittleEndian(log[1..], CurrentTemperatureK);
        log[3] = 100; // available spare %
        log[4] = 10; // available spare threshold %
        log[5] = 0; // percentage used
        // Data units are thousands of 512-byte units, rounded up.
        WriteUInt128(log[32..], (_read512 + 999) / 1000);
        WriteUInt128(log[48..], (_written512 + 999) / 1000);
        WriteUInt128(log[64..], _hostReads);
        WriteUInt128(log[80..], _hostWrites);
        WriteUInt128(log[96..], _busyNs / 60_000_000_000UL); // minutes
        WriteUInt128(log[112..], 1); // power cycles
        WriteUInt128(log[128..], Clock() / 3_600_000_000_000UL); // power-on hours
        WriteUInt128(log[144..], 0); // unsafe shutdowns
        WriteUInt128(log[160..], _mediaErrors);
        WriteUInt128(log[176..], _errorCount);
        BinaryPrimitives.WriteUInt16LittleEndian(log[200..], CurrentTemperatureK); // temperature sensor 1
        return 512;
    }

    static void WriteUInt128(Span<byte> d, ulong low)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(d, low);
        BinaryPrimitives.WriteUInt64LittleEndian(d[8..], 0);
    }

    static void WriteAscii(Span<byte> d, string s)
    {
        d.Fill((byte)' ');
        for (int i = 0; i < s.Length && i < d.Length; i++) d[i] = s[i] is >= ' ' and <= '~' ? (byte)s[i] : (byte)'?';
    }
}
