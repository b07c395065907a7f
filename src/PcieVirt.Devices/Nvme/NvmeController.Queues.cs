using Microsoft.Extensions.Logging;
using PcieVirt.Pci.Capabilities;
using static PcieVirt.Devices.Nvme.NvmeRegisters;

namespace PcieVirt.Devices.Nvme;

// Queues, doorbells, command fetch, completion posting, interrupts and DMA (NVMe Base 1.4 §4.1-4.6, §7.2).
public sealed partial class NvmeController
{
    readonly SubmissionQueue[] _sqs;
    readonly CompletionQueue[] _cqs;
    readonly byte[] _sqe = new byte[NvmeCommand.Size];
    readonly byte[] _cqe = new byte[NvmeCompletion.Size];
    // Working buffers are allocated on first use, so an idle controller (e.g. one per VF that is never
    // enabled) costs only its registers and queue tables.
    byte[]? _dataBuffer;
    byte[] DataBuffer => _dataBuffer ??= new byte[Math.Max(MaxTransferBytes, 4096)];
    byte[]? _scratchBuffer;
    byte[] ScratchBuffer => _scratchBuffer ??= new byte[Math.Max(4096, 64 * _o.ErrorLogEntries)];
    // PRP segment tables, allocated by the first data transfer (an idle controller carries none).
    ulong[] _segAddress = [];
    int[] _segLength = [];
    byte[] _prpListBytes = [];
    int _segCount;
    bool _processing, _again;
    readonly ulong[] _sqWork; // bit per SQ that has entries the controller has not fetched
    uint _maskedPending; // MSI / pin vectors held by INTMS

    /// <summary>Commands completed since creation.</summary>
    public long CommandsCompleted { get; private set; }
    /// <summary>Interrupt messages the controller asked its function to send (MSI-X or MSI), and pin-based assertions.</summary>
    public long InterruptsRequested { get; private set; }
    /// <summary>Completions posted to a queue with pin-based interrupts (INTx is not modelled by the fabric).</summary>
    public long PinInterruptsAsserted { get; private set; }

    internal sealed class SubmissionQueue(ushort id)
    {
        public readonly ushort Id = id;
        public bool Exists;
        public ulong Base;
        public int Size, Head, Tail;
        public ushort CqId;
        public int Priority;
        public int Pending => Tail >= Head ? Tail - Head : Tail + Size - Head;

        public void Open(ulong baseAddress, int size, ushort cqId, int priority = 0)
        {
            Exists = true;
            Base = baseAddress;
            Size = size;
            Head = Tail = 0;
            CqId = cqId;
            Priority = priority;
        }

        public void Close() => Exists = false;
    }

    internal sealed class CompletionQueue(ushort id)
    {
        public readonly ushort Id = id;
        public bool Exists;
        public ulong Base;
        public int Size, Head, Tail;
        public bool Phase;
        public bool InterruptsEnabled;
        public int Vector;
        public int SqCount;
        public int Unsignaled;
        public ulong FirstUnsignaledNs;
        public int InFlight; // entries reserved by commands executing in timed mode (posted when due)
        public bool IsFull => Wrap(Tail - Head + Size, Size) + InFlight >= Size - 1;

        public void Open(ulong baseAddress, int size, int vector, bool interrupts)
        {
            Exists = true;
            Base = baseAddress;
            Size = size;
            Head = Tail = 0;
            Phase = true; // the first pass through the queue posts entries with P = 1 (§4.6)
            Vector = vector;
            InterruptsEnabled = interrupts;
            SqCount = 0;
            Unsignaled = 0;
            InFlight = 0;
        }

        public void Close() => Exists = false;
    }

    /// <summary>Whether I/O submission queue <paramref name="qid"/> exists (for tools and tests).</summary>
    public bool SubmissionQueueExists(int qid) => (uint)qid < (uint)_sqs.Length && _sqs[qid].Exists;
    /// <summary>Whether completion queue <paramref name="qid"/> exists.</summary>
    public bool CompletionQueueExists(int qid) => (uint)qid < (uint)_cqs.Length && _cqs[qid].Exists;
    /// <summary>MSI-X / MSI vector of completion queue <paramref name="qid"/>, or -1.</summary>
    public int CompletionQueueVector(int qid) => CompletionQueueExists(qid) ? _cqs[qid].Vector : -1;

