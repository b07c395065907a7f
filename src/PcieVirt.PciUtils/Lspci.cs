using System.Globalization;
using PcieVirt.Fabric;

namespace PcieVirt.PciUtils;

/// <summary>
/// lspci (pciutils 3.9.0 output format) over one or more <see cref="IConfigAccessor"/>s. All
/// register contents come from configuration reads; BAR sizes and drivers come from
/// <see cref="IConfigAccessor.Describe"/> when a host provides them (a live lspci reads them from
/// sysfs), otherwise the output is what <c>lspci -F dump</c> prints for the same config bytes.
/// </summary>
public static partial class Lspci
{
    const string Usage =
        "Usage: lspci [<switches>]\n\n" +
        "Basic display modes:\n-t\t\tShow bus tree\n\n" +
        "Display options:\n-v\t\tBe verbose (-vv or -vvv for higher verbosity)\n-k\t\tShow kernel drivers handling each device\n" +
        "-x\t\tShow hex-dump of the standard part of the config space\n-xxx\t\tShow hex-dump of the whole config space\n" +
        "-xxxx\t\tShow hex-dump of the 4096-byte extended config space\n-D\t\tAlways show domain numbers\n\n" +
        "Resolving of device ID's to names:\n-n\t\tShow numeric ID's\n-nn\t\tShow both textual and numeric ID's (names & numbers)\n\n" +
        "Selection of devices:\n-s [[[[<domain>]:]<bus>]:][<slot>][.[<func>]]\tShow only devices in selected slots\n" +
        "-d [<vendor>]:[<device>][:<class>[:<prog-if>]]\tShow only devices with specified ID's\n\n" +
        "Other options:\n-i <file>\tUse specified ID database instead of the default pci.ids\n";

    /// <summary>
    /// Parses lspci-style arguments (bundled flags such as <c>-vvv</c>, <c>-nn</c>, <c>-xxx</c>;
    /// <c>-s</c>, <c>-d</c>, <c>-i</c> with attached or separate values) and prints the listing.
    /// Returns the exit code: 0 success, 1 bad usage, 2 a function could not be read.
    /// </summary>
    public static int Run(string[] args, IReadOnlyList<IConfigAccessor> hosts, TextWriter stdout, TextWriter stderr)
    {
        int verbose = 0, hex = 0, numeric = 0;
        bool tree = false, domains = false, kernel = false;
        string? slot = null, ids = null, idFile = null;
        for (int i = 0; i < args.Length; i++)
        {
            var a = args[i];
            if (a == "--version") { stdout.WriteLine("lspci version 3.9.0 (PcieVirt)"); return 0; }
            if (a.Length < 2 || a[0] != '-')
            {
                stderr.Write(Usage);
                return 1;
            }
            for (int k = 1; k < a.Length; k++)
            {
                char c = a[k];
                switch (c)
                {
                    case 'v': verbose++; break;
                    case 'x': hex++; break;
                    case 'n': numeric++; break;
                    case 't': tree = true; break;
                    case 'D': domains = true; break;
                    case 'k': kernel = true; break;
                    case 's' or 'd' or 'i':
                        string value;
                        if (k + 1 < a.Length) value = a[(k + 1)..];
                        else if (i + 1 < args.Length) value = args[++i];
                        else
                        {
                            stderr.WriteLine($"lspci: option requires an argument -- '{c}'");
                            stderr.Write(Usage);
                            return 1;
                        }
                        if (c == 's') slot = value; else if (c == 'd') ids = value; else idFile = value;
                        k = a.Length;
                        break;
                    default:
                        stderr.WriteLine($"lspci: invalid option -- '{c}'");
                        stderr.Write(Usage);
                        return 1;
                }
            }
        }
        var options = new LspciOptions
        {
            Tree = tree, Verbosity = Math.Min(verbose, 3), Hex = hex switch { 0 => 0, <= 2 => 1, 3 => 2, _ => 3 },
            Selector = slot, IdSelector = ids, Numeric = Math.Min(numeric, 2), Domains = domains, Kernel = kernel,
            IdFile = idFile,
        };
        return Write(options, hosts, stdout, stderr);
    }

    /// <summary>Prints the listing for already-parsed options; returns the exit code as <see cref="Run"/>.</summary>
    public static int Write(LspciOptions options, IReadOnlyList<IConfigAccessor> hosts, TextWriter stdout, TextWriter stderr)
    {
        var filter = new DeviceFilter();
        if (options.Selector != null && filter.ParseSlot(options.Selector) is { } e1)
        {
            stderr.WriteLine($"lspci: -s: {e1}");
            return 1;
        }
        if (options.IdSelector != null && filter.ParseId(options.IdSelector) is { } e2)
        {
            stderr.WriteLine($"lspci: -d: {e2}");
            return 1;
        }
        var names = new PciNames(PciIdDatabase.Open(options.IdFile), (NameMode)options.Numeric);
        var devices = Scan(hosts, stderr, out bool errors);
        var ctx = new Context(options, names, stdout, options.Domains || devices.Exists(d => d.Config.Address.Segment != 0));
        if (options.Tree)
            new TreeWriter(ctx, devices, filter.IsSet ? filter : null).Write();
        else
            foreach (var d in devices)
                if (Match(filter, d)) ShowDevice(ctx, d);
        return errors ? 2 : 0;
    }

