using Microsoft.Extensions.Logging;

namespace PcieVirt.Devices.Raid;

/// <summary>
/// A copy-on-write snapshot: the origin's contents at the moment the snapshot was taken. The snapshot
/// shares every extent with its origin until the origin is about to change it; the origin's write path
/// (<see cref="Volume"/>) first copies the old extent into an extent of the snapshot's pool (the
/// "exception store"). Reads of a copied extent come from the pool, others from the origin. A writable
/// snapshot copies an extent on its own first write to it too, and then writes the copy. If the pool runs
/// out while preserving origin data, the snapshot is invalidated (its I/O fails) and the origin write goes
/// ahead, as with Linux dm-snapshot: the origin must never fail because of a snapshot.
/// </summary>
public sealed class SnapshotVolume : ExtentMappedVolume
{
    bool _invalid;

    internal SnapshotVolume(int id, string name, Volume origin, ExtentPool pool, bool writable, ILogger logger)
        : base(id, name, pool, origin.BlockSize, origin.BlockCount, logger)
    {
        Origin = origin;
        IsWritable = writable;
    }

    /// <summary>The volume this is a snapshot of.</summary>
    public Volume Origin { get; }

    /// <summary>True for a writable snapshot (a clone); false for a read-only point-in-time view.</summary>
    public bool IsWritable { get; }

    public override bool IsReadOnly => !IsWritable;

    /// <summary>Extents copied into the pool so far.</summary>
    public long CopiedExtents => MappedExtents;

    /// <summary>True once the pool ran out while preserving origin data: the snapshot's contents are lost.</summary>
    public bool IsInvalid => _invalid;

    public override VolumeState State
    {
        get
        {
            if (_invalid)
                return VolumeState.Failed;
            VolumeState a = Origin.State, b = Pool.Backing.State;
            return a > b ? a : b;
        }
    }

    /// <summary>Called by the origin before it changes [lba, lba + count): copies the old extents not yet copied.</summary>
    internal VolumeResult PreserveOrigin(long lba, int count)
    {
        if (_invalid)
            return VolumeResult.Ok(0);
        long ns = 0;
        int e = Pool.ExtentBlocks;
        for (long extent = lba / e; extent <= (lba + count - 1) / e; extent++)
        {
            ref long slot = ref Slot(extent);
            if (slot >= 0)
                continue;
            if (!Pool.TryAllocate(out long fresh))
            {
                Invalidate();
                return VolumeResult.Ok(ns);
            }
            VolumeResult r = CopyFromOrigin(extent, fresh);
            if (!r.IsSuccess)
            {
                Pool.Free(fresh);
                return r;
            }
            MapSlot(ref slot, fresh);
            ns += r.ServiceTimeNs;
        }
        return VolumeResult.Ok(ns);
    }

    internal override VolumeResult WriteCore(long lba, int count, ReadOnlySpan<byte> source) =>
        _invalid ? VolumeResult.Fail(VolumeStatus.MediaError) : WriteMapped(lba, count, source, zero: false);

    internal override VolumeResult ZeroCore(long lba, int count, bool deallocate) =>
        _invalid ? VolumeResult.Fail(VolumeStatus.MediaError) : WriteMapped(lba, count, default, zero: true);

    internal override VolumeResult FlushCore()
    {
        VolumeResult a = Pool.Backing.Flush();
        if (!a.IsSuccess)
            return a;
        VolumeResult b = Origin.Flush();
        return b.IsSuccess ? VolumeResult.Ok(Math.Max(a.ServiceTimeNs, b.ServiceTimeNs)) : b;
    }

    /// <summary>Extents not copied yet still read from the origin.</summary>
    private protected override VolumeResult ReadUnmapped(long lba, int count, Span<byte> destination) =>
        Origin.Read(lba, count, destination);

    /// <summary>The snapshot's own first write to an extent: copy the origin's data first, unless the write covers it all.</summary>
    private protected override VolumeResult PrepareExtent(long extent, long poolExtent, int offset, int count, long lba)
        => CoversExtent(offset, count, lba) ? VolumeResult.Ok(0) : CopyFromOrigin(extent, poolExtent);

    /// <summary>Copies origin extent <paramref name="extent"/> (as the origin holds it now) into pool extent <paramref name="poolExtent"/>.</summary>
    VolumeResult CopyFromOrigin(long extent, long poolExtent)
    {
        if (Origin.State == VolumeState.Failed)
            return VolumeResult.Fail(VolumeStatus.MediaError);
        long ns = 0;
        Span<byte> buffer = Pool.CopyBuffer;
        int step = buffer.Length / BlockSize;
        long first = extent * Pool.ExtentBlocks;
        long end = Math.Min(first + Pool.ExtentBlocks, BlockCount);
        long target = Pool.ExtentLba(poolExtent);
        for (long at = first; at < end; at += step)
        {
            int n = (int)Math.Min(step, end - at);
            Span<byte> piece = buffer[..(n * BlockSize)];
            VolumeResult r = Origin.ReadCore(at, n, piece);
            if (!r.IsSuccess)
                return r;
            VolumeResult w = Pool.Backing.Write(target + (at - first), n, piece);
            if (!w.IsSuccess)
                return w;
            ns += r.ServiceTimeNs + w.ServiceTimeNs;
        }
        return VolumeResult.Ok(ns);
    }

    void Invalidate()
    {
        _invalid = true;
        Log.SnapshotInvalidated(Logger, Name, Pool.Name);
        Release();
    }
}
