using System.Buffers.Binary;
using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;
using PcieVirt.Fabric;
using static PcieVirt.Devices.Nvme.NvmeRegisters;

namespace PcieVirt.Hypervisor.Storage;

/// <summary>What a host block request does.</summary>
public enum HostBlockOp
{
    /// <summary>Device to host memory.</summary>
    Read,
    /// <summary>Host memory to device.</summary>
    Write,
    /// <summary>Make completed writes durable (no data).</summary>
    Flush,
}

/// <summary>One contiguous piece of host-physical memory of a scatter-gather list.</summary>
/// <param name="Address">Host-physical address.</param>
/// <param name="Length">Bytes.</param>
public readonly record struct HostSegment(ulong Address, int Length);

/// <summary>
/// A request to the host block layer: operation, device LBA, block count, the host-physical scatter-gather
/// list holding the data and a caller token returned with the completion.
/// </summary>
public readonly ref struct HostBlockRequest
{
    /// <summary>A request of <paramref name="blocks"/> blocks at <paramref name="lba"/> over <paramref name="segments"/>.</summary>
    public HostBlockRequest(HostBlockOp op, ulong lba, int blocks, ReadOnlySpan<HostSegment> segments, long token)
    {
        Op = op;
        Lba = lba;
        Blocks = blocks;
        Segments = segments;
        Token = token;
    }

    /// <summary>Read, write or flush.</summary>
    public HostBlockOp Op { get; }
    /// <summary>First device (namespace) LBA.</summary>
    public ulong Lba { get; }
    /// <summary>Blocks to transfer (0 for a flush).</summary>
    public int Blocks { get; }
    /// <summary>Where the data is in host memory, in transfer order.</summary>
    public ReadOnlySpan<HostSegment> Segments { get; }
    /// <summary>Returned to the completion sink unchanged.</summary>
    public long Token { get; }
}

/// <summary>Receives host block completions from <see cref="HostBlockLayer.Poll"/>.</summary>
public interface IHostBlockCompletion
{
    /// <summary>The request submitted with <paramref name="token"/> finished with <paramref name="status"/>.</summary>
    void OnHostBlockComplete(long token, NvmeStatus status);
}

/// <summary>Options of a <see cref="HostBlockLayer"/>.</summary>
public sealed record HostBlockLayerOptions
{
    /// <summary>Upper bound on one request's data, below the controller's MDTS (which also applies).</summary>
    public int MaxTransferBytes { get; init; } = 1 << 20;
}

/// <summary>
/// The host kernel's block layer over one namespace of an NVMe function driven by the reference
/// <see cref="NvmeDriver"/>: asynchronous requests with scatter-gather lists turned into PRP entries
/// (NVMe Base 1.4 §4.3), one I/O queue pair, completions reaped by <see cref="Poll"/> (on the queue's MSI-X
/// or when polling). PRP list pages are allocated from the driver's host memory once, per queue slot;
/// submitting and reaping allocate nothing. One slot is kept back for the synchronous helpers
/// (<see cref="ReadSync"/>, <see cref="WriteSync"/>, <see cref="FlushSync"/>) used for metadata I/O.
/// </summary>
public sealed class HostBlockLayer
{
    const int NoSlot = 0;

    readonly NvmeDriver _driver;
    readonly NvmeQueuePair _queue;
    readonly IPhysicalMemory _mem;
    readonly ulong _page;
    readonly int _listEntriesPerPage;
    readonly ulong[] _listPages;     // [slot * _listPagesPerSlot + i]
    readonly int _listPagesPerSlot;
    readonly long[] _slotToken;
    readonly HostBlockOp[] _slotOp;
    readonly int[] _slotBytes;
    readonly int[] _freeSlots;
    int _freeCount;
    readonly ushort[] _slotOfCid = new ushort[65536]; // slot + 1 by Command Identifier (0 = none)
    readonly int _syncSlot;
    readonly ulong _bounce;
    readonly byte[] _qword = new byte[8];

