using Microsoft.Extensions.Logging;

namespace PcieVirt.Devices.Nvme;

// Reads and writes served by an IAsyncNamespaceBackend: the command leaves the submission queue, its
// completion slot is reserved, and the completion is posted when the backend reports back. A reset or
// the deletion of the command's SQ abandons it: a late report is then ignored (stale tag).
public sealed partial class NvmeController
{
    struct AsyncCommand
    {
        public bool Active;
        public bool Write;
        public ushort Cid, SqId, CqId;
        public uint Nsid;
        public byte Opcode;
        public int Bytes;
        public ulong FetchedNs;
    }

    AsyncCommand[] _async = new AsyncCommand[4];
    DmaSegment[]? _asyncSegments;
    int _asyncActive;
    int _asyncGeneration;

    /// <summary>Commands handed to an asynchronous backend and not yet completed.</summary>
    public int AsyncCommandsPending => _asyncActive;

    void StartAsync(IAsyncNamespaceBackend backend, in NvmeCommand cmd, SubmissionQueue sq, ulong slba, int blocks, bool write, bool fua)
    {
        var cq = _cqs[sq.CqId];
        int slot = -1;
        for (int i = 0; i < _async.Length; i++)
            if (!_async[i].Active) { slot = i; break; }
        if (slot < 0)
        {
            slot = _async.Length;
            Array.Resize(ref _async, _async.Length * 2); // grows with queue depth, not per command
        }
        _asyncSegments ??= new DmaSegment[_segAddress.Length];
        for (int i = 0; i < _segCount; i++) _asyncSegments[i] = new DmaSegment(_segAddress[i], _segLength[i]);
        int tag = (_asyncGeneration << 16) | slot;
        var io = new NvmeAsyncIo(this, tag, write, slba, blocks, fua, sq.Id, cmd.CommandId);
        if (!backend.TryStart(io, _asyncSegments.AsSpan(0, _segCount)))
        {
            Fail(NvmeStatus.NamespaceNotReady, "the asynchronous backend cannot take the command now");
            return;
        }
        ref var a = ref _async[slot];
        a.Active = true;
        a.Write = write;
        a.Cid = cmd.CommandId;
        a.SqId = sq.Id;
        a.CqId = cq.Id;
        a.Nsid = cmd.Nsid;
        a.Opcode = cmd.Opcode;
        a.Bytes = blocks * backend.BlockSize;
        a.FetchedNs = Clock();
        _asyncActive++;
        cq.InFlight++; // the completion's slot is reserved now, as for timed completions
        _result.Deferred = true;
    }

    /// <summary>
    /// Completes the command an asynchronous backend was given as <paramref name="tag"/> with
    /// <paramref name="status"/>: posts its completion entry (and interrupt). A tag from before a reset,
    /// or of a command whose queue was deleted, is ignored (logged); returns whether it was posted.
    /// </summary>
    public bool CompleteAsync(int tag, NvmeStatus status)
    {
        int slot = tag & 0xFFFF;
        if ((tag >> 16) != _asyncGeneration || (uint)slot >= (uint)_async.Length || !_async[slot].Active)
        {
            Log.StaleAsyncCompletion(_log, _name, tag);
            return false;
        }
        var a = _async[slot];
        _async[slot].Active = false;
        _asyncActive--;
        var cq = _cqs[a.CqId];
        if (!cq.Exists) return false;
        cq.InFlight--;
        if (!status.IsSuccess)
        {
            RecordError(a.SqId, a.Cid, status, a.Nsid);
            if (_log.IsEnabled(LogLevel.Debug)) Log.CommandFailed(_log, _name, a.SqId, a.Cid, a.Opcode, status, "asynchronous backend reported an error");
        }
        else
        {
            ulong units = (ulong)a.Bytes / 512;
            if (a.Write) { _hostWrites++; _written512 += units; }
            else { _hostReads++; _read512 += units; }
        }
        if (!PostCompletion(cq, a.SqId, (ushort)_sqs[a.SqId].Head, a.Cid, 0, status)) return false;
        if (Observer is { } o)
            o.OnCommandCompleted(new NvmeCommandRecord(ControllerId, a.SqId, a.Cid, a.Opcode, a.Nsid, status, a.FetchedNs,
                Clock() - a.FetchedNs, status.IsSuccess ? a.Bytes : 0) { CompletedAtNs = Clock() });
        return true;
    }

    /// <summary>Forgets asynchronous commands (all, or those of SQ <paramref name="sqId"/>): their late completions are ignored.</summary>
    void AbandonAsync(int sqId = -1)
    {
        if (_asyncActive == 0) return;
        if (sqId < 0)
        {
            _asyncGeneration = (_asyncGeneration + 1) & 0x7FFF;
            Log.AsyncAbandoned(_log, _name, _asyncActive);
            Array.Clear(_async);
            _asyncActive = 0;
            return;
        }
        for (int i = 0; i < _async.Length; i++)
        {
            if (!_async[i].Active || _async[i].SqId != sqId) continue;
            _async[i].Active = false;
            _asyncActive--;
            _cqs[_async[i].CqId].InFlight--;
        }
    }
}

// Asynchronous backend messages (4220-4229), part of the NVMe area's Log class.
internal static partial class Log
{
    [LoggerMessage(EventId = 4220, Level = LogLevel.Debug, Message = "{Controller}: completion for asynchronous tag 0x{Tag:x} ignored (reset, queue deleted, or never issued)")]
    public static partial void StaleAsyncCompletion(ILogger logger, string controller, int tag);

    [LoggerMessage(EventId = 4221, Level = LogLevel.Debug, Message = "{Controller}: {Count} asynchronous command(s) abandoned by the reset")]
    public static partial void AsyncAbandoned(ILogger logger, string controller, int count);
}
