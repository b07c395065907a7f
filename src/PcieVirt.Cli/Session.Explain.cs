using System.Globalization;
using PcieVirt.Fabric;
using PcieVirt.Pci.Explain;
using PcieVirt.Pci.Functions;
using PcieVirt.PciUtils;

namespace PcieVirt.Cli;

// explain: a function's registers field by field, from the field tables in PcieVirt.Pci/Explain.
public sealed partial class Session
{
    internal const string ExplainUsage = """
        usage: explain BDF [REGISTER|CAPABILITY]
          REGISTER:   a setpci name (COMMAND, STATUS, BASE_ADDRESS_0, BRIDGE_CONTROL…), a capability and offset
                      as setpci writes it (CAP_EXP+8, ECAP_SRIOV+10, exp+8), a short name from the field tables
                      (DEVCTL, LNKSTA, NUM_VFS, VF_BAR0…), or a config offset (0x44)
          CAPABILITY: pm, msi, msix, pcie|exp, aer, acs, ari, dsn, sriov, or CAP_xx / ECAP_xx / CAPnn / ECAPnnn (hex ID)
          Without either: the header in brief, the capability list with offsets, and a VF's placement.
        """;

    /// <summary><c>explain BDF [REGISTER|CAPABILITY]</c>.</summary>
    int Explain(string[] args)
    {
        if (args.Length is < 1 or > 2)
        {
            _err.WriteLine(ExplainUsage);
            return 2;
        }
        if (!PciAddress.TryParse(args[0], out var address))
        {
            _err.WriteLine($"explain: '{args[0]}' is not a function address ([domain:]bus:device.function)");
            return 2;
        }
        var host = HostOf(address);
        var function = host?.RootComplex.FindFunction(address.Bdf);
        if (function == null)
        {
            _err.WriteLine($"explain: no function at {address.ToString(withDomain: true)}");
            return 1;
        }
        if (args.Length == 1)
        {
            Explainer.WriteSummary(_out, function);
            return 0;
        }
        return ExplainItem(function, args[1]);
    }

    int ExplainItem(PciFunction function, string what)
    {
        // A register by capability and offset, as setpci writes it: CAP_EXP+8, ECAP_SRIOV+10, sriov+0x10.
        int plus = what.IndexOf('+');
        if (plus > 0)
            return ExplainCapabilityOffset(function, what[..plus], what[(plus + 1)..], what);

        // A capability: by our names, by setpci's CAP_/ECAP_ names, or by number (CAP10, ECAP0010).
        if (ExplainCatalog.FindByName(what) is { } table)
            return ExplainCapability(function, table.Id, table.Extended, what);
        var named = SetpciRegisters.Find(what);
        if (named is { CapabilityId: >= 0 })
            return ExplainCapability(function, (ushort)named.CapabilityId, named.Extended, what);
        if (TryCapabilityNumber(what, out ushort capId, out bool ext))
            return ExplainCapability(function, capId, ext, what);

        // A register: setpci header names, the tables' short names, or an offset.
        var registers = ExplainCatalog.AllRegisters(function).ToList();
        List<PlacedRegister> hits;
        if (named != null)
        {
            var kind = function.HeaderLayout == 0 ? HeaderKinds.Normal : HeaderKinds.Bridge;
            if ((named.Headers & kind) == 0)
            {
                _err.WriteLine($"explain: {named.Name} is not a register of a Type {function.HeaderLayout} header");
                return 1;
            }
            hits = registers.FindAll(r => r.Capability == null && Overlaps(r, named.Offset, named.Width));
        }
        else if (TryOffset(what, out int offset))
        {
            if (offset >= Pci.Config.ConfigSpace.Size)
            {
                _err.WriteLine($"explain: offset 0x{offset:x} is outside the 4 KiB configuration space");
                return 2;
            }
            hits = registers.FindAll(r => Overlaps(r, offset, 1));
            if (hits.Count == 0)
            {
                _err.WriteLine($"explain: no explained register covers offset 0x{offset:x3} of {function.Bdf} (see 'explain {function.Bdf}' for the capability list)");
                return 1;
            }
        }
        else
        {
            hits = registers.FindAll(r => string.Equals(r.Table.Short, what, StringComparison.OrdinalIgnoreCase));
            if (hits.Count == 0)
            {
                bool known = ExplainCatalog.Capabilities.Any(c => c.Registers.Any(r => string.Equals(r.Short, what, StringComparison.OrdinalIgnoreCase)));
                _err.WriteLine(known
                    ? $"explain: {function.Bdf} has no {what.ToUpperInvariant()} register (its capability is absent or the register does not apply to this function)"
                    : $"explain: unknown register or capability '{what}'\n{ExplainUsage}");
                return known ? 1 : 2;
            }
        }
        _out.WriteLine($"{function.Bdf} {function.Name}");
        foreach (var r in hits)
        {
            _out.WriteLine();
            Explainer.WriteRegister(_out, function, r);
        }
        return 0;
    }

