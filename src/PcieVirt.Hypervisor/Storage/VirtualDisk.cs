using PcieVirt.Devices.Nvme;
using PcieVirt.Fabric;

namespace PcieVirt.Hypervisor.Storage;

/// <summary>What a guest asks of its virtual disk.</summary>
public enum VirtualDiskOp
{
    /// <summary>Disk to guest memory.</summary>
    Read,
    /// <summary>Guest memory to disk.</summary>
    Write,
    /// <summary>Make completed writes durable.</summary>
    Flush,
}

/// <summary>
/// A guest's disk request as the hypervisor's storage stack receives it: operation, byte offset on the virtual
/// disk, length, the host-physical segments holding the data (guest pages already translated) and a token.
/// </summary>
public readonly ref struct VirtualDiskRequest
{
    /// <summary>A request of <paramref name="length"/> bytes at disk offset <paramref name="offset"/>.</summary>
    public VirtualDiskRequest(VirtualDiskOp op, ulong offset, int length, ReadOnlySpan<HostSegment> segments, long token)
    {
        Op = op;
        Offset = offset;
        Length = length;
        Segments = segments;
        Token = token;
    }

    /// <summary>Read, write or flush.</summary>
    public VirtualDiskOp Op { get; }
    /// <summary>Byte offset on the virtual disk (a multiple of the device block size).</summary>
    public ulong Offset { get; }
    /// <summary>Bytes (a multiple of the device block size; 0 for a flush).</summary>
    public int Length { get; }
    /// <summary>Host-physical scatter-gather list, following the PRP page rules (NVMe Base 1.4 §4.3).</summary>
    public ReadOnlySpan<HostSegment> Segments { get; }
    /// <summary>Returned with the completion.</summary>
    public long Token { get; }
}

/// <summary>Receives virtual disk completions.</summary>
public interface IVirtualDiskCompletion
{
    /// <summary>The request submitted with <paramref name="token"/> finished with <paramref name="status"/>.</summary>
    void OnVirtualDiskComplete(long token, NvmeStatus status);
}

/// <summary>Options of a <see cref="VirtualDisk"/>.</summary>
public sealed record VirtualDiskOptions
{
    /// <summary>Guest requests that can be in flight at once.</summary>
    public int MaxOutstanding { get; init; } = 32;
    /// <summary>Most segments one guest request may carry.</summary>
    public int MaxSegments { get; init; } = 1024;
    /// <summary>
    /// First token this disk gives the host block layer (it uses [TokenBase, TokenBase + MaxOutstanding)), so
    /// several disks sharing one layer can be told apart by whoever polls it (<see cref="VirtualDisk.OwnsHostToken"/>).
    /// </summary>
    public long TokenBase { get; init; }
}

/// <summary>
/// A guest's virtual disk on the hypervisor's software path: a <see cref="VmfsFile"/> on a VMFS volume of the PF,
/// reached through the host's <see cref="HostBlockLayer"/>. A request is split at file-block boundaries (and at
/// the layer's maximum transfer); each piece is mapped through VMFS and becomes one host request, and the
/// caller's completion fires when all of them have completed (first error wins). Reads of holes of a thin disk
/// are satisfied with zeros written into the segments, without device I/O; writes to holes allocate the block
/// first. Invalid requests complete at once with an NVMe-style status. Pools are sized at construction; a
/// request allocates nothing (thin allocation writes metadata synchronously, which is not the steady state).
/// </summary>
public sealed class VirtualDisk : IHostBlockCompletion
{
    static readonly byte[] Zeros = new byte[4096];

    readonly VmfsFile _file;
    readonly HostBlockLayer _layer;
    readonly IPhysicalMemory _memory;
    readonly IVirtualDiskCompletion _sink;
    readonly long _tokenBase;
    readonly long[] _token;
    readonly int[] _remaining;
    readonly NvmeStatus[] _status;
    readonly int[] _free;
    int _freeCount;
    readonly HostSegment[] _scratch;
    readonly int _blockSize;
    readonly ulong _pageMask;

