using PcieVirt.Hypervisor.Memory;

namespace PcieVirt.Hypervisor.Iommu;

/// <summary>
/// An IOMMU domain (VT-d rev. 5.10 §3.2 "Domains and Address Translation"): an I/O virtual address space, a second-stage
/// table from IOVA to host physical address with read/write permissions per 4 KiB page, shared by the functions
/// attached to it. Usually one per guest (the guest-physical addresses its assigned VFs use are the IOVAs).
/// </summary>
public sealed class IommuDomain
{
    internal const ulong ReadBit = 1, WriteBit = 2;
    internal const ulong FrameMask = 0x000F_FFFF_FFFF_F000;

    readonly Iommu _owner;
    readonly RadixPageTable _table = new();

    internal IommuDomain(Iommu owner, int id, string name, bool passThrough)
    {
        _owner = owner;
        Id = id;
        Name = name;
        IsPassThrough = passThrough;
    }

    /// <summary>Domain identifier (VT-d DID): the IOTLB tags its entries with it.</summary>
    public int Id { get; }

    /// <summary>Name for listings and logs.</summary>
    public string Name { get; }

    /// <summary>
    /// True for the pass-through (identity) domain of host-owned functions (VT-d §3.9; legacy context entry
    /// translation type 10b): IOVA = host address, no table walk and no IOTLB use. It cannot be mapped.
    /// </summary>
    public bool IsPassThrough { get; }

    /// <summary>Mapped 4 KiB pages.</summary>
    public long MappedPages => _table.PresentPages;

    /// <summary>
    /// Maps [<paramref name="iova"/>, +<paramref name="size"/>) to host [<paramref name="hpa"/>, +<paramref name="size"/>)
    /// with the given permissions (4 KiB aligned; at least one permission; no overlap with an existing mapping).
    /// </summary>
    public void Map(ulong iova, ulong hpa, ulong size, bool read = true, bool write = true)
    {
        if (IsPassThrough) throw new InvalidOperationException($"domain '{Name}' is pass-through: it has no table to map into");
        RadixPageTable.CheckRange(iova, size, $"domain '{Name}' map");
        if ((hpa & RadixPageTable.PageMask) != 0 || hpa > FrameMask || size - 1 > FrameMask - hpa)
            throw new ArgumentException($"domain '{Name}': host address 0x{hpa:x} must be 4 KiB aligned and the range inside 52 bits");
        if (!read && !write) throw new ArgumentException($"domain '{Name}': a mapping needs read or write permission (none is 'not present')");
        for (ulong off = 0; off < size; off += RadixPageTable.PageSize)
            if (_table.Lookup(iova + off) != 0)
                throw new InvalidOperationException($"domain '{Name}': IOVA 0x{iova + off:x} is already mapped; unmap it first");
        ulong flags = (read ? ReadBit : 0) | (write ? WriteBit : 0);
        for (ulong off = 0; off < size; off += RadixPageTable.PageSize) _table.Set(iova + off, flags | (hpa + off));
    }

    /// <summary>Unmaps [<paramref name="iova"/>, +<paramref name="size"/>) and invalidates the IOTLB entries of those pages.</summary>
    public void Unmap(ulong iova, ulong size)
    {
        if (IsPassThrough) throw new InvalidOperationException($"domain '{Name}' is pass-through: it has no table to unmap from");
        RadixPageTable.CheckRange(iova, size, $"domain '{Name}' unmap");
        for (ulong off = 0; off < size; off += RadixPageTable.PageSize) _table.Clear(iova + off);
        // Page-selective invalidation (VT-d §6.5.2.3 IOTLB Invalidate): software must flush after changing a present entry.
        _owner.InvalidateRange(this, iova, size);
    }

    /// <summary>True with the host address when <paramref name="iova"/> is mapped (no permission check, no IOTLB, no counting).</summary>
    public bool TryLookup(ulong iova, out ulong hpa, out bool read, out bool write)
    {
        ulong e = _table.Lookup(iova);
        hpa = e == 0 ? 0 : (e & FrameMask) | (iova & RadixPageTable.PageMask);
        read = (e & ReadBit) != 0;
        write = (e & WriteBit) != 0;
        return e != 0;
    }

    internal ulong Walk(ulong iova) => _table.Lookup(iova);

    /// <summary>One line per run of contiguous IOVA pages with the same permissions and contiguous host pages (for listings).</summary>
    public IEnumerable<string> DescribeMappings()
    {
        ulong start = 0, end = 0, first = 0;
        bool open = false;
        foreach (var (page, e) in _table.Present())
        {
            if (open && page == end && (e & ~FrameMask) == (first & ~FrameMask) && (e & FrameMask) - (first & FrameMask) == page - start)
            {
                end = page + RadixPageTable.PageSize;
                continue;
            }
            if (open) yield return Run(start, end, first);
            (start, end, first, open) = (page, page + RadixPageTable.PageSize, e, true);
        }
        if (open) yield return Run(start, end, first);
    }

    static string Run(ulong start, ulong end, ulong e) =>
        $"0x{start:x10}-0x{end - 1:x10} -> host 0x{e & FrameMask:x10} {((e & ReadBit) != 0 ? "r" : "-")}{((e & WriteBit) != 0 ? "w" : "-")}";

    /// <inheritdoc/>
    public override string ToString() => IsPassThrough ? $"{Name} (pass-through)" : $"{Name} (domain {Id}, {MappedPages} pages)";
}
