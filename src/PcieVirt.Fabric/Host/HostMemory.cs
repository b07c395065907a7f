namespace PcieVirt.Fabric;

/// <summary>
/// The host's RAM as seen by DMA: one or more physical ranges (a PC leaves a hole below 4 GiB for
/// devices), stored sparsely in 4 KiB pages created on first write; untouched memory reads as zero.
/// </summary>
public sealed class HostMemory : IPhysicalMemory
{
    /// <summary>Page granularity of the sparse store.</summary>
    public const int PageSize = 4096;

    readonly Dictionary<ulong, byte[]> _pages = [];

    // A small direct-mapped cache of recently used pages in front of the dictionary: queues, PRP lists
    // and data buffers are reused, so most DMA hits it. Pages are never freed, so entries never go stale.
    const int CacheSlots = 64;
    readonly ulong[] _cacheTag = new ulong[CacheSlots];
    readonly byte[]?[] _cachePage = new byte[]?[CacheSlots];

    /// <summary>The page holding page number <paramref name="page"/>; created when <paramref name="create"/>, else null if untouched.</summary>
    byte[]? Page(ulong page, bool create)
    {
        int slot = (int)(page & (CacheSlots - 1));
        if (_cacheTag[slot] == page && _cachePage[slot] is { } hit) return hit;
        if (!_pages.TryGetValue(page, out var p))
        {
            if (!create) return null;
            p = new byte[PageSize];
            _pages.Add(page, p);
        }
        _cacheTag[slot] = page;
        _cachePage[slot] = p;
        return p;
    }

    readonly AddressRange[] _ranges;

    /// <summary>RAM at [0, <paramref name="size"/>).</summary>
    public HostMemory(ulong size) : this([new AddressRange(0, size)]) { }

    /// <summary>RAM in the given ranges (they must not overlap).</summary>
    public HostMemory(IReadOnlyList<AddressRange> ranges)
    {
        _ranges = [.. ranges];
        foreach (var r in _ranges) Size += r.Size;
    }

    /// <summary>Total bytes of RAM.</summary>
    public ulong Size { get; }

    /// <summary>The physical ranges that hold RAM.</summary>
    public IReadOnlyList<AddressRange> Ranges => _ranges;

    /// <summary>Number of pages that have been written (allocated).</summary>
    public int AllocatedPages => _pages.Count;

    /// <summary>True when [<paramref name="address"/>, +<paramref name="length"/>) is RAM.</summary>
    public bool Contains(ulong address, int length)
    {
        if (length < 0) return false;
        foreach (var r in _ranges)
            if (length == 0 ? r.Contains(address) : r.Contains(address, (ulong)length)) return true;
        return false;
    }

    /// <summary>Reads RAM; returns false (and leaves <paramref name="data"/> untouched) outside RAM.</summary>
    public bool Read(ulong address, Span<byte> data)
    {
        if (!Contains(address, data.Length)) return false;
        while (!data.IsEmpty)
        {
            ulong page = address / PageSize;
            int inPage = (int)(address % PageSize);
            int n = Math.Min(data.Length, PageSize - inPage);
            if (Page(page, create: false) is { } p) p.AsSpan(inPage, n).CopyTo(data);
            else data[..n].Clear();
            data = data[n..];
            address += (ulong)n;
        }
        return true;
    }

    static readonly byte[] ZeroPage = new byte[PageSize];

    /// <summary>
    /// The RAM at [<paramref name="address"/>, +<paramref name="length"/>) as one span to be written in
    /// place (the page is created if untouched); false when the range is not RAM or crosses a page.
    /// </summary>
    internal bool TryMapForWrite(ulong address, int length, out Span<byte> memory)
    {
        memory = default;
        int inPage = (int)(address % PageSize);
        if (length <= 0 || inPage + length > PageSize || !Contains(address, length)) return false;
        memory = Page(address / PageSize, create: true)!.AsSpan(inPage, length);
        return true;
    }

    /// <summary>As <see cref="TryMapForWrite"/> for reading; an untouched page reads as zeros without being created.</summary>
    internal bool TryMapForRead(ulong address, int length, out ReadOnlySpan<byte> memory)
    {
        memory = default;
        int inPage = (int)(address % PageSize);
        if (length <= 0 || inPage + length > PageSize || !Contains(address, length)) return false;
        memory = (Page(address / PageSize, create: false) ?? ZeroPage).AsSpan(inPage, length);
        return true;
    }

    /// <summary>Writes RAM; returns false (nothing written) outside RAM.</summary>
    public bool Write(ulong address, ReadOnlySpan<byte> data)
    {
        if (!Contains(address, data.Length)) return false;
        while (!data.IsEmpty)
        {
            ulong page = address / PageSize;
            int inPage = (int)(address % PageSize);
            int n = Math.Min(data.Length, PageSize - inPage);
            data[..n].CopyTo(Page(page, create: true)!.AsSpan(inPage, n));
            data = data[n..];
            address += (ulong)n;
        }
        return true;
    }
}
