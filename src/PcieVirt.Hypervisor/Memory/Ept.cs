using System.Text;

namespace PcieVirt.Hypervisor.Memory;

/// <summary>The access a guest makes to a guest-physical address.</summary>
public enum EptAccess
{
    /// <summary>A load (or an instruction fetch; this model does not separate execute permission).</summary>
    Read,
    /// <summary>A store.</summary>
    Write,
}

/// <summary>What a guest-physical access resolves to.</summary>
public enum EptResultKind
{
    /// <summary>Guest RAM backed by host RAM: the access goes to <see cref="EptTranslation.HostAddress"/> without an exit.</summary>
    Ram,
    /// <summary>An assigned device's BAR: the access goes to the device at the host address without an exit.</summary>
    MmioPassthrough,
    /// <summary>An emulated device's region: every access exits to the hypervisor (an EPT violation the VMM expects).</summary>
    MmioTrap,
    /// <summary>Not mapped, or a write to read-only RAM: an EPT violation the hypervisor did not plan for.</summary>
    Violation,
}

/// <summary>
/// Result of <see cref="Ept.Translate"/>. <see cref="HostAddress"/> is valid for Ram and MmioPassthrough;
/// <see cref="TrapRegion"/> and <see cref="RegionOffset"/> for MmioTrap (otherwise -1 and 0).
/// </summary>
public readonly record struct EptTranslation(EptResultKind Kind, ulong HostAddress, int TrapRegion, ulong RegionOffset);

/// <summary>An emulated MMIO region registered with <see cref="Ept.MapMmioTrap"/>.</summary>
public sealed record EptTrapRegion(int Id, string Name, ulong GuestAddress, ulong Size);

/// <summary>
/// A second-level (guest-physical to host-physical) translation table in the manner of Intel EPT (SDM
/// Vol. 3C, "The Extended Page Table Mechanism (EPT)"): 4 KiB pages in a 4-level radix table of 512-entry nodes. Each page is guest RAM (read
/// or read/write), a pass-through MMIO page of an assigned function, or a trap page of an emulated device
/// region. Translation walks the table (four array lookups) and allocates nothing.
/// </summary>
public sealed class Ept
{
    /// <summary>Page size of every mapping.</summary>
    public const ulong PageSize = RadixPageTable.PageSize;

    // Leaf entry layout (ours, modelled on EPT): bit 0 read, bit 1 write, bits 3:2 kind, bits 51:12 the
    // host frame (RAM, pass-through) or the trap region id (trap pages).
    const ulong ReadBit = 1, WriteBit = 2;
    const int KindShift = 2;
    const ulong KindMask = 3UL << KindShift;
    const ulong KindRam = 1UL << KindShift, KindPassthrough = 2UL << KindShift, KindTrap = 3UL << KindShift;
    const ulong FrameMask = 0x000F_FFFF_FFFF_F000;

    readonly RadixPageTable _table = new();
    readonly List<EptTrapRegion> _regions = [];

    /// <summary>Translations performed by <see cref="Translate"/>.</summary>
    public long Translations { get; private set; }

    /// <summary>Translations that ended in <see cref="EptResultKind.Violation"/>.</summary>
    public long Violations { get; private set; }

    /// <summary>Mapped 4 KiB pages of every kind.</summary>
    public long MappedPages => _table.PresentPages;

    /// <summary>Emulated regions, indexed by the id <see cref="MapMmioTrap"/> returned.</summary>
    public IReadOnlyList<EptTrapRegion> TrapRegions => _regions;

    /// <summary>Maps guest RAM [<paramref name="gpa"/>, +<paramref name="size"/>) onto host RAM at <paramref name="hpa"/>.</summary>
    public void MapRam(ulong gpa, ulong hpa, ulong size, bool writable = true) =>
        MapFrames(gpa, hpa, size, KindRam | ReadBit | (writable ? WriteBit : 0), "RAM");

    /// <summary>Maps an assigned function's BAR (host physical <paramref name="hpa"/>) into the guest: accesses reach the device without an exit.</summary>
    public void MapMmioPassthrough(ulong gpa, ulong hpa, ulong size) =>
        MapFrames(gpa, hpa, size, KindPassthrough | ReadBit | WriteBit, "MMIO pass-through");

    /// <summary>Registers an emulated region: every access to it exits. Returns the region id reported in translations.</summary>
    public int MapMmioTrap(ulong gpa, ulong size, string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        RadixPageTable.CheckRange(gpa, size, $"MMIO trap '{name}'");
        CheckFree(gpa, size, $"MMIO trap '{name}'");
        int id = _regions.Count;
        _regions.Add(new EptTrapRegion(id, name, gpa, size));
        for (ulong off = 0; off < size; off += PageSize)
            _table.Set(gpa + off, KindTrap | ((ulong)id << RadixPageTable.PageShift));
        return id;
    }

    /// <summary>Removes every mapping in [<paramref name="gpa"/>, +<paramref name="size"/>) (pages not mapped are ignored).</summary>
    public void Unmap(ulong gpa, ulong size)
    {
        RadixPageTable.CheckRange(gpa, size, "unmap");
        for (ulong off = 0; off < size; off += PageSize) _table.Clear(gpa + off);
    }

