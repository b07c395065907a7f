using PcieVirt.Pci.Functions;
using static PcieVirt.Pci.Explain.FieldAccess;
using static PcieVirt.Pci.Explain.T;

namespace PcieVirt.Pci.Explain;

/// <summary>Field tables of the configuration header (§7.5.1): the common part, Type 0 and Type 1.</summary>
public static class HeaderFields
{
    /// <summary>Registers both header types share (§7.5.1.1).</summary>
    public static readonly IReadOnlyList<RegisterTable> Common =
    [
        R("Vendor ID", "VENDOR_ID", 0x00, 2, "§7.5.1.1.1",
            F(0, 15, "Vendor ID", RO, "Who made the function (PCI-SIG assigned); FFFFh in a VF, whose vendor is its PF's.")),
        R("Device ID", "DEVICE_ID", 0x02, 2, "§7.5.1.1.2",
            F(0, 15, "Device ID", RO, "Which device of that vendor; FFFFh in a VF (the PF's VF Device ID names it).")),
        R("Command", "COMMAND", 0x04, 2, "§7.5.1.1.3",
            B(0, "I/O Space Enable", RW, "Lets the function answer I/O space accesses to its I/O BARs; hardwired 0 without I/O BARs.", Opt, vf: RO),
            B(1, "Memory Space Enable", RW, "Lets the function answer memory accesses to its memory BARs (a VF follows its PF's VF MSE instead).", Opt, vf: RO),
            B(2, "Bus Master Enable", RW, "Lets the function issue memory requests (DMA, MSI/MSI-X messages); a bridge forwards upstream requests only when set."),
            B(3, "Special Cycle Enable", RO, "Conventional PCI only; hardwired 0 in PCIe."),
            B(4, "Memory Write and Invalidate", RO, "Conventional PCI only; hardwired 0 in PCIe."),
            B(5, "VGA Palette Snoop", RO, "Conventional PCI only; hardwired 0 in PCIe."),
            B(6, "Parity Error Response", RW, "Whether a detected data parity error (poisoned TLP) is also logged in Master Data Parity Error.", vf: RsvdP),
            B(7, "IDSEL Stepping/Wait Cycle Control", RO, "Conventional PCI only; hardwired 0."),
            B(8, "SERR# Enable", RW, "Allows the function to report fatal and non-fatal errors to the Root Complex (ERR_FATAL/ERR_NONFATAL).", vf: RsvdP),
            B(9, "Fast Back-to-Back Transactions Enable", RO, "Conventional PCI only; hardwired 0."),
            B(10, "Interrupt Disable", RW, "Stops the function from asserting INTx; hardwired 0 when it has no INTx pin (VFs never do).", Opt, vf: RO)),
        R("Status", "STATUS", 0x06, 2, "§7.5.1.1.4",
            B(0, "Immediate Readiness", RO, "Set when the function is ready for any request right after reset, with no settle time."),
            B(3, "Interrupt Status", RO, "Set while the function has an INTx interrupt pending (before Interrupt Disable masks it)."),
            B(4, "Capabilities List", RO, "Set when Capabilities Pointer at 34h starts a capability list; always 1 in PCIe."),
            B(5, "66 MHz Capable", RO, "Conventional PCI only; 0."),
            B(7, "Fast Back-to-Back Transactions Capable", RO, "Conventional PCI only; 0."),
            B(8, "Master Data Parity Error", RW1C, "The function received a poisoned completion or sent a poisoned write while Parity Error Response was set."),
            F(9, 10, "DEVSEL Timing", RO, "Conventional PCI only; 0."),
            B(11, "Signaled Target Abort", RW1C, "The function completed a request with Completer Abort."),
            B(12, "Received Target Abort", RW1C, "A request the function issued came back Completer Abort."),
            B(13, "Received Master Abort", RW1C, "A request the function issued came back Unsupported Request."),
            B(14, "Signaled System Error", RW1C, "The function sent ERR_FATAL or ERR_NONFATAL with SERR# Enable set."),
            B(15, "Detected Parity Error", RW1C, "The function received a poisoned TLP, whatever Parity Error Response says.")),
        R("Revision ID", "REVISION", 0x08, 1, "§7.5.1.1.5",
            F(0, 7, "Revision ID", RO, "Device revision chosen by the vendor.")),
        R("Class Code", "CLASS", 0x09, 3, "§7.5.1.1.6",
            F(0, 7, "Programming Interface", RO, "The register-level interface within the sub-class (e.g. 02h = NVMe for 0108h)."),
            F(8, 15, "Sub-Class Code", RO, "The kind of device within the base class."),
            F(16, 23, "Base Class Code", RO, "The broad kind of function (01h mass storage, 06h bridge…).")),
        R("Cache Line Size", "CACHE_LINE_SIZE", 0x0C, 1, "§7.5.1.1.7",
            F(0, 7, "Cache Line Size", RW, "Kept for software compatibility; has no effect on a PCIe function. Hardwired 0 in a VF.", vf: RO)),
        R("Latency Timer", "LATENCY_TIMER", 0x0D, 1, "§7.5.1.1.8",
            F(0, 7, "Latency Timer", RO, "Conventional PCI only; hardwired 0.")),
        R("Header Type", "HEADER_TYPE", 0x0E, 1, "§7.5.1.1.9",
            F(0, 6, "Header Layout", RO, "0 = Type 0 (endpoint) header, 1 = Type 1 (bridge/port) header.",
                decode: v => v switch { 0 => "Type 0", 1 => "Type 1", _ => null }),
            B(7, "Multi-Function Device", RO, "Set when the device has functions other than function 0.")),
        R("BIST", "BIST", 0x0F, 1, "§7.5.1.1.10",
            F(0, 7, "BIST", RO, "Built-in self test control; 0 = not supported.")),
        R("Capabilities Pointer", "CAPABILITIES", 0x34, 1, "§7.5.1.1.11",
            F(0, 7, "Capabilities Pointer", RO, "Offset of the first capability in the legacy list (40h..FCh).")),
        R("Interrupt Line", "INTERRUPT_LINE", 0x3C, 1, "§7.5.1.1.12",
            F(0, 7, "Interrupt Line", RW, "Scratch byte where system software records the INTx routing; the function ignores it. Hardwired 0 in a VF.", vf: RO)),
        R("Interrupt Pin", "INTERRUPT_PIN", 0x3D, 1, "§7.5.1.1.13",
            F(0, 7, "Interrupt Pin", RO, "Which INTx pin the function uses: 1..4 = INTA..INTD, 0 = none.",
                decode: v => v switch { 0 => "none", 1 => "INTA", 2 => "INTB", 3 => "INTC", 4 => "INTD", _ => null })),
    ];

