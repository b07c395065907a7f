using PcieVirt.Pci.Capabilities;
using static PcieVirt.Pci.Explain.FieldAccess;
using static PcieVirt.Pci.Explain.T;

namespace PcieVirt.Pci.Explain;

/// <summary>Fields of the Device Serial Number Extended Capability (register section by title in our spec notes).</summary>
public static class DeviceSerialNumberFields
{
    const string Section = "Device Serial Number Extended Capability";

    /// <summary>The table.</summary>
    public static readonly CapabilityTable Table = new(CapabilityIds.DeviceSerialNumber, true, "Device Serial Number", Section, ["dsn", "ecap_dsn"],
    [
        R("Serial Number Register (Lower DW)", "DSN_LO", 0x04, 4, Section,
            F(0, 31, "PCI Express Device Serial Number (1st DW)", RO, "Low half of a 64-bit number unique to this device (an EUI-64: the upper 24 bits of the full number are the maker's OUI).")),
        R("Serial Number Register (Upper DW)", "DSN_HI", 0x08, 4, Section,
            F(0, 31, "PCI Express Device Serial Number (2nd DW)", RO, "High half of the serial number; every function of a device reports the same number.")),
    ]);
}
