using System.Globalization;
using PcieVirt.Fabric;

namespace PcieVirt.PciUtils;

/// <summary>
/// setpci (pciutils 3.9.0 command line and output) over <see cref="IConfigAccessor"/>s: reads and
/// writes of config registers named by offset, by setpci's register names, or relative to a
/// capability (<c>CAP_EXP+10.w</c>, <c>ECAP_SRIOV+10.w=4</c>), with <c>value:mask</c>
/// read-modify-write. Errors are reported as setpci words them, with exit code 1; nothing throws.
/// </summary>
public static class Setpci
{
    const string TryHelp = "Try `setpci --help' for more information.";

    const string Help =
        "Usage: setpci [<options>] (<device>+ <reg>[=<values>]*)*\n\n" +
        "General options:\n-f\t\tDon't complain if there's nothing to do\n-v\t\tBe verbose\n-D\t\tList changes, don't commit them\n" +
        "--dumpregs\tDump all known register names and exit\n\n" +
        "Setting commands:\n<device>:\t-s [[[<domain>]:][<bus>]:][<slot>][.[<func>]]\n\t|\t-d [<vendor>]:[<device>]\n" +
        "<reg>:\t\t<base>[+<offset>][.(B|W|L)][@<number>]\n<base>:\t\t<address>\n\t|\t<named-register>\n\t|\t[E]CAP_<capability-name>\n\t|\t[E]CAP<capability-number>\n" +
        "<values>:\t<value>[,<value>...]\n<value>:\t<hex>\n\t|\t<hex>:<mask>\n";

    sealed class UsageException(string message) : Exception(message);

    sealed record Value(uint Data, uint Mask);

    sealed record Op(string Text, SetpciRegister? Named, int Address, int Width, int Instance, Value[]? Values);

    sealed record Group(DeviceFilter Filter, List<Op> Ops);

    /// <summary>Runs setpci with the given arguments. Returns 0 on success, 1 on any error.</summary>
    public static int Run(string[] args, IReadOnlyList<IConfigAccessor> hosts, TextWriter stdout, TextWriter stderr)
    {
        if (args.Length == 1 && args[0] == "--version")
        {
            stdout.WriteLine("setpci version 3.9.0 (PcieVirt)");
            return 0;
        }
        if (args.Length == 1 && args[0] == "--dumpregs")
        {
            SetpciRegisters.Dump(stdout);
            return 0;
        }
        if (args.Length == 1 && args[0] == "--help")
        {
            stdout.Write(Help);
            return 0;
        }
        bool verbose = false, force = false, demo = false;
        List<Group> groups;
        try
        {
            int i = 0;
            for (; i < args.Length && args[i].StartsWith('-') && args[i].Length > 1; i++)
            {
                var a = args[i];
                if (a[1] is 's' or 'd') break;
                foreach (var c in a.AsSpan(1))
                {
                    if (c == 'v') verbose = true;
                    else if (c == 'f') force = true;
                    else if (c == 'D') demo = true;
                    else if (c == 'r') { }
                    else throw new UsageException($"Invalid option -{c}.");
                }
            }
            groups = Parse(args, i);
        }
        catch (UsageException e)
        {
            stderr.Write($"setpci: {e.Message}\n{TryHelp}\n");
            return 1;
        }

        var functions = new List<(PciAddress Address, IConfigAccessor Host)>();
        var seen = new HashSet<PciAddress>();
        foreach (var h in hosts)
            foreach (var a in h.Functions())
                if (seen.Add(a)) functions.Add((a, h));
        // libpci links each function it finds at the head of its device list and setpci does not sort,
        // so a group that selects several functions visits them in reverse discovery order. We discover
        // in bus order (as lspci lists them), so go from the highest address down.
        functions.Sort((x, y) => y.Address.CompareTo(x.Address));

        for (int g = 0; g < groups.Count; g++)
        {
            var group = groups[g];
            var selected = functions.FindAll(f => Matches(group.Filter, f.Host, f.Address));
            if (selected.Count == 0 && !force)
                stderr.Write($"setpci: Warning: No devices selected for operation group {g + 1}.\n");
            foreach (var (addr, host) in selected)
                foreach (var op in group.Ops)
                    if (!Execute(op, addr, host, verbose, demo, stdout, stderr)) return 1;
        }
        return 0;
    }

