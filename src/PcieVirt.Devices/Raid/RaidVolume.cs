using Microsoft.Extensions.Logging;
using PcieVirt.Devices.Media;

namespace PcieVirt.Devices.Raid;

/// <summary>
/// A volume striped, mirrored or parity-protected over member drives. Every member is divided into rows
/// of <see cref="ChunkBlocks"/> blocks (a row is a stripe for RAID 0/5/6/10 and a chunk-sized region for
/// RAID 1); the layout subclasses map volume blocks to (slot, row). This base keeps the member slots and
/// their states, turns member I/O errors into member loss with a retry of the request in degraded mode,
/// prices requests, and drives rebuilds.
/// </summary>
/// <remarks>
/// Timing: member operations of one request are issued in two phases, reads then writes (read-modify-write
/// and reconstruction need the reads first). Within a phase the members work in parallel and each member
/// serves its own operations one after another, so a request costs max over members of their read time
/// plus max over members of their write time.
/// </remarks>
public abstract class RaidVolume : Volume
{
    private protected readonly MemberSlot[] Slots;
    readonly long[] _readNs;
    readonly long[] _writeNs;
    bool _lost;

    /// <summary>Largest run of rows a layout moves through its scratch buffers at once.</summary>
    const int WindowBytes = 256 * 1024;

    readonly byte[] _scratch;

    private protected RaidVolume(int id, string name, RaidLevel level, IReadOnlyList<PhysicalDrive> drives, int chunkBlocks,
        long blockCount, int scratchChunks, ILogger logger)
        : base(id, name, drives[0].BlockSize, blockCount, logger)
    {
        Level = level;
        ChunkBlocks = chunkBlocks;
        WindowBlocks = Math.Min(chunkBlocks, Math.Max(1, WindowBytes / drives[0].BlockSize));
        _scratch = new byte[scratchChunks * WindowBlocks * drives[0].BlockSize];
        Slots = new MemberSlot[drives.Count];
        for (int i = 0; i < drives.Count; i++)
            Slots[i] = new MemberSlot(drives[i]);
        _readNs = new long[drives.Count];
        _writeNs = new long[drives.Count];
        RowCount = MinBlocks(drives) / chunkBlocks;
        ZeroBuffer.Get(chunkBlocks * drives[0].BlockSize); // grow the shared zeros now, not on a request
    }

    public RaidLevel Level { get; }

    /// <summary>Rows of a chunk processed together through the scratch buffers (≤ 256 KiB, ≤ one chunk).</summary>
    private protected int WindowBlocks { get; }

    /// <summary>All scratch buffers back to back, <see cref="ScratchStride"/> bytes apart.</summary>
    private protected Span<byte> ScratchAll => _scratch;

    /// <summary>Distance in bytes between consecutive scratch buffers.</summary>
    private protected int ScratchStride => WindowBlocks * BlockSize;

    /// <summary>Scratch buffer <paramref name="index"/>, one window long, preallocated: no allocation per request.</summary>
    private protected Span<byte> Scratch(int index) =>
        _scratch.AsSpan(index * WindowBlocks * BlockSize, WindowBlocks * BlockSize);

    /// <summary>Chunk (strip) size in blocks: the contiguous run of blocks placed on one member.</summary>
    public int ChunkBlocks { get; }

    /// <summary>Chunk size in bytes (the "stripe size" the management API takes).</summary>
    public int ChunkBytes => ChunkBlocks * BlockSize;

    /// <summary>Rows of <see cref="ChunkBlocks"/> blocks used on each member.</summary>
    public long RowCount { get; }

    /// <summary>Number of member slots.</summary>
    public int MemberCount => Slots.Length;

    /// <summary>Member slots in layout order.</summary>
    public IReadOnlyList<RaidMember> Members
    {
        get
        {
            var list = new RaidMember[Slots.Length];
            for (int i = 0; i < Slots.Length; i++)
                list[i] = new RaidMember(i, Slots[i].Drive.Name, Slots[i].State, Slots[i].State == MemberState.InSync ? RowCount : Slots[i].Watermark);
            return list;
        }
    }

    /// <summary>Hot spares reserved for this volume (the engine adds and removes them).</summary>
    public IReadOnlyList<PhysicalDrive> DedicatedSpares => DedicatedSpareList;

    internal List<PhysicalDrive> DedicatedSpareList { get; } = [];

    public override VolumeState State
    {
        get
        {
            if (_lost)
                return VolumeState.Failed;
            bool rebuilding = false;
            foreach (MemberSlot slot in Slots)
            {
                if (slot.State == MemberState.Missing)
                    return VolumeState.Degraded;
                rebuilding |= slot.State == MemberState.Rebuilding;
            }
            return rebuilding ? VolumeState.Rebuilding : VolumeState.Optimal;
        }
    }

    /// <summary>Number of member losses the layout survives in the worst case.</summary>
    public abstract int FaultTolerance { get; }

    /// <summary>Where copy <paramref name="copy"/> of volume block <paramref name="lba"/> lives
    /// (copy 0 only, except RAID 1 and RAID 10).</summary>
    public abstract RaidLocation Locate(long lba, int copy = 0);

