using PcieVirt.Pci.Capabilities;
using static PcieVirt.Pci.Explain.FieldAccess;
using static PcieVirt.Pci.Explain.T;

namespace PcieVirt.Pci.Explain;

/// <summary>Fields of the PCI Power Management capability (§7.5.2).</summary>
public static class PowerManagementFields
{
    /// <summary>The table.</summary>
    public static readonly CapabilityTable Table = new(CapabilityIds.PowerManagement, false, "Power Management", "§7.5.2", ["pm", "cap_pm"],
    [
        R("Power Management Capabilities", "PMC", 0x02, 2, "§7.5.2.1",
            F(0, 2, "Version", RO, "Version of the PCI Power Management interface; 011b = 1.2."),
            B(3, "PME Clock", RO, "Conventional PCI only; 0 in PCIe."),
            B(4, "Immediate Readiness on Return to D0", RO, "Set when the function is ready at once after moving from D3hot to D0."),
            B(5, "Device Specific Initialization", RO, "Set when a driver must do device-specific setup after D0 before the generic driver may use it."),
            F(6, 8, "Aux_Current", RO, "Auxiliary (Vaux) current the function draws in D3cold, as a table code."),
            B(9, "D1_Support", RO, "The function supports the D1 state."),
            B(10, "D2_Support", RO, "The function supports the D2 state."),
            F(11, 15, "PME_Support", RO, "From which states (bit per D0, D1, D2, D3hot, D3cold) the function can send a PME message.")),
        R("Power Management Control/Status", "PMCSR", 0x04, 2, "§7.5.2.2",
            F(0, 1, "PowerState", RW, "The function's power state: 00b D0, 01b D1, 10b D2, 11b D3hot; a write of an unsupported state is ignored.",
                decode: v => $"D{v}" + (v == 3 ? "hot" : "")),
            B(3, "No_Soft_Reset", RO, "Set when D3hot→D0 keeps the configuration (no internal reset); clear means the function resets itself."),
            B(8, "PME_En", RW, "Allows the function to send PME messages; hardwired 0 without PME support. Sticky (RWS) when the function can signal PME from D3cold, since it keeps aux power.", Opt),
            F(9, 12, "Data_Select", RW, "Selects what the Data register reports; 0 when Data is not implemented.", Opt),
            F(13, 14, "Data_Scale", RO, "Scale of the Data register; 0 when Data is not implemented."),
            B(15, "PME_Status", RW1C, "Set when the function has signalled PME; write 1 to clear. Sticky (RW1CS) when the function can signal PME from D3cold.", Opt)),
        R("Bridge Support Extensions", "PMCSR_BSE", 0x06, 1, "§7.5.2.2",
            F(0, 7, "PMCSR_BSE", RO, "Bits 23:16 of the PMCSR dword: power extensions of conventional PCI bridges; 0 in PCIe.")),
        R("Data", "PM_DATA", 0x07, 1, "§7.5.2.3",
            F(0, 7, "Data", RO, "Optional power consumption/dissipation report chosen by Data_Select; 0 when not implemented.")),
    ]);
}
