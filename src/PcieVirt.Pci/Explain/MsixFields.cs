using PcieVirt.Pci.Capabilities;
using static PcieVirt.Pci.Explain.FieldAccess;
using static PcieVirt.Pci.Explain.T;

namespace PcieVirt.Pci.Explain;

/// <summary>Fields of the MSI-X capability (§7.7.2); the table and PBA themselves live in a BAR.</summary>
public static class MsixFields
{
    /// <summary>The table.</summary>
    public static readonly CapabilityTable Table = new(CapabilityIds.MsiX, false, "MSI-X", "§7.7.2", ["msix", "msi-x", "cap_msix"],
    [
        R("Message Control", "MSIX_CONTROL", 0x02, 2, "§7.7.2.2",
            F(0, 10, "Table Size", RO, "Number of table entries minus one.", decode: v => $"{v + 1} entries"),
            B(14, "Function Mask", RW, "Masks every vector of the function at once, whatever the per-entry mask bits say."),
            B(15, "MSI-X Enable", RW, "Turns MSI-X on (and INTx and MSI off).")),
        R("Table Offset/Table BIR", "MSIX_TABLE", 0x04, 4, "§7.7.2.3",
            F(0, 2, "Table BIR", RO, "Which BAR (0..5) holds the MSI-X table."),
            F(3, 31, "Table Offset", RO, "Offset of the table inside that BAR (QWORD aligned; the field holds bits 31:3).", decode: v => $"0x{v << 3:x}")),
        R("PBA Offset/PBA BIR", "MSIX_PBA", 0x08, 4, "§7.7.2.4",
            F(0, 2, "PBA BIR", RO, "Which BAR holds the Pending Bit Array."),
            F(3, 31, "PBA Offset", RO, "Offset of the PBA inside that BAR (the field holds bits 31:3).", decode: v => $"0x{v << 3:x}")),
    ]);
}
