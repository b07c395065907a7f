using System.Globalization;

namespace PcieVirt.PciUtils;

/// <summary>How IDs are shown: names only, numbers only (<c>-n</c>), or both (<c>-nn</c>).</summary>
public enum NameMode
{
    Names = 0,
    Numeric = 1,
    Both = 2,
}

/// <summary>
/// Turns IDs into the strings lspci prints, with pciutils' fallbacks for unknown IDs
/// ("Device 8086:fff0", "Intel Corporation Device fff0", "Class 0108", "Bridge [0680]").
/// </summary>
public sealed class PciNames(PciIdDatabase db, NameMode mode)
{
    public PciIdDatabase Database { get; } = db;
    public NameMode Mode { get; } = mode;

    static string H4(uint v) => v.ToString("x4", CultureInfo.InvariantCulture);

    /// <summary>Vendor and device, e.g. "Intel Corporation 82599ES ..." or "8086:10fb".</summary>
    public string VendorDevice(ushort vendor, ushort device) =>
        Pair(Database.Vendor(vendor), Database.Device(vendor, device), vendor, device);

    /// <summary>
    /// Subsystem of a device: the subsystem's vendor name and the subsystem name listed under the
    /// device; when the subsystem IDs equal the device's own IDs the device name stands in.
    /// </summary>
    public string Subsystem(ushort vendor, ushort device, ushort subVendor, ushort subDevice)
    {
        var name = Database.Subsystem(vendor, device, subVendor, subDevice);
        if (name == null && vendor == subVendor && device == subDevice) name = Database.Device(vendor, device);
        return Pair(Database.Vendor(subVendor), name, subVendor, subDevice);
    }

    string Pair(string? first, string? second, ushort id1, ushort id2)
    {
        var nums = $"{H4(id1)}:{H4(id2)}";
        if (Mode == NameMode.Numeric) return nums;
        string text = first == null ? "Device" : second == null ? first + " Device" : first + " " + second;
        if (Mode == NameMode.Both) return $"{text} [{nums}]";
        return first == null ? $"Device {nums}" : second == null ? $"{first} Device {H4(id2)}" : text;
    }

    /// <summary>Class name from the 16-bit base class + subclass.</summary>
    public string Class(ushort classCode)
    {
        var num = H4(classCode);
        if (Mode == NameMode.Numeric) return num;
        var sub = Database.SubClass((byte)(classCode >> 8), (byte)classCode);
        if (sub != null) return Mode == NameMode.Both ? $"{sub} [{num}]" : sub;
        var cls = Database.Class((byte)(classCode >> 8));
        if (cls != null) return $"{cls} [{num}]";
        return Mode == NameMode.Both ? $"Class [{num}]" : $"Class {num}";
    }

    /// <summary>
    /// Programming interface name (looked up whatever the numeric mode, as lspci does); null when
    /// unknown. IDE controllers (class 0101) fall back to decoding their mode bits.
    /// </summary>
    public string? ProgIf(ushort classCode, byte progIf)
    {
        var name = Database.ProgIf((byte)(classCode >> 8), (byte)classCode, progIf);
        if (name != null || classCode != 0x0101 || (progIf & 0x70) != 0) return name;
        var parts = new List<string>(5);
        if ((progIf & 0x80) != 0) parts.Add("Master");
        if ((progIf & 0x08) != 0) parts.Add("SecP");
        if ((progIf & 0x04) != 0) parts.Add("SecO");
        if ((progIf & 0x02) != 0) parts.Add("PriP");
        if ((progIf & 0x01) != 0) parts.Add("PriO");
        return string.Join(' ', parts);
    }
}
