namespace PcieVirt.Fabric;

/// <summary>
/// A range of host physical addresses (or I/O ports): <see cref="Base"/> and <see cref="Size"/> bytes.
/// A zero size means "not present" (e.g. a root complex without a 64-bit MMIO aperture).
/// </summary>
public readonly record struct AddressRange(ulong Base, ulong Size)
{
    /// <summary>The empty range.</summary>
    public static AddressRange None => default;

    public bool IsEmpty => Size == 0;

    /// <summary>Last address inside the range (meaningless when empty).</summary>
    public ulong Limit => Base + Size - 1;

    public bool Contains(ulong address) => address - Base < Size;

    /// <summary>True when [<paramref name="address"/>, +<paramref name="length"/>) lies entirely inside.</summary>
    public bool Contains(ulong address, ulong length) =>
        length != 0 && address - Base < Size && length <= Size - (address - Base);

    public bool Overlaps(AddressRange other) =>
        !IsEmpty && !other.IsEmpty && Base <= other.Limit && other.Base <= Limit;

    /// <summary>Builds a range from an inclusive limit.</summary>
    public static AddressRange FromLimit(ulong baseAddress, ulong limit) =>
        limit < baseAddress ? None : new AddressRange(baseAddress, limit - baseAddress + 1);

    public override string ToString() => IsEmpty ? "none" : $"[0x{Base:x}-0x{Limit:x}]";
}