    // ---------------------------------------------------------------- doorbells (§3.1.24-25)

    void WriteDoorbell(int offset, uint value)
    {
        // The stride is a power of two (CAP.DSTRD), so mask and shift instead of dividing; rel >= 0 here.
        int rel = offset - Doorbells, strideShift = 2 + _o.DoorbellStride;
        if ((rel & ((1 << strideShift) - 1)) != 0)
        {
            Log.BadDoorbell(_log, _name, offset, "not on a doorbell (CAP.DSTRD stride); ignored");
            return;
        }
        if (!IsOperational)
        {
            Log.DoorbellNotReady(_log, _name, offset);
            return;
        }
        int index = rel >> strideShift, qid = index >> 1;
        bool completion = (index & 1) != 0;
        if (qid >= _sqs.Length || !(completion ? _cqs[qid].Exists : _sqs[qid].Exists))
        {
            Log.BadDoorbell(_log, _name, offset, $"{(completion ? "CQ" : "SQ")} {qid} does not exist");
            RaiseAsyncEvent(NvmeAsyncEvent.TypeErrorStatus, NvmeAsyncEvent.WriteToInvalidDoorbellRegister, NvmeLogPageId.ErrorInformation);
            return;
        }
        if (value > 0xFFFF) value = 0x1_0000; // bits 31:16 are reserved: any value there is beyond every queue
        int v = (int)value;
        if (_log.IsEnabled(LogLevel.Trace)) Log.Doorbell(_log, _name, completion ? "CQ head" : "SQ tail", qid, v);
        if (completion)
        {
            var cq = _cqs[qid];
            // The new head may release only entries the controller has posted (§4.1).
            int available = cq.Tail >= cq.Head ? cq.Tail - cq.Head : cq.Tail + cq.Size - cq.Head;
            int released = v >= cq.Size ? -1 : Wrap(v - cq.Head + cq.Size, cq.Size);
            if (released < 0 || released > available)
            {
                Log.BadDoorbell(_log, _name, offset, $"CQ {qid} head {v} is beyond the queue ({cq.Size} entries) or releases entries not posted (head {cq.Head}, tail {cq.Tail})");
                RaiseAsyncEvent(NvmeAsyncEvent.TypeErrorStatus, NvmeAsyncEvent.InvalidDoorbellWriteValue, NvmeLogPageId.ErrorInformation);
                return;
            }
            cq.Head = v;
            if (qid == 0) DeliverPendingEvents();
        }
        else
        {
            var sq = _sqs[qid];
            // A tail beyond the queue, or one that leaves fewer entries outstanding than before
            // (the host wrapped past the head: overflow), is invalid (§4.1.2).
            int now = sq.Pending;
            int next = v >= sq.Size ? -1 : Wrap(v - sq.Head + sq.Size, sq.Size);
            if (next < now)
            {
                Log.BadDoorbell(_log, _name, offset, $"SQ {qid} tail {v} is beyond the queue ({sq.Size} entries) or overflows it (head {sq.Head}, tail {sq.Tail})");
                RaiseAsyncEvent(NvmeAsyncEvent.TypeErrorStatus, NvmeAsyncEvent.InvalidDoorbellWriteValue, NvmeLogPageId.ErrorInformation);
                return;
            }
            sq.Tail = v;
            if (sq.Head != sq.Tail) MarkWork(qid);
        }
        CheckCoalescingTimers();
        if (_o.Processing == NvmeProcessingMode.OnDoorbell && HasWork)
        {
            Drain();
            NotifyArbiter();
        }
        else if (completion && _inflightCount > 0) NotifyArbiter(); // freed CQ room may unblock arbitrated work
    }

    // ---------------------------------------------------------------- processing

    /// <summary>
    /// Processes every command that is visible and has room in its completion queue, round robin over the
    /// submission queues (one command per queue per turn), and fires coalescing timers that expired.
    /// Returns the number of commands processed. Safe to call at any time; re-entrant calls (from an
    /// interrupt handler) defer to the running pass.
    /// </summary>
    public int ProcessPending()
    {
        int n = PostDueCompletions();
        n += Drain();
        NotifyArbiter();
        CheckCoalescingTimers();
        return n;
    }

