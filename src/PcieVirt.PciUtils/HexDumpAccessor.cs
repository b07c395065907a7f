using System.Globalization;
using PcieVirt.Fabric;
using PcieVirt.Pci;

namespace PcieVirt.PciUtils;

/// <summary>
/// A read/write <see cref="IConfigAccessor"/> over config bytes held in memory, loadable from the
/// text that <c>lspci -x/-xxx/-xxxx</c> prints (the format <c>lspci -F</c> reads). A function whose
/// dump stops at 256 bytes has no extended space: reads beyond complete with UR.
/// </summary>
public sealed class HexDumpAccessor(string name = "dump") : IConfigAccessor
{
    readonly SortedDictionary<PciAddress, (byte[] Bytes, int Length)> _functions = [];

    public string Name { get; } = name;

    /// <summary>Adds (or replaces) a function with the given config bytes (64–4096 bytes).</summary>
    public void Add(PciAddress address, ReadOnlySpan<byte> config)
    {
        var bytes = new byte[4096];
        config[..Math.Min(config.Length, 4096)].CopyTo(bytes);
        _functions[address] = (bytes, config.Length >= 4096 ? 4096 : config.Length >= 256 ? 256 : config.Length >= 128 ? 128 : 64);
    }

    /// <summary>Parses lspci hex-dump text ("bb:dd.f ..." header lines, then "off: xx xx ..." lines).</summary>
    public static HexDumpAccessor Parse(string text, string name = "dump")
    {
        var acc = new HexDumpAccessor(name);
        PciAddress? current = null;
        byte[] buf = new byte[4096];
        int max = 0;
        void Flush()
        {
            // Like libpci's dump reader: the function's config size is what the dump covers.
            if (current is { } a) acc.Add(a, buf.AsSpan(0, max > 256 ? 4096 : max > 128 ? 256 : max > 64 ? 128 : 64));
            buf = new byte[4096];
            max = 0;
        }
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Length == 0) continue;
            if (TryParseAddress(line, out var addr))
            {
                Flush();
                current = addr;
                continue;
            }
            int colon = line.IndexOf(':');
            if (current == null || colon < 2 || colon > 3) continue;
            if (!int.TryParse(line.AsSpan(0, colon), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var off)) continue;
            var parts = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            for (int i = 0; i < parts.Length && off + i < 4096; i++)
            {
                if (!byte.TryParse(parts[i], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var b)) break;
                buf[off + i] = b;
                max = Math.Max(max, off + i + 1);
            }
        }
        Flush();
        return acc;
    }

    static bool TryParseAddress(string line, out PciAddress address)
    {
        address = default;
        int sp = line.IndexOf(' ');
        var head = sp < 0 ? line : line[..sp];
        var parts = head.Split(':');
        ushort seg = 0;
        if (parts.Length == 3)
        {
            if (!ushort.TryParse(parts[0], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out seg)) return false;
            parts = parts[1..];
        }
        if (parts.Length != 2 || parts[0].Length != 2) return false;
        var df = parts[1].Split('.');
        if (df.Length != 2
            || !byte.TryParse(parts[0], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var bus)
            || !byte.TryParse(df[0], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var dev) || dev > 31
            || !byte.TryParse(df[1], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var fn) || fn > 7)
            return false;
        address = new PciAddress(seg, new Bdf(bus, dev, fn));
        return true;
    }

    public IReadOnlyList<PciAddress> Functions() => [.. _functions.Keys];

    public CompletionStatus Read(PciAddress address, int offset, int width, out uint value)
    {
        value = uint.MaxValue >> (32 - 8 * width);
        if (!_functions.TryGetValue(address, out var f) || offset + width > f.Length) return CompletionStatus.UnsupportedRequest;
        value = 0;
        for (int i = 0; i < width; i++) value |= (uint)f.Bytes[offset + i] << (8 * i);
        return CompletionStatus.SuccessfulCompletion;
    }

    public CompletionStatus Write(PciAddress address, int offset, int width, uint value)
    {
        if (!_functions.TryGetValue(address, out var f) || offset + width > f.Length) return CompletionStatus.UnsupportedRequest;
        for (int i = 0; i < width; i++) f.Bytes[offset + i] = (byte)(value >> (8 * i));
        return CompletionStatus.SuccessfulCompletion;
    }
}
