using Microsoft.Extensions.Logging;

namespace PcieVirt.Devices.Raid;

/// <summary>
/// Base of the volumes whose blocks live in extents taken from an <see cref="ExtentPool"/> (thin volumes
/// and snapshots): the extent map, the per-extent walk of a request, reads of mapped extents, and writes
/// that map a fresh extent on first touch. What an unmapped extent reads as, and how a fresh extent is
/// filled before the write lands, is up to the derived volume.
/// </summary>
public abstract class ExtentMappedVolume : Volume
{
    readonly long[] _map;   // volume extent → pool extent, −1 while unmapped
    long _mapped;

    private protected ExtentMappedVolume(int id, string name, ExtentPool pool, int blockSize, long blockCount, ILogger logger)
        : base(id, name, blockSize, blockCount, logger)
    {
        Pool = pool;
        _map = new long[(blockCount + pool.ExtentBlocks - 1) / pool.ExtentBlocks];
        Array.Fill(_map, -1L);
    }

    /// <summary>The pool this volume's extents come from.</summary>
    public ExtentPool Pool { get; }

    public override bool IsThin => true;

    /// <summary>Blocks held in this volume's own extents (NUSE).</summary>
    public override long AllocatedBlocks => Math.Min(BlockCount, _mapped * Pool.ExtentBlocks);

    /// <summary>Extents of the pool mapped by this volume.</summary>
    private protected long MappedExtents => _mapped;

    /// <summary>Returns every extent to the pool (the volume is being deleted or invalidated).</summary>
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
        _mapped = 0;
    }

    internal sealed override VolumeResult ReadCore(long lba, int count, Span<byte> destination)
    {
        long ns = 0;
        var walk = new PieceWalk(lba, count, Pool.ExtentBlocks);
        while (walk.MoveNext())
        {
            Span<byte> piece = destination.Slice(walk.Done * BlockSize, walk.Length * BlockSize);
            long extent = _map[walk.Unit];
            VolumeResult r = extent >= 0
                ? Pool.Backing.Read(Pool.ExtentLba(extent) + walk.Offset, walk.Length, piece)
                : ReadUnmapped(walk.Lba, walk.Length, piece);
            if (!r.IsSuccess)
                return r;
            ns += r.ServiceTimeNs;
        }
        return VolumeResult.Ok(ns);
    }

    /// <summary>Reads [lba, lba + count), all inside one extent that has no pool extent mapped.</summary>
    private protected abstract VolumeResult ReadUnmapped(long lba, int count, Span<byte> destination);

    /// <summary>
    /// Fills freshly allocated pool extent <paramref name="poolExtent"/>, about to back volume extent
    /// <paramref name="extent"/>, outside the part [offset, offset + count) the pending write covers.
    /// </summary>
    private protected abstract VolumeResult PrepareExtent(long extent, long poolExtent, int offset, int count, long lba);

    /// <summary>
    /// Writes <paramref name="source"/> (or zeros when <paramref name="zero"/>) through the map, mapping a
    /// fresh pool extent (prepared by <see cref="PrepareExtent"/>) for each unmapped extent touched.
    /// A write needing an extent when the pool is empty fails with Capacity Exceeded.
    /// </summary>
    private protected VolumeResult WriteMapped(long lba, int count, ReadOnlySpan<byte> source, bool zero)
    {
        long ns = 0;
        var walk = new PieceWalk(lba, count, Pool.ExtentBlocks);
        while (walk.MoveNext())
        {
            ref long extent = ref _map[walk.Unit];
            if (extent < 0)
            {
                if (!Pool.TryAllocate(out long fresh))
                {
                    Log.PoolExhausted(Logger, Name, Pool.Name, walk.Lba);
                    return VolumeResult.Fail(VolumeStatus.CapacityExceeded);
                }
                VolumeResult p = PrepareExtent(walk.Unit, fresh, walk.Offset, walk.Length, walk.Lba);
                if (!p.IsSuccess)
                {
                    Pool.Free(fresh);
                    return p;
                }
                extent = fresh;
                _mapped++;
                ns += p.ServiceTimeNs;
            }
            long target = Pool.ExtentLba(extent) + walk.Offset;
            VolumeResult r = zero
                ? Pool.Backing.WriteZeroes(target, walk.Length)
                : Pool.Backing.Write(target, walk.Length, source.Slice(walk.Done * BlockSize, walk.Length * BlockSize));
            if (!r.IsSuccess)
                return r;
            ns += r.ServiceTimeNs;
        }
        return VolumeResult.Ok(ns);
    }

    /// <summary>The map slot of volume extent <paramref name="extent"/>: the pool extent, or −1 while unmapped.</summary>
    private protected ref long Slot(long extent) => ref _map[extent];

    /// <summary>Records that <paramref name="slot"/> now maps pool extent <paramref name="poolExtent"/>.</summary>
    private protected void MapSlot(ref long slot, long poolExtent)
    {
        slot = poolExtent;
        _mapped++;
    }

    /// <summary>Returns the pool extent in <paramref name="slot"/> to the pool and marks it unmapped.</summary>
    private protected void UnmapSlot(ref long slot)
    {
        Pool.Free(slot);
        slot = -1;
        _mapped--;
    }

    /// <summary>True if the piece [lba, lba + count), at <paramref name="offset"/> in its extent, covers the whole extent (the last extent may be cut short by the volume's end).</summary>
    private protected bool CoversExtent(int offset, int count, long lba) =>
        offset == 0 && (count == Pool.ExtentBlocks || lba + count == BlockCount);
}
