namespace PcieVirt.Fabric;

/// <summary>
/// The host's RAM as seen by DMA: a flat physical range [0, <see cref="Size"/>) stored sparsely in
/// 4 KiB pages that are created on first write; untouched memory reads as zero.
/// </summary>
public sealed class HostMemory
{
    /// <summary>Page granularity of the sparse store.</summary>
    public const int PageSize = 4096;

    readonly Dictionary<ulong, byte[]> _pages = [];

    public HostMemory(ulong size) => Size = size;

    /// <summary>Bytes of RAM; accesses at or beyond it are outside memory.</summary>
    public ulong Size { get; }

    /// <summary>Number of pages that have been written (allocated).</summary>
    public int AllocatedPages => _pages.Count;

    /// <summary>True when [<paramref name="address"/>, +<paramref name="length"/>) is RAM.</summary>
    public bool Contains(ulong address, int length) =>
        length >= 0 && address <= Size && (ulong)length <= Size - address;

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