    static bool Matches(DeviceFilter f, IConfigAccessor host, PciAddress a)
    {
        if (!f.MatchesSlot(a)) return false;
        if (!f.NeedsIdentity) return true;
        host.Read(a, 0, 4, out var id);
        host.Read(a, 8, 4, out var cls);
        // An SR-IOV VF's ID registers read FFFFh; libpci matches the IDs the OS presents (sysfs).
        var info = host.Describe(a);
        return f.Matches(a, info?.PresentedVendorId ?? (ushort)id, info?.PresentedDeviceId ?? (ushort)(id >> 16), cls >> 8);
    }

    static List<Group> Parse(string[] args, int i)
    {
        var groups = new List<Group>();
        Group? current = null;
        bool lastWasFilter = false;
        for (; i < args.Length; i++)
        {
            var a = args[i];
            if (a.StartsWith('-'))
            {
                if (a.Length < 2 || a[1] is not ('s' or 'd')) throw new UsageException($"Invalid option {a}.");
                string value;
                if (a.Length > 2) value = a[2] == '=' ? a[3..] : a[2..];
                else if (i + 1 < args.Length) value = args[++i];
                else throw new UsageException($"Option {a} requires an argument.");
                if (!lastWasFilter)
                {
                    current = new Group(new DeviceFilter(), []);
                    groups.Add(current);
                }
                var err = a[1] == 's' ? current!.Filter.ParseSlot(value) : current!.Filter.ParseId(value);
                if (err != null) throw new UsageException($"Unable to parse filter -{a[1]} {err}.");
                lastWasFilter = true;
                continue;
            }
            if (current == null) throw new UsageException("Filter specification expected.");
            current.Ops.Add(ParseOp(a));
            lastWasFilter = false;
        }
        if (groups.Count == 0) throw new UsageException("No operation specified.");
        return groups;
    }

    /// <summary>
    /// Parses <c>REG[+OFF][.B|.W|.L][@N][=VALUE[:MASK][,…]]</c>. The text is split as setpci splits it
    /// (at <c>=</c>, then <c>@</c>, then <c>.</c>, then <c>+</c>), so the instance number comes last
    /// and is hexadecimal, and errors come in setpci's order and words.
    /// </summary>
    static Op ParseOp(string text)
    {
        string lhs = text;
        string? values = null;
        int eq = lhs.IndexOf('=');
        if (eq >= 0)
        {
            values = lhs[(eq + 1)..];
            lhs = lhs[..eq];
            if (values.Length == 0) throw new UsageException("Missing value.");
        }
        string? number = null;
        int at = lhs.IndexOf('@');
        if (at >= 0)
        {
            number = lhs[(at + 1)..];
            lhs = lhs[..at];
        }
        int width = 0;
        int dot = lhs.IndexOf('.');
        if (dot >= 0)
        {
            var ws = lhs[(dot + 1)..];
            lhs = lhs[..dot];
            if (ws.Length != 1) throw new UsageException($"Invalid width \"{ws}\".");
            width = char.ToUpperInvariant(ws[0]) switch
            {
                'B' => 1, 'W' => 2, 'L' => 4,
                _ => throw new UsageException($"Invalid width \"{ws}\"."),
            };
        }
        string? offsetText = null;
        int plus = lhs.IndexOf('+');
        if (plus >= 0)
        {
            offsetText = lhs[(plus + 1)..];
            lhs = lhs[..plus];
        }

        int instance = 0;
        if (number != null)
        {
            if (!TryHex(number, out var n) || n > int.MaxValue) throw new UsageException($"Invalid number \"{number}\".");
            instance = (int)n;
        }

        SetpciRegister? named = null;
        ulong address;
        if (lhs.Length > 0 && TryHex(lhs, out var num)) address = num;
        else
        {
            named = SetpciRegisters.Find(lhs) ?? NumberedCapability(lhs)
                ?? throw new UsageException($"Unknown register \"{lhs}\".");
            address = (ulong)named.Offset;
        }
        if (width == 0)
        {
            if (named == null || named.Width == 0) throw new UsageException("Missing width.");
            width = named.Width;
        }
        if (offsetText != null)
        {
            if (!TryHex(offsetText, out var o) || o > 0xFFF) throw new UsageException($"Invalid offset \"{offsetText}\".");
            address += o;
        }
        int count = values == null ? 1 : values.Split(',').Length;
        if (address >= 0x1000 || address + (ulong)(width * count) > 0x1000)
            throw new UsageException($"Register number {address.ToString("x2", CultureInfo.InvariantCulture)} out of range.");
        if ((address & (ulong)(width - 1)) != 0)
            throw new UsageException($"Unaligned register address {address.ToString("x2", CultureInfo.InvariantCulture)}.");

        Value[]? vals = null;
        if (values != null)
        {
            var parts = values.Split(',');
            vals = new Value[parts.Length];
            uint max = width == 4 ? uint.MaxValue : (1u << (8 * width)) - 1;
            for (int k = 0; k < parts.Length; k++)
            {
                var p = parts[k];
                string dataText = p, maskText = "";
                int colon = p.IndexOf(':');
                if (colon >= 0)
                {
                    dataText = p[..colon];
                    maskText = p[(colon + 1)..];
                }
                uint data = ParseValue(dataText, max, "Value", "value");
                uint mask = colon >= 0 ? ParseValue(maskText, max, "Mask", "mask") : max;
                // setpci keeps only the masked bits of the value (and shows it so with -v).
                vals[k] = new Value(data & mask, mask);
            }
        }
        return new Op(text, named, (int)address, width, instance, vals);
    }

