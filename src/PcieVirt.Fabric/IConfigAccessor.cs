using System.Globalization;
using PcieVirt.Pci;

namespace PcieVirt.Fabric;

/// <summary>A function's address as software names it: PCI segment (domain) and routing ID.</summary>
public readonly record struct PciAddress(ushort Segment, Bdf Bdf) : IComparable<PciAddress>
{
    public int CompareTo(PciAddress other) =>
        Segment != other.Segment ? Segment.CompareTo(other.Segment) : Bdf.CompareTo(other.Bdf);

    /// <summary>lspci style: <c>bb:dd.f</c>, or <c>ssss:bb:dd.f</c> when asked for the domain.</summary>
    public string ToString(bool withDomain) => withDomain ? $"{Segment:x4}:{Bdf}" : Bdf.ToString();
    public override string ToString() => ToString(Segment != 0);

    /// <summary>Parses <c>[ssss:]bb:dd.f</c> (hexadecimal), as lspci prints addresses.</summary>
    public static bool TryParse(string text, out PciAddress address)
    {
        address = default;
        var parts = text.Split(':');
        if (parts.Length is < 2 or > 3) return false;
        ushort segment = 0;
        if (parts.Length == 3 && !ushort.TryParse(parts[0], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out segment)) return false;
        var df = parts[^1].Split('.');
        if (df.Length != 2
            || !byte.TryParse(parts[^2], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out byte bus)
            || !byte.TryParse(df[0], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out byte dev) || dev > 31
            || !byte.TryParse(df[1], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out byte fn) || fn > 7)
            return false;
        address = new PciAddress(segment, new Bdf(bus, dev, fn));
        return true;
    }
}

/// <summary>
/// What host software sees of a PCI hierarchy through its configuration mechanism (ECAM): the
/// functions that answer and their config registers. lspci, setpci and the host OS model use only
/// this, as real tools use only the kernel's config accessors.
/// </summary>
public interface IConfigAccessor
{
    /// <summary>Name of the host / root complex this view belongs to.</summary>
    string Name { get; }

    /// <summary>Functions that currently answer config requests, sorted by segment, bus, device, function.</summary>
    IReadOnlyList<PciAddress> Functions();

    /// <summary>A configuration read; a function that does not exist completes with UR and reads all ones.</summary>
    CompletionStatus Read(PciAddress address, int offset, int width, out uint value);

    /// <summary>A configuration write; ignored (UR) for a function that does not exist.</summary>
    CompletionStatus Write(PciAddress address, int offset, int width, uint value);

    /// <summary>
    /// What the host learned about a function at enumeration (BAR sizes, VF-ness, driver), as Linux
    /// shows it in sysfs; null when unknown (tools then know only config registers, like
    /// <c>lspci -F</c> reading a dump).
    /// </summary>
    FunctionInfo? Describe(PciAddress address) => null;
}
