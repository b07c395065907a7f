using Microsoft.Extensions.Logging;
using PcieVirt.Devices.Nvme.Qos;

namespace PcieVirt.Devices.Nvme;

// Timed completion (optional): I/O commands execute when fetched, but their completion entries are
// posted when the virtual clock reaches the time the media model says they finish. Without a media
// model the controller completes at once (the immediate mode every existing caller relies on).
public sealed partial class NvmeController
{
    /// <summary>A command that has executed and waits for its virtual completion time.</summary>
    struct InFlightCommand
    {
        public ulong DoneNs, FetchedNs, ServiceNs, Sequence, TransportBeforeNs, TransportAfterNs;
        public uint Dword0, Nsid;
        public NvmeStatus Status;
        public ushort CqId, SqId, SqHead, Cid;
        public byte Opcode;
        public int Bytes;
    }

    InFlightCommand[] _inflight = []; // grown with the queue depth on first use (timed mode only)
    int _inflightCount;
    ulong _inflightSequence;
    int _ioCursor; // round robin position over I/O SQs for arbiter-granted fetches
    SubmissionQueue? _peekedSq;

    /// <summary>
    /// The media service model that turns each I/O command's service time into a completion time
    /// (timed mode). Null (the default) = immediate mode: completions are posted when the command executes.
    /// </summary>
    public NvmeMediaModel? Media { get; set; }

    /// <summary>Controller (firmware) time added to every command's service time; starts as the option's value.</summary>
    public ulong CommandOverheadNs { get; set; }

    /// <summary>
    /// Link and DMA timing of each command (timed mode): without it the media model alone sets the
    /// completion time; with it the command's reads delay the media start and its writes the completion.
    /// </summary>
    public INvmeTransportTiming? Transport { get; set; }

    /// <summary>
    /// The arbiter that decides when I/O commands are fetched (QoS across controllers); null = this
    /// controller fetches I/O commands on its own, round robin over its queues. Admin commands never wait.
    /// </summary>
    public ICommandArbiter? Arbiter { get; set; }

    /// <summary>Commands executed whose completions are not yet due (timed mode).</summary>
    public int CommandsInFlight => _inflightCount;

    /// <summary>Earliest virtual time a pending completion is due, or <see cref="ulong.MaxValue"/> when none.</summary>
    public ulong NextCompletionNs
    {
        get
        {
            ulong t = ulong.MaxValue;
            for (int i = 0; i < _inflightCount; i++)
                if (_inflight[i].DoneNs < t) t = _inflight[i].DoneNs;
            return t;
        }
    }

    void NotifyArbiter()
    {
        if (Arbiter is { } a && HasIoWork) a.OnWork(this);
    }

    bool HasIoWork
    {
        get
        {
            for (int w = 0; w < _sqWork.Length; w++)
                if ((w == 0 ? _sqWork[0] & ~1UL : _sqWork[w]) != 0) return true;
            return false;
        }
    }

    void DeferCompletion(SubmissionQueue sq, CompletionQueue cq, ushort cid, byte opcode, uint nsid, ulong fetchedAt)
    {
        var status = _result.Status;
        if (!status.IsSuccess)
        {
            RecordError(sq.Id, cid, status, nsid);
            if (_log.IsEnabled(LogLevel.Debug)) Log.CommandFailed(_log, _name, sq.Id, cid, opcode, status, _result.Reason ?? "-");
        }
        ulong service = CommandOverheadNs + _result.ServiceNs;
        if (_inflightCount == _inflight.Length) Array.Resize(ref _inflight, Math.Max(16, _inflight.Length * 2)); // grows with queue depth, not per command
        ref var e = ref _inflight[_inflightCount++];
        ulong before = 0, after = 0, mediaDone;
        if (Transport is INvmeTimedTransport timed)
        {
            // A shared-link transport books each transfer at the time it happens.
            ulong stall = (_function?.Upstream?.StallNs ?? 0) - _stallAtFetch;
            before = timed.BeforeMediaNs(fetchedAt, _dmaReadRequests, _dmaReadBytes, stall);
            mediaDone = Media!.Schedule(fetchedAt + before, service);
            after = timed.AfterMediaNs(mediaDone, _dmaWriteBytes + NvmeCompletion.Size);
        }
        else
        {
            if (Transport is { } t)
            {
                ulong stall = (_function?.Upstream?.StallNs ?? 0) - _stallAtFetch;
                before = t.BeforeMediaNs(_dmaReadRequests, _dmaReadBytes, stall);
                after = t.AfterMediaNs(_dmaWriteBytes + NvmeCompletion.Size);
            }
            mediaDone = Media!.Schedule(fetchedAt + before, service);
        }
        e.DoneNs = mediaDone + after;
        e.TransportBeforeNs = before;
        e.TransportAfterNs = after;
        e.FetchedNs = fetchedAt;
        e.ServiceNs = service;
        e.Sequence = _inflightSequence++;
        e.Dword0 = _result.Dword0;
        e.Nsid = nsid;
        e.Status = status;
        e.CqId = cq.Id;
        e.SqId = sq.Id;
        e.SqHead = (ushort)sq.Head;
        e.Cid = cid;
        e.Opcode = opcode;
        e.Bytes = _result.Bytes;
        cq.InFlight++;
    }