    /// <summary>True if <paramref name="drive"/> is in one of this volume's slots (in any state).</summary>
    public bool Contains(PhysicalDrive drive) => IndexOf(drive) >= 0;

    internal int IndexOf(PhysicalDrive drive)
    {
        for (int i = 0; i < Slots.Length; i++)
        {
            if (ReferenceEquals(Slots[i].Drive, drive))
                return i;
        }
        return -1;
    }

    /// <summary>Marks the slot holding <paramref name="drive"/> missing. Returns false if the drive is not an
    /// active member. The volume fails if the layout cannot survive the loss.</summary>
    internal bool MemberLost(PhysicalDrive drive)
    {
        int i = IndexOf(drive);
        if (i < 0 || Slots[i].State == MemberState.Missing)
            return false;
        LoseSlot(i);
        return true;
    }

    /// <summary>Puts <paramref name="drive"/> into the first missing slot and starts rebuilding it. Returns the slot, or −1.</summary>
    internal int BeginRebuild(PhysicalDrive drive)
    {
        if (_lost)
            return -1;
        for (int i = 0; i < Slots.Length; i++)
        {
            if (Slots[i].State == MemberState.Missing)
            {
                Slots[i].Drive = drive;
                Slots[i].State = MemberState.Rebuilding;
                Slots[i].Watermark = 0;
                Log.RebuildStarted(Logger, Name, drive.Name, i, RowCount);
                return i;
            }
        }
        return -1;
    }

    /// <summary>True if some slot is missing and could take a replacement.</summary>
    public bool NeedsReplacement
    {
        get
        {
            if (_lost)
                return false;
            foreach (MemberSlot slot in Slots)
            {
                if (slot.State == MemberState.Missing)
                    return true;
            }
            return false;
        }
    }

    /// <summary>
    /// Rebuilds up to <paramref name="maxStripes"/> rows (stripes; chunk-sized regions for RAID 1) onto the
    /// rebuilding slots, lowest row first, so the controller can interleave rebuild with I/O. A slot whose
    /// last row is rebuilt becomes in sync.
    /// </summary>
    public RebuildProgress RebuildStep(int maxStripes)
    {
        long done = 0;
        int stalls = 0;
        while (done < Math.Max(0, maxStripes) && !_lost && stalls <= Slots.Length)
        {
            long row = long.MaxValue;
            foreach (MemberSlot slot in Slots)
            {
                if (slot.State == MemberState.Rebuilding)
                    row = Math.Min(row, slot.Watermark);
            }
            if (row == long.MaxValue)
                break;
            if (row >= RowCount)
            {
                CompleteRebuilds();
                continue;
            }
            if (!RebuildRow(row))
            {
                stalls++; // a member was lost mid-row: the slot states changed, re-evaluate
                continue;
            }
            stalls = 0;
            for (int i = 0; i < Slots.Length; i++)
            {
                if (Slots[i].State == MemberState.Rebuilding && Slots[i].Watermark == row)
                    Slots[i].Watermark = row + 1;
            }
            done++;
            CompleteRebuilds();
        }
        long ns = TakeServiceTime();
        if (_lost || stalls > Slots.Length)
            return new RebuildProgress(done, _lost ? 0 : RowsToRebuild(), ns, VolumeStatus.MediaError);
        return new RebuildProgress(done, RowsToRebuild(), ns, VolumeStatus.Success);
    }

    /// <summary>Rows left to rebuild on the least advanced rebuilding slot (0 if none is rebuilding).</summary>
    public long RowsToRebuild()
    {
        long remaining = 0;
        foreach (MemberSlot slot in Slots)
        {
            if (slot.State == MemberState.Rebuilding)
                remaining = Math.Max(remaining, RowCount - slot.Watermark);
        }
        return remaining;
    }

    void CompleteRebuilds()
    {
        for (int i = 0; i < Slots.Length; i++)
        {
            if (Slots[i].State == MemberState.Rebuilding && Slots[i].Watermark >= RowCount)
            {
                Slots[i].State = MemberState.InSync;
                Log.RebuildCompleted(Logger, Name, Slots[i].Drive.Name, i);
            }
        }
    }

    internal sealed override VolumeResult ReadCore(long lba, int count, Span<byte> destination)
    {
        for (int attempt = 0; !ReadOnce(lba, count, destination); attempt++)
        {
            if (_lost || attempt >= Slots.Length)
                return Lost();
        }
        return VolumeResult.Ok(TakeServiceTime());
    }

    internal sealed override VolumeResult WriteCore(long lba, int count, ReadOnlySpan<byte> source)
    {
        for (int attempt = 0; !WriteOnce(lba, count, source); attempt++)
        {
            if (_lost || attempt >= Slots.Length)
                return Lost();
        }
        return VolumeResult.Ok(TakeServiceTime());
    }

    internal sealed override VolumeResult ZeroCore(long lba, int count, bool deallocate)
    {
        for (int attempt = 0; !ZeroOnce(lba, count); attempt++)
        {
            if (_lost || attempt >= Slots.Length)
                return Lost();
        }
        return VolumeResult.Ok(TakeServiceTime());
    }