    /// <summary>
    /// A disk over <paramref name="file"/> whose I/O goes through <paramref name="layer"/> (on the volume's device);
    /// <paramref name="hostMemory"/> is where the segments are (for zero-filling holes); completions go to <paramref name="sink"/>.
    /// </summary>
    public VirtualDisk(VmfsFile file, HostBlockLayer layer, IPhysicalMemory hostMemory, IVirtualDiskCompletion sink, VirtualDiskOptions? options = null)
    {
        var o = options ?? new VirtualDiskOptions();
        if (o.MaxOutstanding < 1 || o.MaxSegments < 1) throw new ArgumentException("MaxOutstanding and MaxSegments must be positive", nameof(options));
        if (file.Volume.Device.BlockSize != layer.BlockSize)
            throw new ArgumentException($"the volume's device has {file.Volume.Device.BlockSize}-byte blocks, the layer {layer.BlockSize}");
        _file = file;
        _layer = layer;
        _memory = hostMemory;
        _sink = sink;
        _tokenBase = o.TokenBase;
        _token = new long[o.MaxOutstanding];
        _remaining = new int[o.MaxOutstanding];
        _status = new NvmeStatus[o.MaxOutstanding];
        _free = new int[o.MaxOutstanding];
        for (int i = o.MaxOutstanding - 1; i >= 0; i--) _free[_freeCount++] = i;
        _scratch = new HostSegment[o.MaxSegments];
        _blockSize = layer.BlockSize;
        _pageMask = (ulong)layer.PageSize - 1;
    }

    /// <summary>The file holding the disk.</summary>
    public VmfsFile File => _file;
    /// <summary>Disk size in bytes.</summary>
    public ulong Size => _file.Size;
    /// <summary>Guest requests accepted.</summary>
    public long Requests { get; private set; }
    /// <summary>Guest requests completed (including those rejected with an error status).</summary>
    public long Completed { get; private set; }
    /// <summary>Guest requests completed with an error status.</summary>
    public long Errors { get; private set; }
    /// <summary>Host requests issued for guest requests.</summary>
    public long HostRequests { get; private set; }
    /// <summary>Pieces read from holes (zeros, no device I/O).</summary>
    public long HoleReads { get; private set; }
    /// <summary>TrySubmit calls refused because the disk or the host queue was full.</summary>
    public long QueueFullRejections { get; private set; }
    /// <summary>Guest requests in flight.</summary>
    public int InFlight => _token.Length - _freeCount;

    /// <summary>True when <paramref name="hostToken"/> (from the host block layer) belongs to this disk.</summary>
    public bool OwnsHostToken(long hostToken) => hostToken >= _tokenBase && hostToken < _tokenBase + _token.Length;

    /// <summary>Reaps the host layer's completions into this disk (when the disk is the layer's only user).</summary>
    public int Poll() => _layer.Poll(this);

    /// <summary>
    /// Accepts <paramref name="request"/>: false when it cannot be queued now (no free request slot, or the
    /// host queue has fewer free slots than the request has pieces); nothing was done then. An invalid request
    /// is accepted and completed at once with LBA Out of Range or Invalid Field in Command.
    /// </summary>
    public bool TrySubmit(in VirtualDiskRequest request)
    {
        var error = Check(request);
        int pieces = request.Op == VirtualDiskOp.Flush || !error.IsSuccess ? 1 : CountPieces(request.Offset, request.Length);
        if (_freeCount == 0 || (error.IsSuccess && _layer.FreeSlots < pieces))
        {
            QueueFullRejections++;
            return false;
        }
        Requests++;
        int slot = _free[--_freeCount];
        _token[slot] = request.Token;
        _status[slot] = error;
        _remaining[slot] = 1; // held until every piece is issued, so early completions cannot finish the request
        if (error.IsSuccess)
        {
            if (request.Op == VirtualDiskOp.Flush) Issue(slot, HostBlockOp.Flush, 0, 0, default);
            else Split(slot, request);
        }
        Finish(slot);
        return true;
    }

    /// <inheritdoc/>
    public void OnHostBlockComplete(long token, NvmeStatus status)
    {
        long slot = token - _tokenBase;
        if ((ulong)slot >= (ulong)_token.Length) throw new ArgumentException($"host token {token} does not belong to this disk", nameof(token));
        if (!status.IsSuccess && _status[slot].IsSuccess) _status[slot] = status;
        Finish((int)slot);
    }

    void Finish(int slot)
    {
        if (--_remaining[slot] != 0) return;
        _free[_freeCount++] = slot;
        Completed++;
        var status = _status[slot];
        if (!status.IsSuccess) Errors++;
        _sink.OnVirtualDiskComplete(_token[slot], status);
    }

