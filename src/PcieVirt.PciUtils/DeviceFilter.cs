using System.Globalization;
using PcieVirt.Fabric;

namespace PcieVirt.PciUtils;

/// <summary>
/// pciutils' device filter: <c>-s [[[[domain]:]bus]:][slot][.[func]]</c> and
/// <c>-d [vendor]:[device][:class[:prog-if]]</c>. Omitted or <c>*</c> components match anything.
/// </summary>
public sealed class DeviceFilter
{
    int _domain = -1, _bus = -1, _slot = -1, _func = -1;
    int _vendor = -1, _device = -1;
    int _class = -1, _classMask, _progIf = -1;

    /// <summary>True when any component was given.</summary>
    public bool IsSet { get; private set; }

    /// <summary>Parses a slot selector; returns pciutils' error text or null.</summary>
    public string? ParseSlot(string text)
    {
        IsSet = true;
        string str = text, mid = text;
        string? dotPart = null;
        int colon = str.LastIndexOf(':');
        if (colon >= 0)
        {
            var left = str[..colon];
            mid = str[(colon + 1)..];
            string bus = left;
            int colon2 = left.IndexOf(':');
            if (colon2 >= 0)
            {
                var dom = left[..colon2];
                bus = left[(colon2 + 1)..];
                if (bus.Contains(':')) return "Too many fields";
                if (IsGiven(dom))
                {
                    if (!TryHex(dom, 0x7fffffff, out _domain)) return "Invalid domain number";
                }
            }
            if (IsGiven(bus) && !TryHex(bus, 0xff, out _bus)) return "Invalid bus number";
        }
        int dot = mid.IndexOf('.');
        if (dot >= 0)
        {
            dotPart = mid[(dot + 1)..];
            mid = mid[..dot];
        }
        if (IsGiven(mid) && !TryHex(mid, 0x1f, out _slot)) return "Invalid slot number";
        if (dotPart != null && IsGiven(dotPart) && !TryHex(dotPart, 7, out _func)) return "Invalid function number";
        return null;
    }

    /// <summary>Parses an ID selector; returns pciutils' error text or null.</summary>
    public string? ParseId(string text)
    {
        IsSet = true;
        var parts = text.Split(':');
        if (parts.Length < 2) return "At least two fields must be given";
        if (parts.Length > 4) return "Too many fields";
        if (IsGiven(parts[0]) && !TryHex(parts[0], 0xffff, out _vendor)) return "Invalid vendor ID";
        if (IsGiven(parts[1]) && !TryHex(parts[1], 0xffff, out _device)) return "Invalid device ID";
        if (parts.Length >= 3 && IsGiven(parts[2]))
        {
            var c = parts[2];
            if (c.Length > 4) return "Invalid class code";
            int value = 0, mask = 0;
            foreach (var ch in c)
            {
                value <<= 4;
                mask <<= 4;
                if (ch is 'x' or 'X') continue;
                int nib = HexVal(ch);
                if (nib < 0) return "Invalid class code";
                value |= nib;
                mask |= 0xf;
            }
            // A short class code names the leading digits (e.g. "01" = base class 01).
            int shift = 4 * (4 - c.Length);
            _class = value << shift;
            _classMask = mask << shift;
        }
        if (parts.Length == 4 && IsGiven(parts[3]) && !TryHex(parts[3], 0xff, out _progIf))
            return "Invalid programming interface code";
        return null;
    }

    /// <summary>Slot-only match (no config access needed).</summary>
    public bool MatchesSlot(PciAddress a) =>
        (_domain < 0 || _domain == a.Segment) && (_bus < 0 || _bus == a.Bdf.Bus)
        && (_slot < 0 || _slot == a.Bdf.Device) && (_func < 0 || _func == a.Bdf.Function);

    /// <summary>Full match given the function's identity registers.</summary>
    public bool Matches(PciAddress a, ushort vendor, ushort device, uint classCode24)
    {
        if (!MatchesSlot(a)) return false;
        if (_vendor >= 0 && _vendor != vendor) return false;
        if (_device >= 0 && _device != device) return false;
        if (_class >= 0 && ((int)(classCode24 >> 8) & _classMask) != _class) return false;
        if (_progIf >= 0 && (classCode24 & 0xff) != _progIf) return false;
        return true;
    }

    /// <summary>Whether a filter on IDs is present (needs config reads to match).</summary>
    public bool NeedsIdentity => _vendor >= 0 || _device >= 0 || _class >= 0 || _progIf >= 0;

    static bool IsGiven(string s) => s.Length > 0 && s != "*";

    static int HexVal(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };

    static bool TryHex(string s, long max, out int value)
    {
        value = -1;
        if (!long.TryParse(s, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var v) || v > max) return false;
        value = (int)v;
        return true;
    }
}