    internal sealed override VolumeResult FlushCore()
    {
        for (int i = 0; i < Slots.Length; i++)
        {
            if (Writable(i))
                DriveFlush(i);
        }
        return _lost ? Lost() : VolumeResult.Ok(TakeServiceTime());
    }

    VolumeResult Lost()
    {
        TakeServiceTime();
        return VolumeResult.Fail(VolumeStatus.MediaError);
    }

    // --- layout hooks: return false when a member was lost during the attempt (the request is retried) ---

    private protected abstract bool ReadOnce(long lba, int count, Span<byte> destination);

    private protected abstract bool WriteOnce(long lba, int count, ReadOnlySpan<byte> source);

    /// <summary>Zeros a range. Default: write zeros, at most one chunk per write.</summary>
    private protected virtual bool ZeroOnce(long lba, int count)
    {
        ReadOnlySpan<byte> zeros = ZeroBuffer.Get(ChunkBytes);
        while (count > 0)
        {
            int n = Math.Min(count, ChunkBlocks);
            if (!WriteOnce(lba, n, zeros[..(n * BlockSize)]))
                return false;
            lba += n;
            count -= n;
        }
        return true;
    }

    /// <summary>Rebuilds <paramref name="row"/> on every rebuilding slot whose watermark is that row.</summary>
    private protected abstract bool RebuildRow(long row);

    /// <summary>True if the layout still has every block available with the current slot states.</summary>
    private protected abstract bool IsRecoverable();

    // --- member access ---

    /// <summary>True if the slot's drive holds valid data for <paramref name="row"/>.</summary>
    private protected bool Readable(int slot, long row)
    {
        MemberSlot s = Slots[slot];
        return s.State == MemberState.InSync || (s.State == MemberState.Rebuilding && row < s.Watermark);
    }

    /// <summary>True if writes must go to the slot's drive (in sync or rebuilding).</summary>
    private protected bool Writable(int slot) => Slots[slot].State != MemberState.Missing;

    /// <summary>True if a rebuilding slot still needs <paramref name="row"/>.</summary>
    private protected bool RebuildTarget(int slot, long row) =>
        Slots[slot].State == MemberState.Rebuilding && Slots[slot].Watermark == row;

    private protected bool DriveRead(int slot, long lba, int count, Span<byte> destination)
    {
        MediaResult r = Slots[slot].Drive.Read(lba, count, destination);
        if (!r.IsSuccess)
            return DriveError(slot, r.Status);
        _readNs[slot] += r.ServiceTimeNs;
        return true;
    }

    private protected bool DriveWrite(int slot, long lba, int count, ReadOnlySpan<byte> source)
    {
        MediaResult r = Slots[slot].Drive.Write(lba, count, source);
        if (!r.IsSuccess)
            return DriveError(slot, r.Status);
        _writeNs[slot] += r.ServiceTimeNs;
        return true;
    }

    private protected bool DriveTrim(int slot, long lba, int count)
    {
        MediaResult r = Slots[slot].Drive.Trim(lba, count);
        if (!r.IsSuccess)
            return DriveError(slot, r.Status);
        _writeNs[slot] += r.ServiceTimeNs;
        return true;
    }

    bool DriveFlush(int slot)
    {
        MediaResult r = Slots[slot].Drive.Flush();
        if (!r.IsSuccess)
            return DriveError(slot, r.Status);
        _writeNs[slot] += r.ServiceTimeNs;
        return true;
    }

    bool DriveError(int slot, MediaStatus status)
    {
        Log.MemberIoError(Logger, Name, Slots[slot].Drive.Name, slot, status.ToString());
        LoseSlot(slot);
        return false;
    }

    /// <summary>Told when a member is dropped (by command or after an I/O error). It must not start a
    /// rebuild: it can run in the middle of a request.</summary>
    internal Action<RaidVolume, PhysicalDrive>? MemberDropped { get; set; }

    void LoseSlot(int slot)
    {
        MemberDropped?.Invoke(this, Slots[slot].Drive);
        Slots[slot].State = MemberState.Missing;
        Slots[slot].Watermark = 0;
        Log.MemberLost(Logger, Name, Slots[slot].Drive.Name, slot);
        if (!_lost && !IsRecoverable())
        {
            _lost = true;
            Log.VolumeFailed(Logger, Name, Level.ToString());
        }
    }

    long TakeServiceTime()
    {
        long read = 0, write = 0;
        for (int i = 0; i < _readNs.Length; i++)
        {
            read = Math.Max(read, _readNs[i]);
            write = Math.Max(write, _writeNs[i]);
            _readNs[i] = 0;
            _writeNs[i] = 0;
        }
        return read + write;
    }

    static long MinBlocks(IReadOnlyList<PhysicalDrive> drives)
    {
        long min = long.MaxValue;
        foreach (PhysicalDrive d in drives)
            min = Math.Min(min, d.BlockCount);
        return min;
    }

    private protected sealed class MemberSlot(PhysicalDrive drive)
    {
        public PhysicalDrive Drive = drive;
        public MemberState State = MemberState.InSync;
        public long Watermark;
    }
}