    /// <summary>
    /// A block layer for namespace <paramref name="nsid"/> of <paramref name="driver"/> (initialized), using I/O
    /// queue <paramref name="qid"/> exclusively.
    /// </summary>
    public HostBlockLayer(NvmeDriver driver, uint nsid, int qid = 1, HostBlockLayerOptions? options = null)
    {
        var o = options ?? new HostBlockLayerOptions();
        _driver = driver;
        if (!driver.Namespaces.TryGetValue(nsid, out var ns))
            throw new ArgumentException($"namespace {nsid} is not active on {driver.Address}", nameof(nsid));
        _queue = driver.IoQueue(qid);
        Nsid = nsid;
        BlockSize = ns.BlockSize;
        BlockCount = ns.Size;
        _mem = driver.Memory.Memory;
        _page = (ulong)driver.PageSize;
        // MDTS is in units of the minimum memory page size (CAP.MPSMIN), 0 = no limit (NVMe Base 1.4 Identify Controller byte 77).
        int mdts = driver.Controller?.Mdts ?? 0;
        long limit = o.MaxTransferBytes;
        if (mdts != 0) limit = Math.Min(limit, (long)(4096 << (int)CapFields.MpsMin.Get(driver.Cap)) << mdts);
        limit -= limit % Math.Max(BlockSize, (int)_page);
        if (limit < BlockSize) throw new ArgumentException($"{driver.Address}: maximum transfer {limit} is below one block");
        MaxTransferBytes = (int)limit;

        // A transfer of MaxTransferBytes starting mid-page touches one page more; PRP1 covers the first.
        int maxPages = (int)((ulong)MaxTransferBytes / _page) + 1;
        _listEntriesPerPage = (int)(_page / 8);
        int entries = maxPages - 1;
        _listPagesPerSlot = entries <= _listEntriesPerPage ? 1 : (entries - 1 + _listEntriesPerPage - 2) / (_listEntriesPerPage - 1);
        // The queue holds one entry less than its size; the completion queue must not overflow either.
        int slots = Math.Min(_queue.SqEntries, _queue.CqEntries) - 1;
        if (slots < 2) throw new ArgumentException($"{driver.Address}: I/O queue {qid} is too small for a block layer");
        Capacity = slots - 1;
        _listPages = new ulong[slots * _listPagesPerSlot];
        for (int i = 0; i < _listPages.Length; i++) _listPages[i] = driver.Memory.Allocate(_page, _page);
        _slotToken = new long[slots];
        _slotOp = new HostBlockOp[slots];
        _slotBytes = new int[slots];
        _freeSlots = new int[slots];
        _syncSlot = slots - 1;
        for (int i = Capacity - 1; i >= 0; i--) _freeSlots[_freeCount++] = i;
        _bounce = driver.Memory.Allocate((ulong)MaxTransferBytes, _page);
    }

    /// <summary>The driver this layer submits through.</summary>
    public NvmeDriver Driver => _driver;
    /// <summary>Namespace the LBAs address.</summary>
    public uint Nsid { get; }
    /// <summary>Logical block size of the namespace.</summary>
    public int BlockSize { get; }
    /// <summary>Blocks in the namespace (NSZE).</summary>
    public ulong BlockCount { get; }
    /// <summary>Largest data transfer of one request (MDTS and the option).</summary>
    public int MaxTransferBytes { get; }
    /// <summary>The I/O queue pair the layer owns.</summary>
    public NvmeQueuePair Queue => _queue;

    /// <summary>CID of the completion being handed to the sink (valid inside <see cref="Poll"/>'s callback): for accounting.</summary>
    public ushort LastCompletedCommandId { get; private set; }
    /// <summary>Host vector (MSI data) of the queue's MSI-X entry: on its arrival the host calls <see cref="Poll"/>.</summary>
    public byte HostVector => _queue.HostVector;
    /// <summary>Host memory page size the PRPs use (CC.MPS).</summary>
    public int PageSize => (int)_page;
    /// <summary>Asynchronous requests that can be outstanding at once.</summary>
    public int Capacity { get; }
    /// <summary>Asynchronous requests that can be submitted now.</summary>
    public int FreeSlots => _freeCount;
    /// <summary>Asynchronous requests submitted and not yet reaped.</summary>
    public int InFlight => Capacity - _freeCount;
    /// <summary>Requests submitted (asynchronous and synchronous).</summary>
    public long Submitted { get; private set; }
    /// <summary>Requests completed.</summary>
    public long Completed { get; private set; }
    /// <summary>Requests that completed with an error status.</summary>
    public long Errors { get; private set; }
    /// <summary>TrySubmit calls refused because the queue was full.</summary>
    public long QueueFullRejections { get; private set; }
    /// <summary>Bytes read by completed requests.</summary>
    public long BytesRead { get; private set; }
    /// <summary>Bytes written by completed requests.</summary>
    public long BytesWritten { get; private set; }
    /// <summary>Completions reaped that matched no outstanding request (ignored).</summary>
    public long UnexpectedCompletions { get; private set; }
    /// <summary>Requests that needed a PRP list.</summary>
    public long PrpListsBuilt { get; private set; }

