using PcieVirt.Pci.Capabilities;
using static PcieVirt.Pci.Explain.FieldAccess;
using static PcieVirt.Pci.Explain.T;

namespace PcieVirt.Pci.Explain;

/// <summary>Fields of the ARI Extended Capability (§6.13 for the rules; register section by title in our spec notes).</summary>
public static class AriFields
{
    const string Section = "§6.13, ARI Extended Capability";

    /// <summary>The table.</summary>
    public static readonly CapabilityTable Table = new(CapabilityIds.AlternativeRoutingId, true, "Alternative Routing-ID Interpretation", "§6.13", ["ari", "ecap_ari"],
    [
        R("ARI Capability", "ARICAP", 0x04, 2, Section,
            B(0, "MFVC Function Groups Capability", RO, "The device can group its functions for MFVC arbitration."),
            B(1, "ACS Function Groups Capability", RO, "The device can group its functions for ACS P2P egress control."),
            F(8, 15, "Next Function Number", RO, "Function number of the next function of this device in the ARI chain; 0 ends the chain. With ARI the device number is 0 and functions go up to 255.")),
        R("ARI Control", "ARICTL", 0x06, 2, Section,
            B(0, "MFVC Function Groups Enable", RW, "Arbitrate per function group.", Opt),
            B(1, "ACS Function Groups Enable", RW, "Apply ACS egress control per function group.", Opt),
            F(4, 6, "Function Group", RW, "Which group software put this function in.", Opt)),
    ]);
}