    /// <summary><paramref name="x"/> modulo <paramref name="size"/> for 0 &lt;= x &lt; 2 × size (queue index arithmetic) without a division.</summary>
    static int Wrap(int x, int size) => x >= size ? x - size : x;

    void MarkWork(int qid) => _sqWork[qid >> 6] |= 1UL << qid;

    bool HasWork
    {
        get
        {
            foreach (ulong w in _sqWork)
                if (w != 0) return true;
            return false;
        }
    }

    int Drain()
    {
        if (_processing)
        {
            _again = true;
            return 0;
        }
        _processing = true;
        int total = 0;
        try
        {
            bool progress;
            do
            {
                _again = false;
                progress = false;
                // One turn: every SQ with work in QID order, one command each (round robin).
                for (int w = 0; w < _sqWork.Length; w++)
                {
                    ulong bits = _sqWork[w];
                    while (bits != 0 && IsOperational)
                    {
                        int i = w * 64 + System.Numerics.BitOperations.TrailingZeroCount(bits);
                        bits &= bits - 1;
                        var sq = _sqs[i];
                        if (!sq.Exists || sq.Head == sq.Tail)
                        {
                            _sqWork[w] &= ~(1UL << i);
                            continue;
                        }
                        if (i != 0 && Arbiter != null) continue; // I/O commands are fetched when the arbiter grants them
                        var cq = _cqs[sq.CqId];
                        if (cq.IsFull) continue; // resumes when the host frees an entry (CQ head doorbell)
                        ProcessOne(sq, cq);
                        if (sq.Head == sq.Tail) _sqWork[w] &= ~(1UL << i);
                        total++;
                        progress = true;
                    }
                }
            }
            while ((progress || _again) && IsOperational);
        }
        catch (Exception ex)
        {
            Log.InternalFault(_log, ex, _name);
            SetFatal("internal fault in the device model");
        }
        finally
        {
            _processing = false;
        }
        return total;
    }

    void ProcessOne(SubmissionQueue sq, CompletionQueue cq)
    {
        ulong fetchedAt = Observer != null || Media != null ? Clock() : 0;
        _dmaReadRequests = 0;
        _dmaReadBytes = _dmaWriteBytes = 0;
        _stallAtFetch = _function?.Upstream?.StallNs ?? 0;
        if (!DmaRead(sq.Base + (ulong)sq.Head * NvmeCommand.Size, _sqe))
        {
            // The entry cannot be read, so there is no command to complete: nothing can report it but CSTS.CFS.
            SetFatal($"could not fetch from SQ {sq.Id} at 0x{sq.Base + (ulong)sq.Head * NvmeCommand.Size:x} (DMA not completed)");
            return;
        }
        sq.Head = Wrap(sq.Head + 1, sq.Size);
        var cmd = new NvmeCommand(_sqe);
        ushort cid = cmd.CommandId;
        byte opcode = cmd.Opcode;
        uint nsid = cmd.Nsid;
        _result = default;
        _result.ParameterLocation = 0xFFFF;
        if (sq.Id == 0) ExecuteAdmin(cmd, cid);
        else ExecuteIo(cmd, sq.Id);
        if (_result.Deferred) return; // an Asynchronous Event Request completes when an event occurs
        if (sq.Id != 0 && Media != null)
        {
            DeferCompletion(sq, cq, cid, opcode, nsid, fetchedAt);
            return;
        }
        var status = _result.Status;
        if (!status.IsSuccess)
        {
            RecordError(sq.Id, cid, status, nsid);
            if (_log.IsEnabled(LogLevel.Debug)) Log.CommandFailed(_log, _name, sq.Id, cid, opcode, status, _result.Reason ?? "-");
        }
        else if (_log.IsEnabled(LogLevel.Trace)) Log.Command(_log, _name, sq.Id, cid, opcode, nsid, status);
        if (!PostCompletion(cq, sq.Id, (ushort)sq.Head, cid, _result.Dword0, status)) return;
        if (Observer is { } o)
            o.OnCommandCompleted(new NvmeCommandRecord(ControllerId, sq.Id, cid, opcode, nsid, status, fetchedAt,
                CommandOverheadNs + _result.ServiceNs, _result.Bytes) { CompletedAtNs = fetchedAt });
    }