    /// <summary>Posts, in (time, fetch order), every deferred completion due at the current virtual time.</summary>
    int PostDueCompletions()
    {
        if (_inflightCount == 0) return 0;
        ulong now = Clock();
        int posted = 0;
        while (_inflightCount > 0)
        {
            int best = -1;
            for (int i = 0; i < _inflightCount; i++)
            {
                ref var c = ref _inflight[i];
                if (c.DoneNs > now) continue;
                if (best < 0 || c.DoneNs < _inflight[best].DoneNs || (c.DoneNs == _inflight[best].DoneNs && c.Sequence < _inflight[best].Sequence)) best = i;
            }
            if (best < 0) break;
            var e = _inflight[best];
            _inflight[best] = _inflight[--_inflightCount];
            var cq = _cqs[e.CqId];
            if (!cq.Exists) continue; // the queue was deleted meanwhile: the command is gone with it
            cq.InFlight--;
            if (!PostCompletion(cq, e.SqId, e.SqHead, e.Cid, e.Dword0, e.Status)) return posted;
            posted++;
            if (Observer is { } o)
                o.OnCommandCompleted(new NvmeCommandRecord(ControllerId, e.SqId, e.Cid, e.Opcode, e.Nsid, e.Status, e.FetchedNs, e.ServiceNs, e.Bytes)
                    { CompletedAtNs = e.DoneNs, TransportBeforeNs = e.TransportBeforeNs, TransportAfterNs = e.TransportAfterNs });
        }
        return posted;
    }

    /// <summary>
    /// For an arbiter: finds the next I/O command this controller would fetch (round robin over its I/O SQs
    /// with room in their CQ), reads it, and reports its data length in bytes (0 for commands without data).
    /// False when no I/O command can be fetched now.
    /// </summary>
    internal bool TryPeekIo(out int bytes)
    {
        bytes = 0;
        _peekedSq = null;
        if (!IsOperational) return false;
        int n = _sqs.Length;
        for (int k = 1; k < n; k++)
        {
            int i = 1 + (_ioCursor + k - 1) % (n - 1);
            var sq = _sqs[i];
            if (!sq.Exists || sq.Head == sq.Tail || _cqs[sq.CqId].IsFull) continue;
            if (!DmaRead(sq.Base + (ulong)sq.Head * NvmeCommand.Size, _sqe)) return false;
            var cmd = new NvmeCommand(_sqe);
            if (cmd.Opcode is NvmeIoOpcode.Read or NvmeIoOpcode.Write && cmd.Nsid != 0 && Active(cmd.Nsid) is { } ns)
                bytes = (int)((cmd.Cdw12 & 0xFFFF) + 1) * ns.Backend.BlockSize;
            _peekedSq = sq;
            _ioCursor = i % (n - 1); // the next turn starts after this queue
            return true;
        }
        return false;
    }

    /// <summary>For an arbiter: fetches and executes the command found by <see cref="TryPeekIo"/>.</summary>
    internal void FetchPeekedIo()
    {
        var sq = _peekedSq ?? throw new InvalidOperationException("no command was peeked");
        _peekedSq = null;
        try
        {
            ProcessOne(sq, _cqs[sq.CqId]);
        }
        catch (Exception ex)
        {
            Log.InternalFault(_log, ex, _name);
            SetFatal("internal fault in the device model");
        }
        if (sq.Head == sq.Tail) _sqWork[sq.Id >> 6] &= ~(1UL << sq.Id);
    }

    /// <summary>Posts completions that are due (timed mode) without fetching new commands; for an arbiter.</summary>
    internal int PostDue() => PostDueCompletions();
}
