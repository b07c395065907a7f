using System.Globalization;
using PcieVirt.Fabric;

namespace PcieVirt.Platform.Model;

/// <summary>
/// Numbers as a model may write them: a JSON integer, or a string holding a decimal integer, a
/// <c>0x</c> hexadecimal integer, or a decimal with a binary size suffix (<c>16K</c>, <c>64KiB</c>,
/// <c>1M</c>, <c>4G</c>, <c>1T</c>). Underscores may separate digits (<c>0x8000_0000</c>).
/// </summary>
public static class ModelNumber
{
    /// <summary>Parses the string form; on failure <paramref name="error"/> says why.</summary>
    public static bool TryParse(string text, out ulong value, out string? error)
    {
        value = 0;
        error = null;
        var s = text.Trim();
        if (s.Length == 0)
        {
            error = "an empty string is not a number";
            return false;
        }
        if (s.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            var digits = s.AsSpan(2);
            if (!CheckDigits(digits, hex: true))
            {
                error = $"'{text}' is not a hexadecimal number";
                return false;
            }
            foreach (var ch in digits)
            {
                if (ch == '_') continue;
                int d = ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10;
                if (value > (ulong.MaxValue >> 4))
                {
                    error = $"'{text}' does not fit in 64 bits";
                    return false;
                }
                value = value << 4 | (uint)d;
            }
            return true;
        }

        int end = 0;
        while (end < s.Length && (char.IsAsciiDigit(s[end]) || s[end] == '_')) end++;
        var number = s.AsSpan(0, end);
        var suffix = s.AsSpan(end);
        if (end == 0 || !CheckDigits(number, hex: false))
        {
            error = $"'{text}' is not a number (write a decimal, 0x-hex, or a size such as 16K, 64KiB, 1M, 4G)";
            return false;
        }
        if (suffix.Length > 0 && suffix[0] == '.')
        {
            error = $"'{text}' is not an integer";
            return false;
        }
        if (!TrySuffixShift(suffix, out int shift))
        {
            error = $"'{text}' has an unknown size suffix '{suffix}' (use K, KiB, M, MiB, G, GiB, T or TiB; they are powers of 1024)";
            return false;
        }
        foreach (var ch in number)
        {
            if (ch == '_') continue;
            ulong d = (ulong)(ch - '0');
            if (value > (ulong.MaxValue - d) / 10)
            {
                error = $"'{text}' does not fit in 64 bits";
                return false;
            }
            value = value * 10 + d;
        }
        if (shift > 0 && value > ulong.MaxValue >> shift)
        {
            error = $"'{text}' does not fit in 64 bits";
            return false;
        }
        value <<= shift;
        return true;
    }

    // Digits with optional single underscores between them (not leading, trailing or doubled).
    static bool CheckDigits(ReadOnlySpan<char> digits, bool hex)
    {
        if (digits.Length == 0 || digits[0] == '_' || digits[^1] == '_') return false;
        for (int i = 0; i < digits.Length; i++)
        {
            char ch = digits[i];
            if (ch == '_')
            {
                if (digits[i - 1] == '_') return false;
                continue;
            }
            if (hex ? !char.IsAsciiHexDigit(ch) : !char.IsAsciiDigit(ch)) return false;
        }
        return true;
    }

    static bool TrySuffixShift(ReadOnlySpan<char> suffix, out int shift)
    {
        shift = 0;
        if (suffix.Length == 0) return true;
        // K and KiB mean the same (1024); the letters are case-insensitive. "KB" is refused as ambiguous.
        if (suffix.Length != 1 && !(suffix.Length == 3 && (suffix[1] | 0x20) == 'i' && (suffix[2] | 0x20) == 'b')) return false;
        shift = char.ToUpperInvariant(suffix[0]) switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, _ => -1 };
        return shift > 0;
    }

    /// <summary>
    /// Formats a byte count for messages: the largest binary unit that divides it exactly
    /// (<c>16 KiB</c>, <c>3 MiB</c>), else hexadecimal bytes.
    /// </summary>
    public static string FormatSize(ulong bytes)
    {
        if (bytes == 0) return "0 bytes";
        string[] units = ["TiB", "GiB", "MiB", "KiB"];
        int[] shifts = [40, 30, 20, 10];
        for (int i = 0; i < units.Length; i++)
        {
            ulong unit = 1UL << shifts[i];
            if (bytes >= unit && bytes % unit == 0)
                return string.Create(CultureInfo.InvariantCulture, $"{bytes >> shifts[i]} {units[i]}");
        }
        return bytes < 1024
            ? string.Create(CultureInfo.InvariantCulture, $"{bytes} bytes")
            : string.Create(CultureInfo.InvariantCulture, $"0x{bytes:x} bytes");
    }

    /// <summary>Formats an address as <c>0x…</c> hex.</summary>
    public static string Hex(ulong value) => string.Create(CultureInfo.InvariantCulture, $"0x{value:x}");

    /// <summary>
    /// Formats a non-empty range for messages as <c>[0xbase..0xlast]</c>, with the inclusive last
    /// address so that a range ending at 2^64 prints without overflow.
    /// </summary>
    public static string FormatRange(AddressRange range) => $"[{Hex(range.Base)}..{Hex(range.Limit)}]";
}
