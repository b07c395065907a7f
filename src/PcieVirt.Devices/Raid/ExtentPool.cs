namespace PcieVirt.Devices.Raid;

/// <summary>
/// A pool of fixed-size extents carved from a backing volume (normally a RAID volume kept internal to the
/// controller). Thin volumes allocate their extents here on first write, and snapshots keep the old
/// contents of extents they preserve here. Allocation is next-fit over a bitmap, so it is deterministic.
/// </summary>
public sealed class ExtentPool
{
    readonly ulong[] _used;
    long _cursor;
    byte[]? _copyBuffer;

    internal ExtentPool(string name, Volume backing, int extentBlocks)
    {
        Name = name;
        Backing = backing;
        ExtentBlocks = extentBlocks;
        ExtentCount = backing.BlockCount / extentBlocks;
        FreeExtents = ExtentCount;
        _used = new ulong[(ExtentCount + 63) / 64];
    }

    public string Name { get; }

    /// <summary>The volume whose blocks the extents are.</summary>
    public Volume Backing { get; }

    /// <summary>Extent size in blocks of the backing volume.</summary>
    public int ExtentBlocks { get; }

    /// <summary>Extent size in bytes.</summary>
    public long ExtentBytes => (long)ExtentBlocks * Backing.BlockSize;

    /// <summary>Extents in the pool.</summary>
    public long ExtentCount { get; }

    /// <summary>Extents not allocated to any thin volume or snapshot.</summary>
    public long FreeExtents { get; private set; }

    /// <summary>Extents in use.</summary>
    public long AllocatedExtents => ExtentCount - FreeExtents;

    /// <summary>Thin volumes and snapshots that take extents from this pool.</summary>
    public int Users { get; internal set; }

    internal bool TryAllocate(out long extent)
    {
        extent = -1;
        if (FreeExtents == 0)
            return false;
        for (long n = 0; n < ExtentCount; n++)
        {
            long e = (_cursor + n) % ExtentCount;
            ref ulong word = ref _used[e >> 6];
            ulong bit = 1UL << (int)(e & 63);
            if ((word & bit) == 0)
            {
                word |= bit;
                FreeExtents--;
                _cursor = e + 1;
                extent = e;
                return true;
            }
        }
        return false;
    }

    internal void Free(long extent)
    {
        ref ulong word = ref _used[extent >> 6];
        ulong bit = 1UL << (int)(extent & 63);
        if ((word & bit) != 0)
        {
            word &= ~bit;
            FreeExtents++;
        }
    }

    /// <summary>First backing-volume block of <paramref name="extent"/>.</summary>
    internal long ExtentLba(long extent) => extent * ExtentBlocks;

    /// <summary>Buffer for copying extents (snapshot copy-on-write), at most 256 KiB, allocated once.</summary>
    internal Span<byte> CopyBuffer
    {
        get
        {
            _copyBuffer ??= new byte[(int)Math.Min(ExtentBytes, 256 * 1024)];
            return _copyBuffer;
        }
    }
}
