namespace PcieVirt.Devices.Media;

/// <summary>
/// In-memory sparse storage: 64 KiB pages allocated on first write, untouched pages read as zeros, and
/// pages released again when a zeroing covers them whole. A two-level page directory keeps the index
/// small for multi-terabyte drives (one pointer array of 4,096 pages allocated per 256 MiB touched).
/// </summary>
public sealed class SparseMemoryStore : IBlockStore
{
    /// <summary>Page size in bytes.</summary>
    public const int PageSize = 64 * 1024;
    const int PageShift = 16;
    const int LeafShift = 12;                 // 4,096 pages per directory leaf
    const int LeafPages = 1 << LeafShift;

    readonly byte[]?[]?[] _directory;
    long _allocatedPages;

    public SparseMemoryStore(long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        Length = length;
        long pages = (length + PageSize - 1) >> PageShift;
        _directory = new byte[]?[]?[(pages + LeafPages - 1) >> LeafShift];
    }

    public long Length { get; }

    public long AllocatedBytes => _allocatedPages * PageSize;

    public void Read(long offset, Span<byte> destination)
    {
        while (!destination.IsEmpty)
        {
            long page = offset >> PageShift;
            int inPage = (int)(offset & (PageSize - 1));
            int n = Math.Min(destination.Length, PageSize - inPage);
            byte[]? data = _directory[page >> LeafShift]?[page & (LeafPages - 1)];
            if (data is null)
                destination[..n].Clear();
            else
                data.AsSpan(inPage, n).CopyTo(destination);
            destination = destination[n..];
            offset += n;
        }
    }

    public void Write(long offset, ReadOnlySpan<byte> source)
    {
        while (!source.IsEmpty)
        {
            long page = offset >> PageShift;
            int inPage = (int)(offset & (PageSize - 1));
            int n = Math.Min(source.Length, PageSize - inPage);
            byte[]?[] leaf = _directory[page >> LeafShift] ??= new byte[]?[LeafPages];
            ref byte[]? slot = ref leaf[page & (LeafPages - 1)];
            if (slot is null)
            {
                slot = new byte[PageSize];
                _allocatedPages++;
            }
            source[..n].CopyTo(slot.AsSpan(inPage, n));
            source = source[n..];
            offset += n;
        }
    }

    public void Zero(long offset, long length)
    {
        while (length > 0)
        {
            long page = offset >> PageShift;
            int inPage = (int)(offset & (PageSize - 1));
            int n = (int)Math.Min(length, PageSize - inPage);
            byte[]?[]? leaf = _directory[page >> LeafShift];
            if (leaf is not null)
            {
                ref byte[]? slot = ref leaf[page & (LeafPages - 1)];
                if (slot is not null)
                {
                    if (n == PageSize)
                    {
                        slot = null;
                        _allocatedPages--;
                    }
                    else
                    {
                        slot.AsSpan(inPage, n).Clear();
                    }
                }
            }
            offset += n;
            length -= n;
        }
    }

    public void Flush()
    {
    }

    public void Dispose()
    {
    }
}