    /// <summary>
    /// Resolves a guest access. A write to a read-only RAM page and any access to an unmapped page are
    /// violations. Allocation-free.
    /// </summary>
    public EptTranslation Translate(ulong gpa, EptAccess access)
    {
        Translations++;
        ulong e = _table.Lookup(gpa);
        switch (e & KindMask)
        {
            case KindRam when access == EptAccess.Read || (e & WriteBit) != 0:
                return new EptTranslation(EptResultKind.Ram, (e & FrameMask) | (gpa & RadixPageTable.PageMask), -1, 0);
            case KindPassthrough:
                return new EptTranslation(EptResultKind.MmioPassthrough, (e & FrameMask) | (gpa & RadixPageTable.PageMask), -1, 0);
            case KindTrap:
                int id = (int)(e >> RadixPageTable.PageShift);
                return new EptTranslation(EptResultKind.MmioTrap, 0, id, gpa - _regions[id].GuestAddress);
            default:
                Violations++;
                return new EptTranslation(EptResultKind.Violation, 0, -1, 0);
        }
    }

    /// <summary>Host address of guest RAM at <paramref name="gpa"/>, without counting (the hypervisor's own accesses).</summary>
    internal bool TryRam(ulong gpa, bool write, out ulong hpa)
    {
        ulong e = _table.Lookup(gpa);
        if ((e & KindMask) == KindRam && (!write || (e & WriteBit) != 0))
        {
            hpa = (e & FrameMask) | (gpa & RadixPageTable.PageMask);
            return true;
        }
        hpa = 0;
        return false;
    }

    /// <summary>Sets <see cref="Translations"/> and <see cref="Violations"/> to zero.</summary>
    public void ResetCounters()
    {
        Translations = 0;
        Violations = 0;
    }

    /// <summary>
    /// One line per run of contiguous pages of the same kind and permissions (host addresses contiguous too),
    /// e.g. <c>0x0000000000-0x000fffffff  RAM rw  -> host 0x0100000000</c>. For teaching and debugging.
    /// </summary>
    public string Describe()
    {
        var sb = new StringBuilder();
        ulong runStart = 0, runEnd = 0, runEntry = 0;
        bool open = false;
        foreach (var (page, e) in _table.Present())
        {
            if (open && page == runEnd && Continues(runEntry, runStart, e, page))
            {
                runEnd = page + PageSize;
                continue;
            }
            if (open) AppendRun(sb, runStart, runEnd, runEntry);
            runStart = page;
            runEnd = page + PageSize;
            runEntry = e;
            open = true;
        }
        if (open) AppendRun(sb, runStart, runEnd, runEntry);
        else sb.AppendLine("(nothing mapped)");
        return sb.ToString();
    }

    static bool Continues(ulong first, ulong firstPage, ulong e, ulong page)
    {
        if ((first & ~FrameMask) != (e & ~FrameMask)) return false;
        if ((e & KindMask) == KindTrap) return (first & FrameMask) == (e & FrameMask);
        return (e & FrameMask) - (first & FrameMask) == page - firstPage;
    }

    void AppendRun(StringBuilder sb, ulong start, ulong end, ulong e)
    {
        sb.Append($"0x{start:x10}-0x{end - 1:x10}  ");
        switch (e & KindMask)
        {
            case KindRam:
                sb.Append((e & WriteBit) != 0 ? "RAM rw" : "RAM ro").Append($"  -> host 0x{e & FrameMask:x10}");
                break;
            case KindPassthrough:
                sb.Append($"MMIO pass-through  -> host 0x{e & FrameMask:x10}");
                break;
            default:
                var r = _regions[(int)(e >> RadixPageTable.PageShift)];
                sb.Append($"MMIO trap #{r.Id} '{r.Name}'  (exits)");
                break;
        }
        sb.AppendLine();
    }

    void MapFrames(ulong gpa, ulong hpa, ulong size, ulong flags, string what)
    {
        RadixPageTable.CheckRange(gpa, size, what);
        if ((hpa & RadixPageTable.PageMask) != 0 || hpa > FrameMask || size - 1 > FrameMask - hpa)
            throw new ArgumentException($"{what}: host address 0x{hpa:x} must be 4 KiB aligned and the range inside 52 bits");
        CheckFree(gpa, size, what);
        for (ulong off = 0; off < size; off += PageSize) _table.Set(gpa + off, flags | (hpa + off));
    }

    // All-or-nothing: a mapping over an existing one is a hypervisor bug, reported before anything changes.
    void CheckFree(ulong gpa, ulong size, string what)
    {
        for (ulong off = 0; off < size; off += PageSize)
        {
            ulong e = _table.Lookup(gpa + off);
            if (e != 0)
                throw new InvalidOperationException(
                    $"{what} at GPA [0x{gpa:x}, +0x{size:x}) overlaps an existing mapping at GPA 0x{gpa + off:x} ({KindName(e)}); unmap it first");
        }
    }

    string KindName(ulong e) => (e & KindMask) switch
    {
        KindRam => "RAM",
        KindPassthrough => "MMIO pass-through",
        _ => $"MMIO trap '{_regions[(int)(e >> RadixPageTable.PageShift)].Name}'",
    };
}
