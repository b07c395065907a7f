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
            if (_pages.TryGetValue(page, out var p)) p.AsSpan(inPage, n).CopyTo(data);
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
        ulong page = address / PageSize;
        if (!_pages.TryGetValue(page, out var p))
        {
            p = new byte[PageSize];
            _pages.Add(page, p);
        }
        memory = p.AsSpan(inPage, length);
        return true;
    }

    /// <summary>As <see cref="TryMapForWrite"/> for reading; an untouched page reads as zeros without being created.</summary>
    internal bool TryMapForRead(ulong address, int length, out ReadOnlySpan<byte> memory)
    {
        memory = default;
        int inPage = (int)(address % PageSize);
        if (length <= 0 || inPage + length > PageSize || !Contains(address, length)) return false;
        memory = (_pages.TryGetValue(address / PageSize, out var p) ? p : ZeroPage).AsSpan(inPage, length);
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
            if (!_pages.TryGetValue(page, out var p))
            {
                p = new byte[PageSize];
                _pages.Add(page, p);
            }
            data[..n].CopyTo(p.AsSpan(inPage, n));
            data = data[n..];
            address += (ulong)n;
        }
        return true;
    }
}
