using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Functions;
using static PcieVirt.Pci.Explain.FieldAccess;
using static PcieVirt.Pci.Explain.T;

namespace PcieVirt.Pci.Explain;

/// <summary>Fields of the MSI capability (§7.7.1). Where registers sit depends on 64-bit and per-vector masking support.</summary>
public static class MsiFields
{
    // Message Control is at +2 of the header; a register's own offset gives the header back.
    static uint Control(PciFunction f, int headerAt) => f.Config.Read16(headerAt + 2);
    static bool Is64(PciFunction f, int headerAt) => (Control(f, headerAt) & 1u << 7) != 0;
    static bool Pvm(PciFunction f, int headerAt) => (Control(f, headerAt) & 1u << 8) != 0;

    static IEnumerable<RegisterTable> Both(RegisterTable r, int rel32, int rel64, Func<PciFunction, int, bool>? extra = null)
    {
        yield return r with { Offset = rel32, When = (f, at) => !Is64(f, at - rel32) && (extra?.Invoke(f, at - rel32) ?? true) };
        yield return r with { Offset = rel64, When = (f, at) => Is64(f, at - rel64) && (extra?.Invoke(f, at - rel64) ?? true) };
    }

    static readonly RegisterTable Data = R("Message Data", "MSI_DATA", 0, 2, "§7.7.1.5",
        F(0, 15, "Message Data", RW, "The low 16 bits of the data the function writes; with several vectors enabled the function puts the vector number in the low bits."));
    static readonly RegisterTable ExtData = R("Extended Message Data", "MSI_EXT_DATA", 0, 2, "§7.7.1.6",
        F(0, 15, "Extended Message Data", RW, "Upper 16 bits of the message data, used only when Extended Message Data Enable is set; RO 0 when not capable.", Opt));
    static readonly RegisterTable Mask = R("Mask Bits", "MSI_MASK", 0, 4, "§7.7.1.7",
        F(0, 31, "Mask Bits", RW, "One bit per vector: a set bit stops that vector from being sent (it becomes pending). Bits beyond the requested vectors are RO 0.", Partial));
    static readonly RegisterTable Pending = R("Pending Bits", "MSI_PENDING", 0, 4, "§7.7.1.8",
        F(0, 31, "Pending Bits", RO, "One bit per vector: set while a masked vector has a message waiting."));

    /// <summary>The table.</summary>
    public static readonly CapabilityTable Table = new(CapabilityIds.Msi, false, "MSI", "§7.7.1", ["msi", "cap_msi"],
    [
        R("Message Control", "MSI_CONTROL", 0x02, 2, "§7.7.1.2",
            B(0, "MSI Enable", RW, "Turns MSI on (and INTx off); MSI-X Enable must not be set at the same time."),
            F(1, 3, "Multiple Message Capable", RO, "How many vectors the function asks for, as a power of two (000b = 1 … 101b = 32).", decode: v => $"{1 << (int)v} vector(s)"),
            F(4, 6, "Multiple Message Enable", RW, "How many vectors software granted, as a power of two; never more than requested.", decode: v => $"{1 << (int)v} vector(s)"),
            B(7, "64 bit address capable", RO, "Set when the Message Upper Address register exists."),
            B(8, "Per-Vector Masking Capable", RO, "Set when the Mask Bits and Pending Bits registers exist."),
            B(9, "Extended Message Data Capable", RO, "Set when the function can send 32-bit message data."),
            B(10, "Extended Message Data Enable", RW, "Use the Extended Message Data register as the upper 16 data bits.", Opt)),
        R("Message Address", "MSI_ADDRESS", 0x04, 4, "§7.7.1.3",
            F(0, 1, "Reserved", RO, "Reads 0: the address is DWORD aligned."),
            F(2, 31, "Message Address", RW, "Address bits 31:2 the function writes its interrupt message to (e.g. FEExxxxxh on x86).")),
        R("Message Upper Address", "MSI_ADDRESS_HI", 0x08, 4, "§7.7.1.4",
            F(0, 31, "Message Upper Address", RW, "Address bits 63:32; 0 means a 32-bit message address.")) with { When = (f, at) => Is64(f, at - 0x08) },
        .. Both(Data, 0x08, 0x0C),
        .. Both(ExtData, 0x0A, 0x0E),
        .. Both(Mask, 0x0C, 0x10, Pvm),
        .. Both(Pending, 0x10, 0x14, Pvm),
    ]);
}
