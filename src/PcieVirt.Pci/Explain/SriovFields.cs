using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Functions;
using static PcieVirt.Pci.Explain.FieldAccess;
using static PcieVirt.Pci.Explain.T;

namespace PcieVirt.Pci.Explain;

/// <summary>Fields of the SR-IOV Extended Capability (§9.3.3), every register.</summary>
public static class SriovFields
{
    const int VfBar0 = 0x24;

    static bool IsUpperHalf(PciFunction f, int at) =>
        at - 4 >= 0 && IsVfBar(at - 4, f) && !IsUpperHalf(f, at - 4) && (f.Config.Bytes[at - 4] & 0x6) == 0x4;

    // True when `at` is one of VF BAR0..5 of the function's SR-IOV capability.
    static bool IsVfBar(int at, PciFunction f) =>
        f.FindCapability<SriovCapability>() is { } s && at >= s.Offset + VfBar0 && at < s.Offset + VfBar0 + 24;

    static IEnumerable<RegisterTable> VfBar(int i)
    {
        string name = $"VF BAR{i}", shortName = $"VF_BAR{i}";
        int rel = VfBar0 + 4 * i;
        yield return R(name, shortName, rel, 4, "§9.3.3.14",
            B(0, "Memory Space Indicator", RO, "0: VF BARs are memory BARs only."),
            F(1, 2, "Type", RO, "00b = 32-bit, 10b = 64-bit (this and the next VF BAR form the address).",
                decode: v => v switch { 0 => "32-bit", 2 => "64-bit", _ => "reserved" }),
            B(3, "Prefetchable", RO, "The VFs' regions may be prefetched."),
            F(4, 31, "Base Address", RW, "Base of VF 1's region; VF n's is this + (n-1) × the per-VF size. The per-VF size is max(declared size, System Page Size); sizing reads back that size. Reads 0 when not implemented.", Partial))
            with { When = (f, at) => !IsUpperHalf(f, at) };
        yield return R(name, shortName, rel, 4, "§9.3.3.14",
            F(0, 31, "Base Address (upper 32 bits)", RW, "Bits 63:32 of the 64-bit VF BAR that starts in the previous register.", Partial))
            with { When = IsUpperHalf };
    }

    /// <summary>The table.</summary>
    public static readonly CapabilityTable Table = new(CapabilityIds.SingleRootIov, true, "Single Root I/O Virtualization", "§9.3.3", ["sriov", "sr-iov", "ecap_sriov"],
    [
        R("SR-IOV Capabilities", "SRIOV_CAP", 0x04, 4, "§9.3.3.2",
            B(0, "VF Migration Capable", RO, "The PF supports VF migration (MR-IOV); 0 in single-root use."),
            B(1, "ARI Capable Hierarchy Preserved", RO, "ARI Capable Hierarchy survives power state changes (lowest-numbered PF only)."),
            B(2, "VF 10-Bit Tag Requester Supported", RO, "The VFs can issue requests with 10-bit tags."),
            F(21, 31, "VF Migration Interrupt Message Number", RO, "MSI/MSI-X vector for VF migration events.")),
        R("SR-IOV Control", "SRIOV_CTL", 0x08, 2, "§9.3.3.3",
            B(0, "VF Enable", RW, "Creates NumVFs VFs (they appear at PF + First VF Offset + (n-1) × VF Stride); clearing it destroys them and all their state."),
            B(1, "VF Migration Enable", RW, "Enables VF migration; hardwired 0 without VF Migration Capable.", Opt),
            B(2, "VF Migration Interrupt Enable", RW, "Interrupt on VF migration state changes.", Opt),
            B(3, "VF MSE", RW, "Memory Space Enable for all the VFs at once: their BARs decode only while this is set (a VF has no Memory Space Enable of its own)."),
            B(4, "ARI Capable Hierarchy", RW, "Tells the device that ARI forwarding is on above it, so VFs may use function numbers 8..255 (changes First VF Offset and VF Stride). Only in the lowest-numbered PF; locked while any PF has VF Enable set.", Opt),
            B(5, "VF 10-Bit Tag Requester Enable", RW, "Lets the VFs use 10-bit tags.", Opt)),
        R("SR-IOV Status", "SRIOV_STA", 0x0A, 2, "§9.3.3.4",
            B(0, "VF Migration Status", RW1C, "A VF migration request is waiting.", Opt)),
        R("InitialVFs", "INITIAL_VFS", 0x0C, 2, "§9.3.3.5",
            F(0, 15, "InitialVFs", HwInit, "VFs initially associated with the PF; equals TotalVFs without VF migration.")),
        R("TotalVFs", "TOTAL_VFS", 0x0E, 2, "§9.3.3.6",
            F(0, 15, "TotalVFs", HwInit, "The most VFs the PF can have.")),
        R("NumVFs", "NUM_VFS", 0x10, 2, "§9.3.3.7",
            F(0, 15, "NumVFs", RW, "How many VFs VF Enable will create (0..TotalVFs). Writing it recomputes First VF Offset and VF Stride; it is locked while VF Enable is set.", Opt)),
        R("Function Dependency Link", "FUNC_DEP_LINK", 0x12, 1, "§9.3.3.8",
            F(0, 7, "Function Dependency Link", RO, "Function number of the PF this PF's VFs depend on (its own when independent); such VFs must be assigned together.")),
        R("First VF Offset", "FIRST_VF_OFFSET", 0x14, 2, "§9.3.3.9",
            F(0, 15, "First VF Offset", RO, "Routing-ID distance from the PF to VF 1 (a 16-bit addition over bus, device, function). Depends on NumVFs and ARI Capable Hierarchy.")),
        R("VF Stride", "VF_STRIDE", 0x16, 2, "§9.3.3.10",
            F(0, 15, "VF Stride", RO, "Routing-ID distance between consecutive VFs.")),
        R("VF Device ID", "VF_DEVICE_ID", 0x1A, 2, "§9.3.3.11",
            F(0, 15, "VF Device ID", RO, "The Device ID software presents for the VFs (their own Device ID register reads FFFFh).")),
        R("Supported Page Sizes", "SUPPORTED_PAGE_SIZES", 0x1C, 4, "§9.3.3.12",
            F(0, 31, "Supported Page Sizes", RO, "Bit n set: the PF supports a system page size of 2^(n+12) bytes for VF BAR alignment.")),
        R("System Page Size", "SYSTEM_PAGE_SIZE", 0x20, 4, "§9.3.3.13",
            F(0, 31, "System Page Size", RW, "The page size software uses (one bit, from Supported Page Sizes): each VF BAR region is aligned and padded to it so VFs can be mapped to guests page by page. Locked while VF Enable is set.", Partial,
                decode: v => v != 0 && (v & (v - 1)) == 0 ? Bytes(4096u << System.Numerics.BitOperations.Log2(v)) : null)),
        .. Enumerable.Range(0, 6).SelectMany(VfBar),
        R("VF Migration State Array Offset", "VF_MIGRATION_STATE", 0x3C, 4, "§9.3.3.15",
            F(0, 2, "VF Migration State BIR", RO, "BAR holding the VF Migration State Array; 0 without migration."),
            F(3, 31, "VF Migration State Offset", RO, "Offset of that array in the BAR (bits 31:3).")),
    ]);
}