    /// <summary><c>CAPnn</c> / <c>ECAPnnnn</c>: a capability named by its hexadecimal ID.</summary>
    static SetpciRegister? NumberedCapability(string name)
    {
        bool ext = name.StartsWith("ECAP", StringComparison.OrdinalIgnoreCase);
        if (!ext && !name.StartsWith("CAP", StringComparison.OrdinalIgnoreCase)) return null;
        var idText = name[(ext ? 4 : 3)..];
        if (idText.Length == 0 || !TryHex(idText, out var id) || id > (ext ? 0xFFFu : 0xFFu)) return null;
        return new SetpciRegister(name.ToUpperInvariant(), 0, 0, (int)id, ext, HeaderKinds.Any);
    }

    static uint ParseValue(string text, uint max, string upper, string lower)
    {
        if (!TryHex(text, out var v)) throw new UsageException($"Invalid {lower} \"{text}\".");
        // setpci accepts values that fit the width, and also "negative" 32-bit values (e.g. ffffffff
        // for a word), which it truncates.
        if (v > max && v < uint.MaxValue - max) throw new UsageException($"{upper} \"{text}\" is out of range.");
        return v & max;
    }

    static bool TryHex(string s, out uint value)
    {
        value = 0;
        if (s.StartsWith("0x", StringComparison.OrdinalIgnoreCase)) s = s[2..];
        return s.Length > 0 && uint.TryParse(s, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }

    static string Addr(PciAddress a) => string.Create(CultureInfo.InvariantCulture,
        $"{a.Segment:x4}:{a.Bdf.Bus:x2}:{a.Bdf.Device:x2}.{a.Bdf.Function}");

    static string Hex(uint v, int width) => v.ToString("x" + (2 * width).ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    /// <summary>
    /// Runs one operation on one function in setpci's order: with <c>-v</c> the slot, the capability
    /// found (<c>(cap 10 @60)</c> / <c>(ecap 0001 @100)</c>) and the register are printed before the
    /// checks that can still stop it, exactly as setpci traces them.
    /// </summary>
    static bool Execute(Op op, PciAddress addr, IConfigAccessor host, bool verbose, bool demo, TextWriter stdout, TextWriter stderr)
    {
        int address = op.Address;
        string slot = Addr(addr);
        if (verbose) stdout.Write($"{slot} ");
        if (op.Named is { CapabilityId: >= 0 } cap)
        {
            int pos = FindCapability(host, addr, cap.CapabilityId, cap.Extended, op.Instance, out int count);
            if (pos < 0)
            {
                var kind = cap.Extended ? "Extended capability" : "Capability";
                var why = count == 0 ? "there are no capabilities with that id"
                    : count == 1 ? "there is only 1 capability with that id" : $"there are only {count} capabilities with that id";
                stderr.Write($"setpci: {slot}: Instance #{op.Instance} of {kind} {cap.CapabilityId:x4} not found - {why}.\n");
                return false;
            }
            if (verbose)
                stdout.Write(cap.Extended
                    ? string.Create(CultureInfo.InvariantCulture, $"(ecap {cap.CapabilityId:x4} @{pos:x3}) ")
                    : string.Create(CultureInfo.InvariantCulture, $"(cap {cap.CapabilityId:x2} @{pos:x2}) "));
            address += pos;
        }
        if (verbose) stdout.Write($"@{address.ToString("x2", CultureInfo.InvariantCulture)}");
        if ((address & (op.Width - 1)) != 0)
        {
            stderr.Write($"setpci: {slot}: Unaligned access of width {op.Width} to register {address:x4}\n");
            return false;
        }
        if (address + op.Width > 0x1000)
        {
            stderr.Write($"setpci: {slot}: Access of width {op.Width} to register {address:x4} out of range\n");
            return false;
        }
        if (op.Named is { CapabilityId: < 0, Headers: not HeaderKinds.Any } reg)
        {
            host.Read(addr, 0xE, 1, out var ht);
            var kind = (ht & 0x7F) switch { 0 => HeaderKinds.Normal, 1 => HeaderKinds.Bridge, 2 => HeaderKinds.CardBus, _ => (HeaderKinds)0 };
            if ((reg.Headers & kind) == 0)
            {
                stderr.Write($"setpci: {slot}: Does not have register {reg.Name}.\n");
                return false;
            }
        }

        if (op.Values == null)
        {
            host.Read(addr, address, op.Width, out var v);
            stdout.Write(verbose ? $" = {Hex(v, op.Width)}\n" : $"{Hex(v, op.Width)}\n");
            return true;
        }
        uint full = op.Width == 4 ? uint.MaxValue : (1u << (8 * op.Width)) - 1;
        foreach (var val in op.Values)
        {
            if (val.Mask != full)
            {
                // VALUE:MASK is a read-modify-write: only the mask bits change.
                host.Read(addr, address, op.Width, out var old);
                uint next = (old & ~val.Mask) | val.Data;
                if (verbose) stdout.Write($" {Hex(old, op.Width)}->({Hex(val.Data, op.Width)}:{Hex(val.Mask, op.Width)})->{Hex(next, op.Width)}");
                if (!demo) host.Write(addr, address, op.Width, next);
            }
            else
            {
                if (verbose) stdout.Write($" {Hex(val.Data, op.Width)}");
                if (!demo) host.Write(addr, address, op.Width, val.Data);
            }
            address += op.Width;
        }
        if (verbose) stdout.Write('\n');
        return true;
    }

    /// <summary>Offset of instance <paramref name="instance"/> of a capability, or -1; <paramref name="count"/> = instances found.</summary>
    static int FindCapability(IConfigAccessor host, PciAddress addr, int id, bool extended, int instance, out int count)
    {
        count = 0;
        int found = -1;
        if (!extended)
        {
            host.Read(addr, 6, 2, out var status);
            if ((status & 0x10) == 0) return -1;
            host.Read(addr, 0x34, 1, out var ptr);
            int where = (int)ptr & ~3;
            var seen = new bool[256];
            while (where >= 0x40 && where < 0x100 && !seen[where])
            {
                seen[where] = true;
                host.Read(addr, where, 2, out var hdr);
                if ((hdr & 0xFF) == id && count++ == instance) found = where;
                where = (int)(hdr >> 8) & ~3;
            }
        }
        else
        {
            int where = 0x100;
            var seen = new bool[0x1000];
            while (where >= 0x100 && where < 0x1000 && !seen[where])
            {
                seen[where] = true;
                if (host.Read(addr, where, 4, out var hdr) != CompletionStatus.SuccessfulCompletion || hdr == 0 || hdr == uint.MaxValue) break;
                if ((hdr & 0xFFFF) == id && count++ == instance) found = where;
                where = (int)(hdr >> 20) & ~3;
            }
        }
        return found;
    }
}
