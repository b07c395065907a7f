namespace PcieVirt.PciUtils;

/// <summary>Header layouts a named register exists in (setpci refuses a name the function's header lacks).</summary>
[Flags]
public enum HeaderKinds
{
    Normal = 1,
    Bridge = 2,
    CardBus = 4,
    Any = Normal | Bridge | CardBus,
}

/// <summary>A named register or capability as setpci knows it (the table <c>setpci --dumpregs</c> prints).</summary>
/// <param name="Name">Upper-case name.</param>
/// <param name="Offset">Config offset (0 for capabilities: their position is found per function).</param>
/// <param name="Width">1, 2 or 4 bytes; 0 for capabilities (the width must be given).</param>
/// <param name="CapabilityId">-1 for a plain register, else the capability ID.</param>
/// <param name="Extended">True for an extended (PCIe) capability.</param>
/// <param name="Headers">Header layouts that have the register.</param>
public sealed record SetpciRegister(string Name, int Offset, int Width, int CapabilityId, bool Extended, HeaderKinds Headers);

/// <summary>setpci 3.9.0's register and capability names (facts from the PCI spec header layouts).</summary>
public static class SetpciRegisters
{
    static SetpciRegister R(int off, int w, string name, HeaderKinds h) => new(name, off, w, -1, false, h);
    static SetpciRegister C(int id, string name) => new(name, 0, 0, id, false, HeaderKinds.Any);
    static SetpciRegister E(int id, string name) => new(name, 0, 0, id, true, HeaderKinds.Any);

    const HeaderKinds N = HeaderKinds.Normal, B = HeaderKinds.Bridge, CB = HeaderKinds.CardBus, A = HeaderKinds.Any;