    /// <summary>What executing one command produced (a field, so executing allocates nothing).</summary>
    struct CommandResult
    {
        public NvmeStatus Status;
        public uint Dword0;
        public bool Deferred;
        public ulong ServiceNs;
        public int Bytes;
        public ushort ParameterLocation;
        public ulong Lba;
        public string? Reason;
    }

    CommandResult _result;

    /// <summary>Completes the current command with <paramref name="status"/>; <paramref name="reason"/> goes to the log.</summary>
    void Fail(NvmeStatus status, string reason, int parameterByte = -1, int parameterBit = 0)
    {
        _result.Status = status;
        _result.Reason = reason;
        if (parameterByte >= 0) _result.ParameterLocation = (ushort)(parameterByte | parameterBit << 8);
    }

    /// <summary>Writes a completion entry with the current phase tag and signals the queue's interrupt.</summary>
    bool PostCompletion(CompletionQueue cq, ushort sqId, ushort sqHead, ushort cid, uint dword0, NvmeStatus status)
    {
        NvmeCompletion.Write(_cqe, dword0, sqHead, sqId, cid, cq.Phase, status);
        if (!DmaWrite(cq.Base + (ulong)cq.Tail * NvmeCompletion.Size, _cqe))
        {
            SetFatal($"could not post a completion to CQ {cq.Id} at 0x{cq.Base + (ulong)cq.Tail * NvmeCompletion.Size:x} (DMA not completed)");
            return false;
        }
        if (++cq.Tail == cq.Size)
        {
            cq.Tail = 0;
            cq.Phase = !cq.Phase; // the phase tag inverts on each pass through the queue (§4.6)
        }
        CommandsCompleted++;
        SignalCompletion(cq);
        return true;
    }

    // ---------------------------------------------------------------- interrupts (§7.5; Interrupt Coalescing feature)

    void SignalCompletion(CompletionQueue cq)
    {
        if (!cq.InterruptsEnabled) return;
        // Coalescing applies to I/O completion queues whose vector has not opted out (Interrupt Vector
        // Configuration CD); an interrupt is due when THR+1 entries are waiting or TIME has elapsed.
        if (cq.Id != 0 && (_coalesceThreshold != 0 || _coalesceTime != 0)
            && !((uint)cq.Vector < (uint)_vectorCoalescingDisabled.Length && _vectorCoalescingDisabled[cq.Vector]))
        {
            ulong now = Clock();
            if (cq.Unsignaled++ == 0) cq.FirstUnsignaledNs = now;
            if (cq.Unsignaled < _coalesceThreshold + 1 && now - cq.FirstUnsignaledNs < (ulong)_coalesceTime * 100_000) return;
        }
        cq.Unsignaled = 0;
        RaiseVector(cq.Vector);
    }

    void CheckCoalescingTimers()
    {
        if (_coalesceTime == 0 && _coalesceThreshold == 0) return;
        ulong now = Clock(), limit = (ulong)_coalesceTime * 100_000;
        foreach (var cq in _cqs)
            if (cq.Exists && cq.Unsignaled > 0 && now - cq.FirstUnsignaledNs >= limit)
            {
                cq.Unsignaled = 0;
                RaiseVector(cq.Vector);
            }
    }

    void RaiseVector(int vector)
    {
        InterruptsRequested++;
        if (_msix is { IsEnabled: true } msix)
        {
            if (vector < msix.TableSize) msix.Trigger(vector);
            return;
        }
        if (_msi is { IsEnabled: true } msi)
        {
            int v = vector < msi.Options.VectorsRequested ? vector : 0;
            if (v < 32 && (_intMask & (1u << v)) != 0)
            {
                _maskedPending |= 1u << v; // sent when INTMC unmasks it
                return;
            }
            msi.Trigger(v);
            return;
        }
        if ((_intMask & 1) == 0) PinInterruptsAsserted++;
        else _maskedPending |= 1;
    }