    NvmeStatus Check(in VirtualDiskRequest r)
    {
        if (r.Op == VirtualDiskOp.Flush) return r.Length == 0 && r.Segments.IsEmpty ? NvmeStatus.Success : NvmeStatus.InvalidFieldInCommand;
        if (r.Length <= 0 || r.Length % _blockSize != 0 || r.Offset % (ulong)_blockSize != 0) return NvmeStatus.InvalidFieldInCommand;
        if (r.Offset >= _file.Size || (ulong)r.Length > _file.Size - r.Offset) return NvmeStatus.LbaOutOfRange;
        var segs = r.Segments;
        if (segs.IsEmpty || segs.Length > _scratch.Length) return NvmeStatus.InvalidFieldInCommand;
        long total = 0;
        for (int i = 0; i < segs.Length; i++)
        {
            var s = segs[i];
            if (s.Length <= 0 || (s.Address & 3) != 0) return NvmeStatus.InvalidFieldInCommand;
            // The same page rules the host's PRPs need (NVMe Base 1.4 §4.3): then every slice of the list obeys them too.
            if (i > 0 && (s.Address & _pageMask) != 0) return NvmeStatus.PrpOffsetInvalid;
            if (i < segs.Length - 1 && ((s.Address + (ulong)s.Length) & _pageMask) != 0) return NvmeStatus.PrpOffsetInvalid;
            total += s.Length;
        }
        return total == r.Length ? NvmeStatus.Success : NvmeStatus.InvalidFieldInCommand;
    }

    int CountPieces(ulong offset, int length)
    {
        int n = 0;
        ulong fbs = (ulong)_file.Volume.FileBlockSize;
        while (length > 0)
        {
            int piece = (int)Math.Min(Math.Min((ulong)length, fbs - offset % fbs), (ulong)_layer.MaxTransferBytes);
            offset += (ulong)piece;
            length -= piece;
            n++;
        }
        return n;
    }

    void Split(int slot, in VirtualDiskRequest r)
    {
        ulong offset = r.Offset;
        int left = r.Length;
        int segIndex = 0, segOffset = 0;
        var segs = r.Segments;
        while (left > 0)
        {
            int want = Math.Min(left, _layer.MaxTransferBytes);
            ulong lba;
            int piece;
            bool mapped = r.Op == VirtualDiskOp.Write
                ? _file.TryMapForWrite(offset, want, out lba, out piece)
                : _file.TryMap(offset, want, out lba, out piece);
            if (!mapped && r.Op == VirtualDiskOp.Write)
            {
                // Thin disk on a full volume: pieces already issued still complete, then the request fails.
                if (_status[slot].IsSuccess) _status[slot] = NvmeStatus.CapacityExceeded;
                return;
            }
            int count = Slice(segs, ref segIndex, ref segOffset, piece);
            if (mapped) Issue(slot, r.Op == VirtualDiskOp.Read ? HostBlockOp.Read : HostBlockOp.Write, lba, piece / _blockSize, _scratch.AsSpan(0, count));
            else ZeroFill(slot, count);
            offset += (ulong)piece;
            left -= piece;
        }
    }

    /// <summary>Copies the next <paramref name="bytes"/> of the guest's list into the scratch list; returns the segment count.</summary>
    int Slice(ReadOnlySpan<HostSegment> segs, ref int segIndex, ref int segOffset, int bytes)
    {
        int n = 0;
        while (bytes > 0)
        {
            var s = segs[segIndex];
            int take = Math.Min(s.Length - segOffset, bytes);
            _scratch[n++] = new HostSegment(s.Address + (ulong)segOffset, take);
            bytes -= take;
            segOffset += take;
            if (segOffset == s.Length)
            {
                segIndex++;
                segOffset = 0;
            }
        }
        return n;
    }

    void ZeroFill(int slot, int count)
    {
        HoleReads++;
        for (int i = 0; i < count; i++)
        {
            var s = _scratch[i];
            for (int done = 0; done < s.Length; done += Zeros.Length)
            {
                int n = Math.Min(Zeros.Length, s.Length - done);
                if (!_memory.Write(s.Address + (ulong)done, Zeros.AsSpan(0, n)) && _status[slot].IsSuccess)
                    _status[slot] = NvmeStatus.DataTransferError;
            }
        }
    }

    void Issue(int slot, HostBlockOp op, ulong lba, int blocks, ReadOnlySpan<HostSegment> segments)
    {
        _remaining[slot]++;
        HostRequests++;
        // Cannot be refused: TrySubmit checked the layer had a slot for every piece.
        if (!_layer.TrySubmit(new HostBlockRequest(op, lba, blocks, segments, _tokenBase + slot)))
            throw new InvalidOperationException("host block layer refused a piece it had room for");
    }
}
