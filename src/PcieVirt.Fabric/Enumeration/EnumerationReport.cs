using System.Globalization;
using System.Text;

namespace PcieVirt.Fabric;

/// <summary>Which register a sized resource belongs to.</summary>
public enum BarRegister
{
    /// <summary>A Base Address Register of the header (§7.5.1.2.1).</summary>
    Bar,
    /// <summary>The Expansion ROM Base Address register (§7.5.1.2.4).</summary>
    ExpansionRom,
    /// <summary>A VF BAR of the SR-IOV capability: one range for all VFs (SR-IOV §9.3.3.14).</summary>
    VfBar,
}

/// <summary>Which host address space and bridge window a resource is placed in.</summary>
public enum ResourceKind
{
    /// <summary>I/O space; bridges forward it through the I/O window.</summary>
    Io,
    /// <summary>Memory below 4 GiB; bridges forward it through the (non-prefetchable) memory window.</summary>
    Memory,
    /// <summary>64-bit prefetchable memory; bridges forward it through the prefetchable window.</summary>
    PrefetchableMemory,
}

/// <summary>A function enumeration found.</summary>
public sealed record EnumeratedFunction(PciAddress Address, ushort VendorId, ushort DeviceId, uint ClassCode, byte HeaderType)
{
    public bool IsBridge => (HeaderType & 0x7F) == 1;
    public bool IsMultiFunction => (HeaderType & 0x80) != 0;
}

/// <summary>Bus numbers and windows enumeration programmed into a bridge.</summary>
public sealed record BridgeAssignment(PciAddress Address, byte PrimaryBus, byte SecondaryBus, byte SubordinateBus,
    AddressRange IoWindow, AddressRange MemoryWindow, AddressRange PrefetchableWindow);

/// <summary>
/// A sized BAR (or ROM, or VF BAR) and the address it was given. For a VF BAR, <see cref="Size"/>
/// covers all TotalVFs and <see cref="Alignment"/> is the per-VF size.
/// </summary>
public sealed record BarAssignment(PciAddress Address, BarRegister Register, int Index, int ConfigOffset,
    ResourceKind Kind, bool Is64Bit, bool Prefetchable, ulong Size, ulong Alignment, ulong Base, bool Assigned)
{
    public ulong Limit => Base + Size - 1;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Address} {Register}{(Register == BarRegister.ExpansionRom ? "" : Index.ToString(CultureInfo.InvariantCulture))} {Kind}{(Is64Bit ? " 64-bit" : "")} size 0x{Size:x} at {(Assigned ? $"0x{Base:x}" : "unassigned")}");
}

/// <summary>Something enumeration could not do (aperture too small, out of bus numbers, malformed BAR).</summary>
public sealed record EnumerationFailure(PciAddress? Function, string Message)
{
    public override string ToString() => Function is { } f ? $"{f}: {Message}" : Message;
}

/// <summary>What firmware enumeration found and programmed.</summary>
public sealed class EnumerationReport
{
    internal EnumerationReport(IReadOnlyList<EnumeratedFunction> functions, IReadOnlyList<BridgeAssignment> bridges,
        IReadOnlyList<BarAssignment> bars, IReadOnlyList<EnumerationFailure> failures, int lastBus)
    {
        Functions = functions;
        Bridges = bridges;
        Bars = bars;
        Failures = failures;
        LastBus = lastBus;
    }

    public IReadOnlyList<EnumeratedFunction> Functions { get; }
    public IReadOnlyList<BridgeAssignment> Bridges { get; }
    public IReadOnlyList<BarAssignment> Bars { get; }
    public IReadOnlyList<EnumerationFailure> Failures { get; }
    /// <summary>Highest bus number assigned (including reservations).</summary>
    public int LastBus { get; }
    public bool Succeeded => Failures.Count == 0;

    /// <summary>
    /// This report with the functions and BARs on buses <paramref name="firstBus"/>..<paramref name="lastBus"/>
    /// (a hot-plug slot) replaced by what a slot rescan found there; everything else is kept as it was.
    /// </summary>
    public EnumerationReport WithSlot(EnumerationReport slot, int firstBus, int lastBus)
    {
        bool InSlot(PciAddress a) => a.Bdf.Bus >= firstBus && a.Bdf.Bus <= lastBus;
        var functions = Functions.Where(f => !InSlot(f.Address)).Concat(slot.Functions).OrderBy(f => f.Address).ToList();
        var bars = Bars.Where(b => !InSlot(b.Address)).Concat(slot.Bars)
            .OrderBy(b => b.Address).ThenBy(b => b.ConfigOffset).ToList();
        return new EnumerationReport(functions, Bridges, bars, [.. Failures, .. slot.Failures], LastBus);
    }

    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{Functions.Count} functions, buses up to {LastBus:x2}, {Failures.Count} failures\n");
        foreach (var b in Bridges)
            sb.Append(CultureInfo.InvariantCulture,
                $"  {b.Address} bus {b.PrimaryBus:x2}->{b.SecondaryBus:x2}..{b.SubordinateBus:x2} io {b.IoWindow} mem {b.MemoryWindow} pref {b.PrefetchableWindow}\n");
        foreach (var bar in Bars) sb.Append("  ").Append(bar).Append('\n');
        foreach (var f in Failures) sb.Append("  failure: ").Append(f).Append('\n');
        return sb.ToString();
    }
}

/// <summary>Firmware policy knobs for <see cref="FirmwareEnumerator"/>.</summary>
public sealed record FirmwareEnumerationOptions
{
    /// <summary>Set Bus Master Enable on bridges and endpoints at the end.</summary>
    public bool EnableBusMaster { get; init; } = true;

    /// <summary>
    /// Enable ARI Forwarding in a downstream port that supports it when the device below has an ARI
    /// capability, and scan that device's functions through the ARI Next Function Number chain.
    /// </summary>
    public bool EnableAriForwarding { get; init; } = true;
}