    /// <summary>How many vectors a Create I/O Completion Queue may name: the enabled interrupt mechanism's, within VI resources.</summary>
    int UsableVectors()
    {
        int n;
        if (_msix is { IsEnabled: true } msix) n = msix.TableSize;
        else if (_msi is { IsEnabled: true } msi) n = msi.VectorsAllocated;
        else n = 1;
        return Math.Min(n, _interruptLimit);
    }

    // ---------------------------------------------------------------- DMA and PRPs (§4.3)

    // DMA of the command being executed, for the transport model (timed mode).
    int _dmaReadRequests;
    long _dmaReadBytes, _dmaWriteBytes;
    ulong _stallAtFetch;

    /// <summary>Reads host memory as this function (requester ID = its BDF); false when not completed successfully.</summary>
    bool DmaRead(ulong address, Span<byte> data)
    {
        var f = _function;
        // The function's own Bus Master Enable (§7.5.1.1.3): checked here too because a VF's requests
        // leave through its PF's port, where the fabric sees the PF's Command register.
        if (f?.Upstream is not { } up || !f.BusMasterEnabled) return false;
        _dmaReadRequests++;
        _dmaReadBytes += data.Length;
        while (!data.IsEmpty)
        {
            // Memory requests must not cross a 4 KiB boundary (PCIe Base §2.2.7).
            int n = (int)Math.Min((ulong)data.Length, 4096 - (address & 4095));
            if (!up.MemoryRead(f.Bdf, address, data[..n])) return false;
            data = data[n..];
            address += (ulong)n;
        }
        return true;
    }

    bool DmaWrite(ulong address, ReadOnlySpan<byte> data)
    {
        var f = _function;
        if (f?.Upstream is not { } up || !f.BusMasterEnabled) return false;
        _dmaWriteBytes += data.Length;
        while (!data.IsEmpty)
        {
            int n = (int)Math.Min((ulong)data.Length, 4096 - (address & 4095));
            if (!up.MemoryWrite(f.Bdf, address, data[..n])) return false;
            data = data[n..];
            address += (ulong)n;
        }
        return true;
    }

    /// <summary>
    /// Resolves PRP1/PRP2 of a <paramref name="length"/>-byte transfer into host segments (§4.3): PRP1 may
    /// start inside a page (dword aligned); a second page comes from PRP2 as a page pointer, more pages from
    /// the PRP list PRP2 points to, whose last entry in each memory page chains to the next list page. Entries
    /// other than PRP1 and the list pointer in PRP2 must have a zero offset. On failure sets the command's
    /// status (PRP Offset Invalid, Data Transfer Error) and returns false.
    /// </summary>
    bool MapPrps(ulong prp1, ulong prp2, int length)
    {
        _segCount = 0;
        if (length == 0) return true;
        if (_segAddress.Length == 0)
        {
            int maxSegments = (1 << _o.MaxDataTransferExponent) + 2;
            _segAddress = new ulong[maxSegments];
            _segLength = new int[maxSegments];
            _prpListBytes = new byte[8 * maxSegments];
        }
        ulong page = (ulong)PageSize, mask = page - 1;
        if ((prp1 & 3) != 0) { Fail(NvmeStatus.PrpOffsetInvalid, $"PRP1 0x{prp1:x} is not dword aligned", 24); return false; }
        int first = (int)Math.Min((ulong)length, page - (prp1 & mask));
        AddSegment(prp1, first);
        int remaining = length - first;
        if (remaining == 0) return true;
        if ((ulong)remaining <= page)
        {
            if ((prp2 & mask) != 0) { Fail(NvmeStatus.PrpOffsetInvalid, $"PRP2 0x{prp2:x} (second data page) has a non-zero offset", 32); return false; }
            AddSegment(prp2, remaining);
            return true;
        }
        ulong list = prp2;
        if ((list & 7) != 0) { Fail(NvmeStatus.PrpOffsetInvalid, $"PRP2 0x{prp2:x} (PRP list pointer) is not qword aligned", 32); return false; }
        while (remaining > 0)
        {
            int pagesNeeded = (int)(((ulong)remaining + mask) / page);
            int slotsInPage = (int)((page - (list & mask)) / 8);
            bool chains = pagesNeeded > slotsInPage;
            int entries = chains ? slotsInPage : pagesNeeded;
            if (entries > _segAddress.Length - _segCount + 1) { Fail(NvmeStatus.InvalidFieldInCommand, "PRP list longer than the transfer limit allows"); return false; }
            var raw = _prpListBytes.AsSpan(0, 8 * entries);
            if (!DmaRead(list, raw)) { Fail(NvmeStatus.DataTransferError, $"PRP list at 0x{list:x} could not be read"); return false; }
            int dataEntries = chains ? entries - 1 : entries;
            for (int i = 0; i < dataEntries; i++)
            {
                ulong e = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(raw[(8 * i)..]);
                if ((e & mask) != 0) { Fail(NvmeStatus.PrpOffsetInvalid, $"PRP list entry 0x{e:x} at 0x{list + 8UL * (ulong)i:x} has a non-zero offset"); return false; }
                int n = (int)Math.Min((ulong)remaining, page);
                AddSegment(e, n);
                remaining -= n;
            }
            if (!chains) break;
            ulong next = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(raw[(8 * (entries - 1))..]);
            if ((next & mask) != 0) { Fail(NvmeStatus.PrpOffsetInvalid, $"chained PRP list pointer 0x{next:x} has a non-zero offset"); return false; }
            list = next;
        }
        return true;
    }

