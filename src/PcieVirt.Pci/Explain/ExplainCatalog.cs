using PcieVirt.Pci.Functions;

namespace PcieVirt.Pci.Explain;

/// <summary>A register placed in one function: its table, absolute offset and the capability it belongs to (null for the header).</summary>
/// <param name="Table">The register's field table.</param>
/// <param name="At">Absolute config-space offset.</param>
/// <param name="Capability">The capability table, or null for a header register.</param>
public sealed record PlacedRegister(RegisterTable Table, int At, CapabilityTable? Capability);

/// <summary>
/// Every field table the explainer knows: the header tables and one table per capability type. To explain
/// a new capability, write its table (a static class next to the others) and list it here.
/// </summary>
public static class ExplainCatalog
{
    /// <summary>The capability tables.</summary>
    public static readonly IReadOnlyList<CapabilityTable> Capabilities =
    [
        PowerManagementFields.Table, MsiFields.Table, MsixFields.Table, PciExpressFields.Table,
        AerFields.Table, AcsFields.Table, AriFields.Table, DeviceSerialNumberFields.Table, SriovFields.Table,
    ];

    /// <summary>The table for capability <paramref name="id"/>, or null when none is written yet.</summary>
    public static CapabilityTable? Find(ushort id, bool extended)
    {
        foreach (var c in Capabilities) if (c.Id == id && c.Extended == extended) return c;
        return null;
    }

    /// <summary>A capability table by one of its names (case-insensitive: msix, exp, pcie, aer, sriov…).</summary>
    public static CapabilityTable? FindByName(string name)
    {
        foreach (var c in Capabilities)
            foreach (var a in c.Aliases)
                if (string.Equals(a, name, StringComparison.OrdinalIgnoreCase)) return c;
        return null;
    }

    /// <summary>The header register tables for a function's header layout.</summary>
    public static IEnumerable<RegisterTable> HeaderTables(PciFunction function) =>
        HeaderFields.Common.Concat(function.HeaderLayout == 0 ? HeaderFields.Type0 : HeaderFields.Type1);

    /// <summary>The header registers of <paramref name="function"/> that apply to it, in offset order.</summary>
    public static IEnumerable<PlacedRegister> HeaderRegisters(PciFunction function) =>
        HeaderTables(function).Where(t => t.AppliesTo(function, t.Offset)).Select(t => new PlacedRegister(t, t.Offset, null)).OrderBy(p => p.At);

    /// <summary>The registers of one installed capability that apply to the function.</summary>
    public static IEnumerable<PlacedRegister> CapabilityRegisters(PciFunction function, Capabilities.PciCapability capability)
    {
        var table = Find(capability.Id, capability.IsExtended);
        if (table == null) yield break;
        foreach (var r in table.Registers)
        {
            int at = capability.Offset + r.Offset;
            if (r.AppliesTo(function, at)) yield return new PlacedRegister(r, at, table);
        }
    }

    /// <summary>Every explained register of the function: header first, then each capability in list order.</summary>
    public static IEnumerable<PlacedRegister> AllRegisters(PciFunction function) =>
        HeaderRegisters(function).Concat(function.Capabilities.SelectMany(c => CapabilityRegisters(function, c)));
}
