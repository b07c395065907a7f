using Microsoft.Extensions.Logging;

namespace PcieVirt.Devices.Raid;

/// <summary>
/// A thin-provisioned volume: a virtual size, with extents taken from an <see cref="ExtentPool"/> on first
/// write. Unallocated blocks read as zeros; a newly allocated extent is zeroed outside the written part
/// (so stale pool contents never show through); deallocating a whole extent returns it to the pool.
/// When the pool is exhausted a write that needs a new extent fails with Capacity Exceeded.
/// </summary>
public sealed class ThinVolume : Volume
{
    readonly long[] _map;   // virtual extent → pool extent, −1 when unallocated
    long _mapped;

    internal ThinVolume(int id, string name, ExtentPool pool, long blockCount, ILogger logger)
        : base(id, name, pool.Backing.BlockSize, blockCount, logger)
    {
        Pool = pool;
        _map = new long[(blockCount + pool.ExtentBlocks - 1) / pool.ExtentBlocks];
        Array.Fill(_map, -1L);
    }

    public ExtentPool Pool { get; }

    public override bool IsThin => true;

    /// <summary>Blocks backed by allocated extents (NUSE).</summary>
    public override long AllocatedBlocks => Math.Min(BlockCount, _mapped * Pool.ExtentBlocks);

    /// <summary>Extents allocated to this volume.</summary>
    public long AllocatedExtents => _mapped;

    public override VolumeState State => Pool.Backing.State;

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
            Span<byte> piece = destination.Slice(done * BlockSize, n * BlockSize);
            long extent = _map[at / e];
            if (extent < 0)
            {
                piece.Clear();
            }
            else
            {
                VolumeResult r = Pool.Backing.Read(Pool.ExtentLba(extent) + offset, n, piece);
                if (!r.IsSuccess)
                    return r;
                ns += r.ServiceTimeNs;
            }
            done += n;
        }
        return VolumeResult.Ok(ns);
    }

    internal override VolumeResult WriteCore(long lba, int count, ReadOnlySpan<byte> source)
    {
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
                VolumeResult a = Allocate(ref extent, offset, n, at);
                if (!a.IsSuccess)
                    return a;
                ns += a.ServiceTimeNs;
            }
            VolumeResult r = Pool.Backing.Write(Pool.ExtentLba(extent) + offset, n, source.Slice(done * BlockSize, n * BlockSize));
            if (!r.IsSuccess)
                return r;
            ns += r.ServiceTimeNs;
            done += n;
        }
        return VolumeResult.Ok(ns);
    }

    internal override VolumeResult ZeroCore(long lba, int count, bool deallocate)
    {
        // Write Zeroes and Deallocate are the same here: whole extents go back to the pool, partial ones are zeroed.
        long ns = 0;
        int e = Pool.ExtentBlocks;
        int done = 0;
        while (done < count)
        {
            long at = lba + done;
            int offset = (int)(at % e);
            int n = Math.Min(count - done, e - offset);
            ref long extent = ref _map[at / e];
            if (extent >= 0)
            {
                bool whole = offset == 0 && (n == e || at + n == BlockCount);
                VolumeResult r = whole
                    ? Pool.Backing.Deallocate(Pool.ExtentLba(extent), e)
                    : Pool.Backing.WriteZeroes(Pool.ExtentLba(extent) + offset, n);
                if (!r.IsSuccess)
                    return r;
                ns += r.ServiceTimeNs;
                if (whole)
                {
                    Pool.Free(extent);
                    extent = -1;
                    _mapped--;
                }
            }
            done += n;
        }
        return VolumeResult.Ok(ns);
    }

    internal override VolumeResult FlushCore() => Pool.Backing.Flush();

    /// <summary>Returns every extent to the pool (the volume is being deleted).</summary>
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

    VolumeResult Allocate(ref long extent, int offset, int n, long lba)
    {
        if (!Pool.TryAllocate(out long fresh))
        {
            Log.PoolExhausted(Logger, Name, Pool.Name, lba);
            return VolumeResult.Fail(VolumeStatus.CapacityExceeded);
        }
        // Zero the parts of the new extent this write does not cover: a freed extent may hold old data.
        long ns = 0;
        long start = Pool.ExtentLba(fresh);
        int e = Pool.ExtentBlocks;
        if (offset != 0 || n != e)
        {
            VolumeResult head = offset > 0 ? Pool.Backing.WriteZeroes(start, offset) : VolumeResult.Ok(0);
            VolumeResult tail = offset + n < e ? Pool.Backing.WriteZeroes(start + offset + n, e - offset - n) : VolumeResult.Ok(0);
            if (!head.IsSuccess || !tail.IsSuccess)
            {
                Pool.Free(fresh);
                return head.IsSuccess ? tail : head;
            }
            ns = head.ServiceTimeNs + tail.ServiceTimeNs;
        }
        extent = fresh;
        _mapped++;
        return VolumeResult.Ok(ns);
    }
}