    int ExplainCapability(PciFunction function, ushort id, bool extended, string what)
    {
        var cap = function.FindCapability(id, extended);
        if (cap == null)
        {
            string name = ExplainCatalog.Find(id, extended)?.Name ?? (extended ? $"extended capability 0x{id:x4}" : $"capability 0x{id:x2}");
            _err.WriteLine($"explain: {function.Bdf} has no {name} capability ('{what}')");
            return 1;
        }
        Explainer.WriteCapability(_out, function, cap);
        return 0;
    }

    int ExplainCapabilityOffset(PciFunction function, string capName, string offsetText, string what)
    {
        ushort id;
        bool ext;
        if (ExplainCatalog.FindByName(capName) is { } t) (id, ext) = (t.Id, t.Extended);
        else if (SetpciRegisters.Find(capName) is { CapabilityId: >= 0 } n) (id, ext) = ((ushort)n.CapabilityId, n.Extended);
        else if (!TryCapabilityNumber(capName, out id, out ext))
        {
            _err.WriteLine($"explain: unknown capability '{capName}' in '{what}'\n{ExplainUsage}");
            return 2;
        }
        var digits = offsetText.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? offsetText[2..] : offsetText;
        if (!int.TryParse(digits, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int rel))
        {
            _err.WriteLine($"explain: '{offsetText}' in '{what}' is not a hex offset");
            return 2;
        }
        var cap = function.FindCapability(id, ext);
        if (cap == null)
        {
            _err.WriteLine($"explain: {function.Bdf} has no {ExplainCatalog.Find(id, ext)?.Name ?? $"capability 0x{id:x}"} capability ('{what}')");
            return 1;
        }
        if (rel >= cap.Length)
        {
            _err.WriteLine($"explain: offset 0x{rel:x} is beyond the {cap.Name} capability ({cap.Length} bytes)");
            return 1;
        }
        var hits = ExplainCatalog.CapabilityRegisters(function, cap).Where(r => Overlaps(r, cap.Offset + rel, 1)).ToList();
        if (hits.Count == 0)
        {
            _err.WriteLine($"explain: no explained register covers {cap.Name} +0x{rel:x} (the capability header, or a register without a table)");
            return 1;
        }
        _out.WriteLine($"{function.Bdf} {function.Name}");
        foreach (var r in hits)
        {
            _out.WriteLine();
            Explainer.WriteRegister(_out, function, r);
        }
        return 0;
    }

    static bool Overlaps(PlacedRegister r, int offset, int width) => r.At < offset + width && offset < r.At + r.Table.Width;

    static bool TryOffset(string text, out int offset)
    {
        offset = 0;
        var s = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? text[2..] : null;
        return s != null && int.TryParse(s, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out offset);
    }

    static bool TryCapabilityNumber(string text, out ushort id, out bool extended)
    {
        id = 0;
        extended = text.StartsWith("ECAP", StringComparison.OrdinalIgnoreCase);
        int skip = extended ? 4 : text.StartsWith("CAP", StringComparison.OrdinalIgnoreCase) ? 3 : -1;
        if (skip < 0) return false;
        var digits = text.AsSpan(skip).TrimStart('_');
        if (digits.StartsWith("0x", StringComparison.OrdinalIgnoreCase)) digits = digits[2..];
        return ushort.TryParse(digits, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out id)
            && (extended || id <= 0xFF);
    }
}