    static bool IsIoBar(PciFunction f, int at) => (f.Config.Bytes[at] & 1) != 0;
    static bool IsUpperHalf(PciFunction f, int at) =>
        at > 0x10 && !IsUpperHalf(f, at - 4) && (f.Config.Bytes[at - 4] & 0x7) == 0x4;

    /// <summary>A Base Address Register at <paramref name="offset"/>: memory, I/O or the upper half of a 64-bit pair.</summary>
    static IEnumerable<RegisterTable> Bar(int index, int offset, string section)
    {
        string name = $"Base Address Register {index}", shortName = $"BASE_ADDRESS_{index}";
        yield return R(name, shortName, offset, 4, section,
            B(0, "Memory Space Indicator", RO, "0: a memory BAR."),
            F(1, 2, "Type", RO, "00b = 32-bit address anywhere, 10b = 64-bit (this and the next BAR form the address).",
                decode: v => v switch { 0 => "32-bit", 2 => "64-bit", _ => "reserved" }),
            B(3, "Prefetchable", RO, "Set when reads have no side effects, so the region may be prefetched and merged."),
            F(4, 31, "Base Address", RW, "Address bits of the region; bits below its size are read-only 0, which is how software sizes a BAR (write all 1s, read back). A VF's BARs read 0: its PF's VF BARs place it.", Partial, vf: RO))
            with { When = (f, at) => !IsIoBar(f, at) && !IsUpperHalf(f, at) };
        yield return R(name, shortName, offset, 4, section,
            B(0, "I/O Space Indicator", RO, "1: an I/O BAR."),
            F(2, 31, "Base Address", RW, "I/O address bits of the region; bits below its size read 0.", Partial))
            with { When = (f, at) => IsIoBar(f, at) && !IsUpperHalf(f, at) };
        yield return R(name, shortName, offset, 4, section,
            F(0, 31, "Base Address (upper 32 bits)", RW, "Bits 63:32 of the 64-bit memory BAR that starts in the previous register.", Partial, vf: RO))
            with { When = IsUpperHalf };
    }