    /// <summary>All names, in setpci's order.</summary>
    public static readonly IReadOnlyList<SetpciRegister> All =
    [
        R(0x00, 2, "VENDOR_ID", A), R(0x02, 2, "DEVICE_ID", A), R(0x04, 2, "COMMAND", A), R(0x06, 2, "STATUS", A),
        R(0x08, 1, "REVISION", A), R(0x09, 1, "CLASS_PROG", A), R(0x0a, 2, "CLASS_DEVICE", A),
        R(0x0c, 1, "CACHE_LINE_SIZE", A), R(0x0d, 1, "LATENCY_TIMER", A), R(0x0e, 1, "HEADER_TYPE", A), R(0x0f, 1, "BIST", A),
        R(0x10, 4, "BASE_ADDRESS_0", N | B), R(0x14, 4, "BASE_ADDRESS_1", N | B), R(0x18, 4, "BASE_ADDRESS_2", N),
        R(0x1c, 4, "BASE_ADDRESS_3", N), R(0x20, 4, "BASE_ADDRESS_4", N), R(0x24, 4, "BASE_ADDRESS_5", N),
        R(0x28, 4, "CARDBUS_CIS", N), R(0x2c, 2, "SUBSYSTEM_VENDOR_ID", N), R(0x2e, 2, "SUBSYSTEM_ID", N),
        R(0x30, 4, "ROM_ADDRESS", N), R(0x34, 1, "CAPABILITIES", N | B), R(0x3c, 1, "INTERRUPT_LINE", N | B),
        R(0x3d, 1, "INTERRUPT_PIN", N | B), R(0x3e, 1, "MIN_GNT", N), R(0x3f, 1, "MAX_LAT", N),
        R(0x18, 1, "PRIMARY_BUS", B), R(0x19, 1, "SECONDARY_BUS", B), R(0x1a, 1, "SUBORDINATE_BUS", B),
        R(0x1b, 1, "SEC_LATENCY_TIMER", B), R(0x1c, 1, "IO_BASE", B), R(0x1d, 1, "IO_LIMIT", B), R(0x1e, 2, "SEC_STATUS", B),
        R(0x20, 2, "MEMORY_BASE", B), R(0x22, 2, "MEMORY_LIMIT", B), R(0x24, 2, "PREF_MEMORY_BASE", B),
        R(0x26, 2, "PREF_MEMORY_LIMIT", B), R(0x28, 4, "PREF_BASE_UPPER32", B), R(0x2c, 4, "PREF_LIMIT_UPPER32", B),
        R(0x30, 2, "IO_BASE_UPPER16", B), R(0x32, 2, "IO_LIMIT_UPPER16", B), R(0x38, 4, "BRIDGE_ROM_ADDRESS", B),
        R(0x3e, 2, "BRIDGE_CONTROL", B),
        R(0x10, 4, "CB_CARDBUS_BASE", CB), R(0x14, 2, "CB_CAPABILITIES", CB), R(0x16, 2, "CB_SEC_STATUS", CB),
        R(0x18, 1, "CB_BUS_NUMBER", CB), R(0x19, 1, "CB_CARDBUS_NUMBER", CB), R(0x1a, 1, "CB_SUBORDINATE_BUS", CB),
        R(0x1b, 1, "CB_CARDBUS_LATENCY", CB), R(0x1c, 4, "CB_MEMORY_BASE_0", CB), R(0x20, 4, "CB_MEMORY_LIMIT_0", CB),
        R(0x24, 4, "CB_MEMORY_BASE_1", CB), R(0x28, 4, "CB_MEMORY_LIMIT_1", CB), R(0x2c, 2, "CB_IO_BASE_0", CB),
        R(0x2e, 2, "CB_IO_BASE_0_HI", CB), R(0x30, 2, "CB_IO_LIMIT_0", CB), R(0x32, 2, "CB_IO_LIMIT_0_HI", CB),
        R(0x34, 2, "CB_IO_BASE_1", CB), R(0x36, 2, "CB_IO_BASE_1_HI", CB), R(0x38, 2, "CB_IO_LIMIT_1", CB),
        R(0x3a, 2, "CB_IO_LIMIT_1_HI", CB), R(0x40, 2, "CB_SUBSYSTEM_VENDOR_ID", CB), R(0x42, 2, "CB_SUBSYSTEM_ID", CB),
        R(0x44, 4, "CB_LEGACY_MODE_BASE", CB),
        C(0x01, "CAP_PM"), C(0x02, "CAP_AGP"), C(0x03, "CAP_VPD"), C(0x04, "CAP_SLOTID"), C(0x05, "CAP_MSI"),
        C(0x06, "CAP_CHSWP"), C(0x07, "CAP_PCIX"), C(0x08, "CAP_HT"), C(0x09, "CAP_VNDR"), C(0x0a, "CAP_DBG"),
        C(0x0b, "CAP_CCRC"), C(0x0c, "CAP_HOTPLUG"), C(0x0d, "CAP_SSVID"), C(0x0e, "CAP_AGP3"), C(0x0f, "CAP_SECURE"),
        C(0x10, "CAP_EXP"), C(0x11, "CAP_MSIX"), C(0x12, "CAP_SATA"), C(0x13, "CAP_AF"), C(0x14, "CAP_EA"),
        E(0x0001, "ECAP_AER"), E(0x0002, "ECAP_VC"), E(0x0003, "ECAP_DSN"), E(0x0004, "ECAP_PB"), E(0x0005, "ECAP_RCLINK"),
        E(0x0006, "ECAP_RCILINK"), E(0x0007, "ECAP_RCEC"), E(0x0008, "ECAP_MFVC"), E(0x0009, "ECAP_VC2"),
        E(0x000a, "ECAP_RBCB"), E(0x000b, "ECAP_VNDR"), E(0x000d, "ECAP_ACS"), E(0x000e, "ECAP_ARI"),
        E(0x000f, "ECAP_ATS"), E(0x0010, "ECAP_SRIOV"), E(0x0011, "ECAP_MRIOV"), E(0x0012, "ECAP_MCAST"),
        E(0x0013, "ECAP_PRI"), E(0x0015, "ECAP_REBAR"), E(0x0016, "ECAP_DPA"), E(0x0017, "ECAP_TPH"),
        E(0x0018, "ECAP_LTR"), E(0x0019, "ECAP_SECPCI"), E(0x001a, "ECAP_PMUX"), E(0x001b, "ECAP_PASID"),
        E(0x001c, "ECAP_LNR"), E(0x001d, "ECAP_DPC"), E(0x001e, "ECAP_L1PM"), E(0x001f, "ECAP_PTM"),
        E(0x0020, "ECAP_M_PCIE"), E(0x0021, "ECAP_FRS"), E(0x0022, "ECAP_RTR"), E(0x0023, "ECAP_DVSEC"),
        E(0x0024, "ECAP_VF_REBAR"), E(0x0025, "ECAP_DLNK"), E(0x0026, "ECAP_16GT"), E(0x0027, "ECAP_LMR"),
        E(0x0028, "ECAP_HIER_ID"), E(0x0029, "ECAP_NPEM"),
    ];

    static readonly Dictionary<string, SetpciRegister> ByName =
        All.ToDictionary(r => r.Name, StringComparer.OrdinalIgnoreCase);

    /// <summary>Looks a name up (case-insensitive).</summary>
    public static SetpciRegister? Find(string name) => ByName.GetValueOrDefault(name);

    /// <summary>Writes the table in <c>setpci --dumpregs</c> format.</summary>
    public static void Dump(TextWriter w)
    {
        w.Write("cap pos w name\n");
        foreach (var r in All)
        {
            string cap = r.CapabilityId < 0 ? "    " : r.Extended ? r.CapabilityId.ToString("x4") : "  " + r.CapabilityId.ToString("x2");
            char width = r.Width switch { 1 => 'B', 2 => 'W', 4 => 'L', _ => '-' };
            w.Write($"{cap} {r.Offset:x2} {width} {r.Name}\n");
        }
    }
}
