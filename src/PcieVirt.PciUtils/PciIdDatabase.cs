using System.Collections.Concurrent;
using System.Globalization;

namespace PcieVirt.PciUtils;

/// <summary>
/// The PCI ID database (the <c>pci.ids</c> text format maintained by the PCI ID project): names of
/// vendors, devices, subsystems, device classes, subclasses and programming interfaces. Parsed once
/// per file and cached; an empty database stands in when no file exists, and then lspci-style names
/// fall back to numbers exactly as pciutils does without a database.
/// </summary>
public sealed class PciIdDatabase
{
    /// <summary>Where pciutils and distributions install pci.ids, searched in this order.</summary>
    public static readonly IReadOnlyList<string> DefaultPaths =
        ["/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids", "/usr/share/pci.ids"];

    static readonly ConcurrentDictionary<string, Lazy<PciIdDatabase>> Cache = new(StringComparer.Ordinal);
    static readonly Lazy<PciIdDatabase> DefaultDb = new(LoadDefault);

    readonly Dictionary<ushort, string> _vendors = [];
    readonly Dictionary<uint, string> _devices = [];
    readonly Dictionary<ulong, string> _subsystems = [];
    readonly Dictionary<byte, string> _classes = [];
    readonly Dictionary<ushort, string> _subclasses = [];
    readonly Dictionary<uint, string> _progIfs = [];

    PciIdDatabase(string? path) => SourcePath = path;

    /// <summary>An empty database (no names known).</summary>
    public static PciIdDatabase Empty { get; } = new(null);

    /// <summary>The file this database was read from, or null for the empty database.</summary>
    public string? SourcePath { get; }

    /// <summary>True when no names are known (no file was found).</summary>
    public bool IsEmpty => _vendors.Count == 0 && _classes.Count == 0;

    /// <summary>The database from the first existing default path (loaded lazily, once).</summary>
    public static PciIdDatabase Default => DefaultDb.Value;

    /// <summary>
    /// The database at <paramref name="path"/> (cached), or <see cref="Default"/> when null. A path
    /// that does not exist gives the empty database, as lspci <c>-i</c> with a missing file does.
    /// </summary>
    public static PciIdDatabase Open(string? path)
    {
        if (path == null) return Default;
        return Cache.GetOrAdd(Path.GetFullPath(path), p => new Lazy<PciIdDatabase>(() => LoadFile(p))).Value;
    }

    static PciIdDatabase LoadDefault()
    {
        foreach (var p in DefaultPaths)
            if (File.Exists(p)) return Open(p);
        return Empty;
    }

    static PciIdDatabase LoadFile(string path)
    {
        if (!File.Exists(path)) return Empty;
        using var reader = new StreamReader(path);
        return Parse(reader, path);
    }

    /// <summary>Parses pci.ids text. Malformed lines are skipped.</summary>
    public static PciIdDatabase Parse(TextReader reader, string? sourcePath = null)
    {
        var db = new PciIdDatabase(sourcePath);
        // Context of the nesting: a vendor (and device) or a class (and subclass).
        bool inClass = false, haveTop = false, haveMid = false;
        uint top = 0, mid = 0;
        string? line;
        while ((line = reader.ReadLine()) != null)
        {
            if (line.Length == 0 || line[0] == '#') continue;
            int tabs = 0;
            while (tabs < line.Length && line[tabs] == '\t') tabs++;
            var body = line.AsSpan(tabs).TrimEnd();
            if (body.Length == 0) continue;
            switch (tabs)
            {
                case 0:
                    haveMid = false;
                    if (body.Length > 2 && body[0] == 'C' && body[1] == ' ')
                    {
                        inClass = TryHex(body[2..], 2, out top, out var name);
                        haveTop = inClass;
                        if (inClass) db._classes[(byte)top] = name;
                    }
                    else
                    {
                        inClass = false;
                        // Other top-level sections (e.g. "X", "L") are not PCI vendors: 4 hex digits required.
                        haveTop = TryHex(body, 4, out top, out var name);
                        if (haveTop) db._vendors[(ushort)top] = name;
                    }
                    break;
                case 1 when haveTop:
                    if (inClass)
                    {
                        haveMid = TryHex(body, 2, out mid, out var name);
                        if (haveMid) db._subclasses[(ushort)(top << 8 | mid)] = name;
                    }
                    else
                    {
                        haveMid = TryHex(body, 4, out mid, out var name);
                        if (haveMid) db._devices[top << 16 | mid] = name;
                    }
                    break;
                case 2 when haveMid:
                    if (inClass)
                    {
                        if (TryHex(body, 2, out var pi, out var name))
                            db._progIfs[top << 16 | mid << 8 | pi] = name;
                    }
                    else if (body.Length > 10 && TryHexDigits(body[..4], out var sv) && body[4] == ' '
                             && TryHex(body[5..], 4, out var sd, out var name))
                    {
                        db._subsystems[SubsystemKey((ushort)top, (ushort)mid, (ushort)sv, (ushort)sd)] = name;
                    }
                    break;
            }
        }
        return db;
    }

    // "<digits> <spaces>name": the id is exactly `digits` hex characters followed by whitespace.
    static bool TryHex(ReadOnlySpan<char> s, int digits, out uint value, out string name)
    {
        value = 0;
        name = "";
        if (s.Length <= digits + 1 || s[digits] != ' ' || !TryHexDigits(s[..digits], out value)) return false;
        var rest = s[digits..].Trim();
        if (rest.Length == 0) return false;
        name = rest.ToString();
        return true;
    }

    static bool TryHexDigits(ReadOnlySpan<char> s, out uint value) =>
        uint.TryParse(s, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);

    static ulong SubsystemKey(ushort v, ushort d, ushort sv, ushort sd) =>
        (ulong)v << 48 | (ulong)d << 32 | (ulong)sv << 16 | sd;

    public string? Vendor(ushort vendor) => _vendors.GetValueOrDefault(vendor);
    public string? Device(ushort vendor, ushort device) => _devices.GetValueOrDefault((uint)vendor << 16 | device);
    public string? Subsystem(ushort vendor, ushort device, ushort subVendor, ushort subDevice) =>
        _subsystems.GetValueOrDefault(SubsystemKey(vendor, device, subVendor, subDevice));
    public string? Class(byte baseClass) => _classes.GetValueOrDefault(baseClass);
    public string? SubClass(byte baseClass, byte subClass) => _subclasses.GetValueOrDefault((ushort)(baseClass << 8 | subClass));
    public string? ProgIf(byte baseClass, byte subClass, byte progIf) =>
        _progIfs.GetValueOrDefault((uint)baseClass << 16 | (uint)subClass << 8 | progIf);
}