    /// <summary>
    /// Builds the NVMe command for <paramref name="request"/> and rings the doorbell; false when the queue is
    /// full. A malformed request (segments not following the PRP page rules, length not matching the blocks,
    /// beyond the namespace or above the maximum transfer) throws <see cref="ArgumentException"/>.
    /// </summary>
    public bool TrySubmit(in HostBlockRequest request)
    {
        Validate(request);
        if (_freeCount == 0)
        {
            QueueFullRejections++;
            return false;
        }
        int slot = _freeSlots[--_freeCount];
        _slotToken[slot] = request.Token;
        Issue(request.Op, request.Lba, request.Blocks, request.Segments, slot);
        return true;
    }

    /// <summary>Reaps every new completion, handing each to <paramref name="sink"/>; returns how many.</summary>
    public int Poll(IHostBlockCompletion sink)
    {
        int n = 0;
        while (_driver.TryReap(_queue, out var c))
        {
            int slot = _slotOfCid[c.CommandId] - 1;
            if (slot < 0 || slot == _syncSlot)
            {
                UnexpectedCompletions++; // a Command Identifier this layer has no request for
                continue;
            }
            _slotOfCid[c.CommandId] = NoSlot;
            Account(slot, c.Status);
            _freeSlots[_freeCount++] = slot;
            n++;
            LastCompletedCommandId = c.CommandId;
            sink.OnHostBlockComplete(_slotToken[slot], c.Status);
        }
        return n;
    }

    /// <summary>Reads blocks at <paramref name="lba"/> into <paramref name="data"/> (a whole number of blocks) and waits.</summary>
    public NvmeStatus ReadSync(ulong lba, Span<byte> data)
    {
        CheckSync(lba, data.Length);
        int done = 0;
        while (done < data.Length)
        {
            int n = Math.Min(MaxTransferBytes, data.Length - done);
            var s = SyncIo(HostBlockOp.Read, lba + (ulong)(done / BlockSize), n);
            if (!s.IsSuccess) return s;
            if (!_mem.Read(_bounce, data.Slice(done, n))) return NvmeStatus.DataTransferError;
            done += n;
        }
        return NvmeStatus.Success;
    }

    /// <summary>Writes <paramref name="data"/> (a whole number of blocks) at <paramref name="lba"/> and waits.</summary>
    public NvmeStatus WriteSync(ulong lba, ReadOnlySpan<byte> data)
    {
        CheckSync(lba, data.Length);
        int done = 0;
        while (done < data.Length)
        {
            int n = Math.Min(MaxTransferBytes, data.Length - done);
            if (!_mem.Write(_bounce, data.Slice(done, n))) return NvmeStatus.DataTransferError;
            var s = SyncIo(HostBlockOp.Write, lba + (ulong)(done / BlockSize), n);
            if (!s.IsSuccess) return s;
            done += n;
        }
        return NvmeStatus.Success;
    }

    /// <summary>Flush of the namespace, waiting for it.</summary>
    public NvmeStatus FlushSync() => SyncIo(HostBlockOp.Flush, 0, 0);

    NvmeStatus SyncIo(HostBlockOp op, ulong lba, int bytes)
    {
        ReadOnlySpan<HostSegment> seg = [new HostSegment(_bounce, bytes)];
        ushort cid = Issue(op, lba, bytes / BlockSize, op == HostBlockOp.Flush ? default : seg, _syncSlot);
        // The driver's wait (polling or interrupt, with its Pump/Clock) keeps other completions for Poll.
        var c = _driver.WaitFor(_queue, cid);
        _slotOfCid[cid] = NoSlot;
        Account(_syncSlot, c.Status);
        return c.Status;
    }

    void CheckSync(ulong lba, int length)
    {
        if (length % BlockSize != 0) throw new ArgumentException($"sync I/O of {length} bytes is not a whole number of {BlockSize}-byte blocks");
        if (lba > BlockCount || (ulong)(length / BlockSize) > BlockCount - lba)
            throw new ArgumentOutOfRangeException(nameof(lba), $"blocks [{lba}, +{length / BlockSize}) are outside namespace {Nsid} ({BlockCount} blocks)");
    }

    void Account(int slot, NvmeStatus status)
    {
        Completed++;
        if (!status.IsSuccess) Errors++;
        else if (_slotOp[slot] == HostBlockOp.Read) BytesRead += _slotBytes[slot];
        else if (_slotOp[slot] == HostBlockOp.Write) BytesWritten += _slotBytes[slot];
    }