    void AddSegment(ulong address, int length)
    {
        // Merge with the previous segment when contiguous: fewer DMA requests for contiguous buffers.
        if (_segCount > 0 && _segAddress[_segCount - 1] + (ulong)_segLength[_segCount - 1] == address)
        {
            _segLength[_segCount - 1] += length;
            return;
        }
        _segAddress[_segCount] = address;
        _segLength[_segCount] = length;
        _segCount++;
    }

    /// <summary>Copies <paramref name="data"/> to the mapped host segments.</summary>
    bool CopyToHost(ReadOnlySpan<byte> data)
    {
        for (int i = 0; i < _segCount && !data.IsEmpty; i++)
        {
            int n = Math.Min(_segLength[i], data.Length);
            if (!DmaWrite(_segAddress[i], data[..n]))
            {
                Fail(NvmeStatus.DataTransferError, $"DMA write of {n} bytes to 0x{_segAddress[i]:x} not completed");
                return false;
            }
            data = data[n..];
        }
        return true;
    }

    /// <summary>Fills <paramref name="data"/> from the mapped host segments.</summary>
    bool CopyFromHost(Span<byte> data)
    {
        for (int i = 0; i < _segCount && !data.IsEmpty; i++)
        {
            int n = Math.Min(_segLength[i], data.Length);
            if (!DmaRead(_segAddress[i], data[..n]))
            {
                Fail(NvmeStatus.DataTransferError, $"DMA read of {n} bytes from 0x{_segAddress[i]:x} not completed");
                return false;
            }
            data = data[n..];
        }
        return true;
    }

    /// <summary>Maps the command's PRPs and sends <paramref name="data"/> to the host.</summary>
    bool SendToHost(in NvmeCommand cmd, ReadOnlySpan<byte> data)
    {
        if (cmd.Psdt != 0) { Fail(NvmeStatus.InvalidFieldInCommand, "SGL data pointers are not supported (PSDT must be 00b)", 1, 6); return false; }
        return MapPrps(cmd.Prp1, cmd.Prp2, data.Length) && CopyToHost(data);
    }

    /// <summary>Maps the command's PRPs and fetches <paramref name="data"/> from the host.</summary>
    bool ReceiveFromHost(in NvmeCommand cmd, Span<byte> data)
    {
        if (cmd.Psdt != 0) { Fail(NvmeStatus.InvalidFieldInCommand, "SGL data pointers are not supported (PSDT must be 00b)", 1, 6); return false; }
        return MapPrps(cmd.Prp1, cmd.Prp2, data.Length) && CopyFromHost(data);
    }
}