    internal static bool Match(DeviceFilter f, Device d) =>
        f.Matches(d.Config.Address, d.VendorId, d.DeviceId, d.Config.ClassCode24);

    /// <summary>
    /// A function as lspci sees it. Its Vendor and Device IDs are those the OS presents (sysfs), which
    /// differ from the registers for an SR-IOV VF (registers read FFFFh; the OS shows the PF's Vendor ID and
    /// VF Device ID); without a description they are the registers, as <c>lspci -F</c> shows them.
    /// </summary>
    internal sealed record Device(ConfigImage Config, FunctionInfo? Info)
    {
        public ushort VendorId => Info?.PresentedVendorId ?? Config.VendorId;
        public ushort DeviceId => Info?.PresentedDeviceId ?? Config.DeviceId;
    }

    internal sealed record Context(LspciOptions Options, PciNames Names, TextWriter Out, bool ShowDomain)
    {
        public int Verbose => Options.Verbosity;
    }

    static List<Device> Scan(IReadOnlyList<IConfigAccessor> hosts, TextWriter stderr, out bool errors)
    {
        errors = false;
        var list = new List<Device>();
        var seen = new HashSet<PciAddress>();
        foreach (var host in hosts)
            foreach (var addr in host.Functions())
            {
                if (!seen.Add(addr)) continue;
                var img = ConfigImage.Read(host, addr);
                if (img == null)
                {
                    stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"lspci: Unable to read the standard configuration space header of device {addr.Segment:x4}:{addr.Bdf.Bus:x2}:{addr.Bdf.Device:x2}.{addr.Bdf.Function}"));
                    errors = true;
                    continue;
                }
                list.Add(new Device(img, host.Describe(addr)));
            }
        list.Sort((a, b) => a.Config.Address.CompareTo(b.Config.Address));
        return list;
    }

    internal static string SlotName(Context ctx, PciAddress a) =>
        (ctx.ShowDomain ? a.Segment.ToString("x4", CultureInfo.InvariantCulture) + ":" : "") + a.Bdf.ToString();

    static void ShowDevice(Context ctx, Device d)
    {
        var w = ctx.Out;
        if (ctx.Verbose > 0) DeviceWriter.ShowVerbose(ctx, d);
        else DeviceWriter.ShowTerse(ctx, d);
        if ((ctx.Options.Kernel || ctx.Verbose > 0) && d.Info?.Driver is { } drv)
            w.Write($"\tKernel driver in use: {drv}\n");
        if (ctx.Options.Hex > 0) HexDump(w, d.Config, ctx.Options.Hex);
        if (ctx.Verbose > 0 || ctx.Options.Hex > 0) w.Write('\n');
    }

    /// <summary>
    /// Writes a hex dump in lspci's format: 64 bytes (level 1; 128 for a CardBus bridge), 256
    /// (level 2) or 4096 (level 3, when the function has extended space). The output is valid
    /// input for <c>lspci -F</c>.
    /// </summary>
    public static void HexDump(TextWriter w, ConfigImage c, int level)
    {
        int cnt = c.HeaderLayout == 2 && c.Length >= 128 ? 128 : 64;
        if (level >= 2 && c.Length >= 256) cnt = 256;
        if (level >= 3 && c.Length >= 4096) cnt = 4096;
        var line = new char[4 + 16 * 3 + 1];
        for (int i = 0; i < cnt; i += 16)
        {
            int p = 0;
            WriteHex2(line, ref p, (byte)(i < 256 ? i : 0), i >= 256 ? i : -1);
            line[p++] = ':';
            for (int j = 0; j < 16; j++)
            {
                line[p++] = ' ';
                WriteHex2(line, ref p, c.U8(i + j), -1);
            }
            line[p++] = '\n';
            w.Write(line, 0, p);
        }

        static void WriteHex2(char[] buf, ref int p, byte b, int wide)
        {
            const string digits = "0123456789abcdef";
            if (wide >= 0)
            {
                // Offsets past 0xff print as three digits, as lspci's "%02x" does.
                buf[p++] = digits[(wide >> 8) & 0xF];
                buf[p++] = digits[(wide >> 4) & 0xF];
                buf[p++] = digits[wide & 0xF];
                return;
            }
            buf[p++] = digits[b >> 4];
            buf[p++] = digits[b & 0xF];
        }
    }
}