    /// <summary>Type 0 header registers (§7.5.1.2).</summary>
    public static readonly IReadOnlyList<RegisterTable> Type0 =
    [
        .. Enumerable.Range(0, 6).SelectMany(i => Bar(i, 0x10 + 4 * i, "§7.5.1.2.1")),
        R("Cardbus CIS Pointer", "CARDBUS_CIS", 0x28, 4, "§7.5.1.2.2",
            F(0, 31, "Cardbus CIS Pointer", RO, "Not used by PCIe; 0.")),
        R("Subsystem Vendor ID", "SUBSYSTEM_VENDOR_ID", 0x2C, 2, "§7.5.1.2.3",
            F(0, 15, "Subsystem Vendor ID", HwInit, "Vendor of the board or system the function is built into; a VF's equals its PF's.")),
        R("Subsystem ID", "SUBSYSTEM_ID", 0x2E, 2, "§7.5.1.2.3",
            F(0, 15, "Subsystem ID", HwInit, "The board/system vendor's own ID for this product.")),
        R("Expansion ROM Base Address", "ROM_ADDRESS", 0x30, 4, "§7.5.1.2.4",
            B(0, "Expansion ROM Enable", RW, "Decodes the ROM at Base Address when set (and Memory Space Enable is set).", Opt, vf: RO),
            F(11, 31, "Expansion ROM Base Address", RW, "Where the option ROM is mapped; bits below its size read 0. VFs have no ROM.", Opt | Partial, vf: RO)),
        R("Min_Gnt", "MIN_GNT", 0x3E, 1, "§7.5.1.2.5", F(0, 7, "Min_Gnt", RO, "Conventional PCI only; 0.")),
        R("Max_Lat", "MAX_LAT", 0x3F, 1, "§7.5.1.2.5", F(0, 7, "Max_Lat", RO, "Conventional PCI only; 0.")),
    ];

