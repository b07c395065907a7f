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
public sealed class SnapshotVolume : Volume
{
    readonly long[] _map;   // origin extent → pool extent holding the preserved/own copy, −1 while shared
    long _copied;
    bool _invalid;

    internal SnapshotVolume(int id, string name, Volume origin, ExtentPool pool, bool writable, ILogger logger)
        : base(id, name, origin.BlockSize, origin.BlockCount, logger)
    {
        Origin = origin;
        Pool = pool;
        IsWritable = writable;
        _map = new long[(origin.BlockCount + pool.ExtentBlocks - 1) / pool.ExtentBlocks];
        Array.Fill(_map, -1L);
    }

    /// <summary>The volume this is a snapshot of.</summary>
    public Volume Origin { get; }

    /// <summary>The pool holding the snapshot's copies of changed extents.</summary>
    public ExtentPool Pool { get; }

    /// <summary>True for a writable snapshot (a clone); false for a read-only point-in-time view.</summary>
    public bool IsWritable { get; }

    public override bool IsReadOnly => !IsWritable;

    public override bool IsThin => true;

    /// <summary>Blocks held in the snapshot's own extents (NUSE): extents copied so far.</summary>
    public override long AllocatedBlocks => Math.Min(BlockCount, _copied * Pool.ExtentBlocks);

    /// <summary>Extents copied into the pool so far.</summary>
    public long CopiedExtents => _copied;

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
            if (_map[extent] >= 0)
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
            _map[extent] = fresh;
            _copied++;
            ns += r.ServiceTimeNs;
        }
        return VolumeResult.Ok(ns);
    }

    internal override VolumeResult ReadCore(long lba, int count, Span<byte> destination)
    {
        long ns = 0;
        int e = Pool.ExtentBlocks;
        int done = 0;
        while (done < count)
        {
            long at = lba + done;
            int offset = (int)(at % e);
            int n = Math.Min(count - done, e - offset);
            long extent = _map[at / e];
            Span<byte> piece = destination.Slice(done * BlockSize, n * BlockSize);
            VolumeResult r = extent >= 0
                ? Pool.Backing.Read(Pool.ExtentLba(extent) + offset, n, piece)
                : Origin.Read(at, n, piece);
            if (!r.IsSuccess)
                return r;
            ns += r.ServiceTimeNs;
            done += n;
        }
        return VolumeResult.Ok(ns);
    }

    internal override VolumeResult WriteCore(long lba, int count, ReadOnlySpan<byte> source) =>
        Modify(lba, count, source, zero: false);

    internal override VolumeResult ZeroCore(long lba, int count, bool deallocate) =>
        Modify(lba, count, default, zero: true);

    internal override VolumeResult FlushCore()
    {
        VolumeResult a = Pool.Backing.Flush();
        if (!a.IsSuccess)
            return a;
        VolumeResult b = Origin.Flush();
        return b.IsSuccess ? VolumeResult.Ok(Math.Max(a.ServiceTimeNs, b.ServiceTimeNs)) : b;
    }

    /// <summary>Returns every extent to the pool (the snapshot is being deleted).</summary>
    internal void Release()
    {
        for (int i = 0; i < _map.Length; i++)
        {
            if (_map[i] >= 0)
            {
                Pool.Free(_map[i]);
                _map[i] = -1;
            }
        }
        _copied = 0;
    }

    VolumeResult Modify(long lba, int count, ReadOnlySpan<byte> source, bool zero)
    {
        if (_invalid)
            return VolumeResult.Fail(VolumeStatus.MediaError);
        long ns = 0;
        int e = Pool.ExtentBlocks;
        int done = 0;
        while (done < count)
        {
            long at = lba + done;
            int offset = (int)(at % e);
            int n = Math.Min(count - done, e - offset);
            ref long extent = ref _map[at / e];
            if (extent < 0)
            {
                if (!Pool.TryAllocate(out long fresh))
                {
                    Log.PoolExhausted(Logger, Name, Pool.Name, at);
                    return VolumeResult.Fail(VolumeStatus.CapacityExceeded);
                }
                // A write covering the whole extent needs no copy of the origin's data.
                bool whole = offset == 0 && (n == e || at + n == BlockCount);
                VolumeResult c = whole ? VolumeResult.Ok(0) : CopyFromOrigin(at / e, fresh);
                if (!c.IsSuccess)
                {
                    Pool.Free(fresh);
                    return c;
                }
                extent = fresh;
                _copied++;
                ns += c.ServiceTimeNs;
            }
            long target = Pool.ExtentLba(extent) + offset;
            VolumeResult r = zero
                ? Pool.Backing.WriteZeroes(target, n)
                : Pool.Backing.Write(target, n, source.Slice(done * BlockSize, n * BlockSize));
            if (!r.IsSuccess)
                return r;
            ns += r.ServiceTimeNs;
            done += n;
        }
        return VolumeResult.Ok(ns);
    }

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
