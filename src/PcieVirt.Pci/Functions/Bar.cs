namespace PcieVirt.Pci.Functions;

public enum BarKind : byte
{
    /// <summary>Not implemented: reads 0, ignores writes.</summary>
    None,
    Memory32,
    Memory64,
    Io,
}

/// <summary>
/// What a Base Address Register decodes (§7.5.1.2.1): its kind, whether it is prefetchable, and its
/// size (a power of two: ≥ 16 bytes for memory, 4..256 bytes for I/O).
/// </summary>
public sealed record BarDefinition(int Index, BarKind Kind, ulong Size, bool Prefetchable = false)
{
    public bool IsMemory => Kind is BarKind.Memory32 or BarKind.Memory64;
    public bool Is64Bit => Kind == BarKind.Memory64;

    /// <summary>Low type bits as they read in the BAR (bit 0 I/O, bits 2:1 type, bit 3 prefetchable).</summary>
    public uint TypeBits => Kind switch
    {
        BarKind.Io => 0x1,
        BarKind.Memory32 => Prefetchable ? 0x8u : 0x0u,
        BarKind.Memory64 => Prefetchable ? 0xCu : 0x4u,
        _ => 0,
    };

    /// <summary>Checks the definition; returns an error text or null.</summary>
    public string? Validate()
    {
        if (Index is < 0 or > 5) return "BAR index must be 0..5";
        if (Kind == BarKind.None) return null;
        if (Size == 0 || (Size & (Size - 1)) != 0) return "size must be a power of two";
        if (Kind == BarKind.Io && (Size < 4 || Size > 256)) return "an I/O BAR is 4 to 256 bytes";
        if (Kind != BarKind.Io && Size < 16) return "a memory BAR is at least 16 bytes";
        if (Kind == BarKind.Memory32 && Size > 0x8000_0000UL) return "a 32-bit memory BAR is at most 2 GiB";
        if (Kind == BarKind.Memory64 && Index == 5) return "a 64-bit BAR needs two registers; BAR5 cannot start one";
        if (Kind == BarKind.Io && Prefetchable) return "an I/O BAR cannot be prefetchable";
        return null;
    }
}

/// <summary>
/// A handler for a range inside a BAR (device registers, an MSI-X table, a PBA). Offsets are relative
/// to the region start. Accesses are 1, 2, 4 or 8 bytes.
/// </summary>
public interface IBarRegion
{
    void Read(ulong offset, Span<byte> data);
    void Write(ulong offset, ReadOnlySpan<byte> data);
}