    /// <summary>Type 1 header registers (§7.5.1.3).</summary>
    public static readonly IReadOnlyList<RegisterTable> Type1 =
    [
        .. Enumerable.Range(0, 2).SelectMany(i => Bar(i, 0x10 + 4 * i, "§7.5.1.3.1")),
        R("Primary Bus Number", "PRIMARY_BUS", 0x18, 1, "§7.5.1.3.2",
            F(0, 7, "Primary Bus Number", RW, "The bus on the upstream side of the bridge; kept for software, not used for routing.")),
        R("Secondary Bus Number", "SECONDARY_BUS", 0x19, 1, "§7.5.1.3.3",
            F(0, 7, "Secondary Bus Number", RW, "The bus right below the bridge: Type 1 config requests for it become Type 0.")),
        R("Subordinate Bus Number", "SUBORDINATE_BUS", 0x1A, 1, "§7.5.1.3.4",
            F(0, 7, "Subordinate Bus Number", RW, "The highest bus below the bridge: config requests for Secondary..Subordinate go down.")),
        R("Secondary Latency Timer", "SEC_LATENCY_TIMER", 0x1B, 1, "§7.5.1.3.5",
            F(0, 7, "Secondary Latency Timer", RO, "Conventional PCI only; 0.")),
        R("I/O Base", "IO_BASE", 0x1C, 1, "§7.5.1.3.6",
            F(0, 3, "I/O Addressing Capability", RO, "0h = 16-bit I/O addresses, 1h = 32-bit (upper bits in I/O Base Upper 16 Bits)."),
            F(4, 7, "I/O Base Address[15:12]", RW, "Bits 15:12 of the lowest I/O address forwarded down (4 KiB granularity).")),
        R("I/O Limit", "IO_LIMIT", 0x1D, 1, "§7.5.1.3.6",
            F(0, 3, "I/O Addressing Capability", RO, "Same encoding as in I/O Base."),
            F(4, 7, "I/O Limit Address[15:12]", RW, "Bits 15:12 of the highest I/O address forwarded down (low bits all 1s); Limit < Base disables the window.")),
        R("Secondary Status", "SEC_STATUS", 0x1E, 2, "§7.5.1.3.7",
            B(5, "66 MHz Capable", RO, "Conventional PCI only; 0."),
            B(7, "Fast Back-to-Back Transactions Capable", RO, "Conventional PCI only; 0."),
            B(8, "Master Data Parity Error", RW1C, "The secondary side received a poisoned completion or forwarded a poisoned write downstream with Parity Error Response Enable set."),
            F(9, 10, "DEVSEL Timing", RO, "Conventional PCI only; 0."),
            B(11, "Signaled Target Abort", RW1C, "The secondary side completed a request with Completer Abort."),
            B(12, "Received Target Abort", RW1C, "A request forwarded downstream came back Completer Abort."),
            B(13, "Received Master Abort", RW1C, "A request forwarded downstream came back Unsupported Request."),
            B(14, "Received System Error", RW1C, "An ERR_FATAL/ERR_NONFATAL message arrived from below."),
            B(15, "Detected Parity Error", RW1C, "The secondary side received a poisoned TLP.")),
        R("Memory Base", "MEMORY_BASE", 0x20, 2, "§7.5.1.3.8",
            F(0, 3, "Reserved", RO, "Reads 0: the window is 32-bit only."),
            F(4, 15, "Memory Base Address[31:20]", RW, "Bits 31:20 of the lowest non-prefetchable memory address forwarded down (1 MiB granularity).")),
        R("Memory Limit", "MEMORY_LIMIT", 0x22, 2, "§7.5.1.3.8",
            F(0, 3, "Reserved", RO, "Reads 0."),
            F(4, 15, "Memory Limit Address[31:20]", RW, "Bits 31:20 of the highest address forwarded down (low 20 bits all 1s); Limit < Base disables the window.")),
        R("Prefetchable Memory Base", "PREF_MEMORY_BASE", 0x24, 2, "§7.5.1.3.9",
            F(0, 3, "Addressing Capability", RO, "0h = 32-bit window, 1h = 64-bit (upper bits in the Upper 32 Bits registers)."),
            F(4, 15, "Prefetchable Base Address[31:20]", RW, "Bits 31:20 of the lowest prefetchable address forwarded down.")),
        R("Prefetchable Memory Limit", "PREF_MEMORY_LIMIT", 0x26, 2, "§7.5.1.3.9",
            F(0, 3, "Addressing Capability", RO, "Same encoding as in Prefetchable Memory Base."),
            F(4, 15, "Prefetchable Limit Address[31:20]", RW, "Bits 31:20 of the highest prefetchable address forwarded down.")),
        R("Prefetchable Base Upper 32 Bits", "PREF_BASE_UPPER32", 0x28, 4, "§7.5.1.3.10",
            F(0, 31, "Prefetchable Base Address[63:32]", RW, "Upper half of the prefetchable window base; RO 0 for a 32-bit window.", Opt)),
        R("Prefetchable Limit Upper 32 Bits", "PREF_LIMIT_UPPER32", 0x2C, 4, "§7.5.1.3.10",
            F(0, 31, "Prefetchable Limit Address[63:32]", RW, "Upper half of the prefetchable window limit; RO 0 for a 32-bit window.", Opt)),
        R("I/O Base Upper 16 Bits", "IO_BASE_UPPER16", 0x30, 2, "§7.5.1.3.11",
            F(0, 15, "I/O Base Address[31:16]", RW, "Upper half of the I/O window base when 32-bit I/O addressing is supported.", Opt)),
        R("I/O Limit Upper 16 Bits", "IO_LIMIT_UPPER16", 0x32, 2, "§7.5.1.3.11",
            F(0, 15, "I/O Limit Address[31:16]", RW, "Upper half of the I/O window limit.", Opt)),
        R("Expansion ROM Base Address", "BRIDGE_ROM_ADDRESS", 0x38, 4, "§7.5.1.3.12",
            B(0, "Expansion ROM Enable", RW, "Decodes the bridge's own ROM when set.", Opt),
            F(11, 31, "Expansion ROM Base Address", RW, "Where the bridge's option ROM is mapped.", Opt | Partial)),
        R("Bridge Control", "BRIDGE_CONTROL", 0x3E, 2, "§7.5.1.3.13",
            B(0, "Parity Error Response Enable", RW, "Whether poisoned TLPs on the secondary side are logged in Master Data Parity Error of Secondary Status."),
            B(1, "SERR# Enable", RW, "Whether ERR_FATAL/ERR_NONFATAL from below are forwarded upstream."),
            B(2, "ISA Enable", RW, "Stops forwarding the top 768 bytes of each 1 KiB in the first 64 KiB of I/O (ISA aliases).", Opt),
            B(3, "VGA Enable", RW, "Forwards the legacy VGA memory and I/O ranges downstream.", Opt),
            B(4, "VGA 16-bit Decode", RW, "With VGA Enable: decode VGA I/O addresses with 16 bits instead of 10.", Opt),
            B(5, "Master Abort Mode", RO, "Conventional PCI only; hardwired 0."),
            B(6, "Secondary Bus Reset", RW, "While set, the link below is held in hot reset: every function below is reset."),
            B(7, "Fast Back-to-Back Transactions Enable", RO, "Conventional PCI only; 0."),
            F(8, 11, "Discard timer fields", RO, "Conventional PCI only; 0.")),
    ];
}