    ushort Issue(HostBlockOp op, ulong lba, int blocks, ReadOnlySpan<HostSegment> segments, int slot)
    {
        _slotOp[slot] = op;
        _slotBytes[slot] = blocks * BlockSize;
        var s = new NvmeSubmission { Nsid = Nsid };
        if (op == HostBlockOp.Flush) s.Opcode = NvmeIoOpcode.Flush;
        else
        {
            s.Opcode = op == HostBlockOp.Read ? NvmeIoOpcode.Read : NvmeIoOpcode.Write;
            s.Cdw10 = (uint)lba;
            s.Cdw11 = (uint)(lba >> 32);
            s.Cdw12 = (uint)(blocks - 1); // NLB is 0's based
            BuildPrps(segments, slot, out s.Prp1, out s.Prp2);
        }
        ushort cid = _driver.Submit(_queue, s);
        _slotOfCid[cid] = (ushort)(slot + 1);
        Submitted++;
        return cid;
    }

    /// <summary>
    /// PRP1 = the first byte (may be mid-page); PRP2 = the second page when exactly two pages are touched,
    /// else the address of a PRP list in the slot's pooled pages, chained through the last entry of each
    /// full list page (NVMe Base 1.4 §4.3).
    /// </summary>
    void BuildPrps(ReadOnlySpan<HostSegment> segments, int slot, out ulong prp1, out ulong prp2)
    {
        prp1 = segments[0].Address;
        prp2 = 0;
        int pages = 0;
        foreach (var seg in segments) pages += PagesTouched(seg);
        if (pages == 1) return;
        if (pages == 2)
        {
            prp2 = SecondPage(segments);
            return;
        }
        PrpListsBuilt++;
        int listIndex = slot * _listPagesPerSlot;
        ulong listPage = _listPages[listIndex];
        prp2 = listPage;
        int entry = 0;
        bool first = true;
        int remaining = pages - 1;
        foreach (var seg in segments)
        {
            ulong start = seg.Address & ~(_page - 1);
            ulong end = seg.Address + (ulong)seg.Length;
            for (ulong p = start; p < end; p += _page)
            {
                if (first) { first = false; continue; } // covered by PRP1
                if (entry == _listEntriesPerPage - 1 && remaining > 1)
                {
                    // Last slot of a full list page points at the next list page.
                    ulong next = _listPages[++listIndex];
                    WriteQword(listPage + 8UL * (ulong)entry, next);
                    listPage = next;
                    entry = 0;
                }
                WriteQword(listPage + 8UL * (ulong)entry++, p);
                remaining--;
            }
        }
    }

    ulong SecondPage(ReadOnlySpan<HostSegment> segments)
    {
        var s0 = segments[0];
        return PagesTouched(s0) == 2 ? (s0.Address & ~(_page - 1)) + _page : segments[1].Address & ~(_page - 1);
    }

    int PagesTouched(HostSegment s)
    {
        ulong first = s.Address & ~(_page - 1);
        return (int)((s.Address + (ulong)s.Length - first + _page - 1) / _page);
    }

    void WriteQword(ulong address, ulong value)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(_qword, value);
        _mem.Write(address, _qword);
    }

    void Validate(in HostBlockRequest r)
    {
        if (r.Op == HostBlockOp.Flush)
        {
            if (r.Blocks != 0 || !r.Segments.IsEmpty) throw new ArgumentException("a flush carries no blocks and no segments");
            return;
        }
        if (r.Blocks <= 0) throw new ArgumentException($"a {r.Op} needs at least one block");
        if (r.Lba > BlockCount || (ulong)r.Blocks > BlockCount - r.Lba)
            throw new ArgumentException($"blocks [{r.Lba}, +{r.Blocks}) are outside namespace {Nsid} ({BlockCount} blocks)");
        long bytes = (long)r.Blocks * BlockSize;
        if (bytes > MaxTransferBytes) throw new ArgumentException($"{bytes} bytes exceed the maximum transfer of {MaxTransferBytes}");
        var segs = r.Segments;
        if (segs.IsEmpty) throw new ArgumentException("a data transfer needs at least one segment");
        long total = 0;
        for (int i = 0; i < segs.Length; i++)
        {
            var s = segs[i];
            if (s.Length <= 0) throw new ArgumentException($"segment {i} has length {s.Length}");
            // §4.3: PRP entries are dword aligned; every page but the first starts at offset 0, every page but the last ends at the page end.
            if ((s.Address & 3) != 0) throw new ArgumentException($"segment {i} at 0x{s.Address:x} is not dword aligned");
            if (i > 0 && (s.Address & (_page - 1)) != 0) throw new ArgumentException($"segment {i} at 0x{s.Address:x} does not start on a page boundary");
            if (i < segs.Length - 1 && ((s.Address + (ulong)s.Length) & (_page - 1)) != 0)
                throw new ArgumentException($"segment {i} ends at 0x{s.Address + (ulong)s.Length:x}, not on a page boundary, and is not the last");
            total += s.Length;
        }
        if (total != bytes) throw new ArgumentException($"segments hold {total} bytes, the request {bytes}");
    }
}
