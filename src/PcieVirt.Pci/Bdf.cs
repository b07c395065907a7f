using System.Globalization;

namespace PcieVirt.Pci;

/// <summary>
/// A PCI Express routing ID (bus, device, function): the 16-bit value that names a function as a
/// requester or completer. With ARI the device number is folded into an 8-bit function number
/// (PCIe Base Spec §6.13), so <see cref="DevFn"/> is the natural "function number" there.
/// </summary>
public readonly struct Bdf : IEquatable<Bdf>, IComparable<Bdf>
{
    public Bdf(ushort routingId) => Value = routingId;

    public Bdf(int bus, int device, int function)
    {
        if ((uint)bus > 255) throw new ArgumentOutOfRangeException(nameof(bus));
        if ((uint)device > 31) throw new ArgumentOutOfRangeException(nameof(device));
        if ((uint)function > 7) throw new ArgumentOutOfRangeException(nameof(function));
        Value = (ushort)(bus << 8 | device << 3 | function);
    }

    /// <summary>The 16-bit routing ID (bus in bits 15:8, device 7:3, function 2:0).</summary>
    public ushort Value { get; }
    public byte Bus => (byte)(Value >> 8);
    public byte Device => (byte)((Value >> 3) & 0x1F);
    public byte Function => (byte)(Value & 0x7);
    /// <summary>Device and function as one byte; the function number under ARI.</summary>
    public byte DevFn => (byte)Value;

    public static Bdf FromBusDevFn(int bus, int devFn) => new((ushort)((bus & 0xFF) << 8 | (devFn & 0xFF)));

    /// <summary>Adds a routing-ID offset with 16-bit wrap, as the SR-IOV VF routing ID arithmetic does.</summary>
    public Bdf Offset(int delta) => new((ushort)(Value + delta));

    public bool Equals(Bdf other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is Bdf b && Equals(b);
    public override int GetHashCode() => Value;
    public int CompareTo(Bdf other) => Value.CompareTo(other.Value);
    public static bool operator ==(Bdf a, Bdf b) => a.Value == b.Value;
    public static bool operator !=(Bdf a, Bdf b) => a.Value != b.Value;

    /// <summary>Formats as lspci does: <c>bb:dd.f</c> in lower-case hex.</summary>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Bus:x2}:{Device:x2}.{Function:x1}");

    /// <summary>Parses <c>bb:dd.f</c> (hex), optionally prefixed by a <c>dddd:</c> domain which is ignored.</summary>
    public static bool TryParse(string text, out Bdf bdf)
    {
        bdf = default;
        var parts = text.Trim().Split(':');
        if (parts.Length == 3) parts = parts[1..];
        if (parts.Length != 2) return false;
        var df = parts[1].Split('.');
        if (df.Length != 2) return false;
        if (!int.TryParse(parts[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var bus) || bus > 255) return false;
        if (!int.TryParse(df[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var dev) || dev > 31) return false;
        if (!int.TryParse(df[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var fn) || fn > 7) return false;
        bdf = new Bdf(bus, dev, fn);
        return true;
    }

    public static Bdf Parse(string text) =>
        TryParse(text, out var b) ? b : throw new FormatException($"'{text}' is not a bus:device.function");
}
