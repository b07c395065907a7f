using Microsoft.Extensions.Logging;

namespace PcieVirt.Devices.Raid;

/// <summary>
/// A thin-provisioned volume: a virtual size, with extents taken from an <see cref="ExtentPool"/> on first
/// write. Unallocated blocks read as zeros; a newly allocated extent is zeroed outside the written part
/// (so stale pool contents never show through); deallocating a whole extent returns it to the pool.
/// When the pool is exhausted a write that needs a new extent fails with Capacity Exceeded.
/// </summary>
public sealed class ThinVolume : ExtentMappedVolume
{
    internal ThinVolume(int id, string name, ExtentPool pool, long blockCount, ILogger logger)
        : base(id, name, pool, pool.Backing.BlockSize, blockCount, logger)
    {
    }

    /// <summary>Extents allocated to this volume.</summary>
    public long AllocatedExtents => MappedExtents;

    public override VolumeState State => Pool.Backing.State;

    internal override VolumeResult WriteCore(long lba, int count, ReadOnlySpan<byte> source) =>
        WriteMapped(lba, count, source, zero: false);

    internal override VolumeResult ZeroCore(long lba, int count, bool deallocate)
    {
        // Write Zeroes and Deallocate are the same here: whole extents go back to the pool, partial ones are zeroed.
        long ns = 0;
        int e = Pool.ExtentBlocks;
        var walk = new PieceWalk(lba, count, e);
        while (walk.MoveNext())
        {
            ref long extent = ref Slot(walk.Unit);
            if (extent >= 0)
            {
                bool whole = CoversExtent(walk.Offset, walk.Length, walk.Lba);
                VolumeResult r = whole
                    ? Pool.Backing.Deallocate(Pool.ExtentLba(extent), e)
                    : Pool.Backing.WriteZeroes(Pool.ExtentLba(extent) + walk.Offset, walk.Length);
                if (!r.IsSuccess)
                    return r;
                ns += r.ServiceTimeNs;
                if (whole)
                    UnmapSlot(ref extent);
            }
        }
        return VolumeResult.Ok(ns);
    }

    internal override VolumeResult FlushCore() => Pool.Backing.Flush();

    /// <summary>Unallocated blocks read as zeros.</summary>
    private protected override VolumeResult ReadUnmapped(long lba, int count, Span<byte> destination)
    {
        destination.Clear();
        return VolumeResult.Ok(0);
    }

    /// <summary>Zeroes the parts of the new extent this write does not cover: a freed extent may hold old data.</summary>
    private protected override VolumeResult PrepareExtent(long extent, long poolExtent, int offset, int count, long lba)
    {
        long start = Pool.ExtentLba(poolExtent);
        int e = Pool.ExtentBlocks;
        if (offset == 0 && count == e)
            return VolumeResult.Ok(0);
        VolumeResult head = offset > 0 ? Pool.Backing.WriteZeroes(start, offset) : VolumeResult.Ok(0);
        VolumeResult tail = offset + count < e ? Pool.Backing.WriteZeroes(start + offset + count, e - offset - count) : VolumeResult.Ok(0);
        if (!head.IsSuccess || !tail.IsSuccess)
            return head.IsSuccess ? tail : head;
        return VolumeResult.Ok(head.ServiceTimeNs + tail.ServiceTimeNs);
    }
}
