using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Functions;
using static PcieVirt.Pci.Explain.FieldAccess;
using static PcieVirt.Pci.Explain.T;

namespace PcieVirt.Pci.Explain;

/// <summary>Fields of the Advanced Error Reporting capability (§7.8.4). The three uncorrectable and two correctable registers share one bit list each.</summary>
public static class AerFields
{
    // (bit, name, meaning); errors a function may not implement are optional (their bits are then hardwired 0).
    static readonly (int Bit, string Name, string Meaning, bool Optional)[] Uncorrectable =
    [
        (4, "Data Link Protocol Error", "The data link layer saw a protocol violation (e.g. an ACK for a TLP never sent).", false),
        (5, "Surprise Down Error", "The link went down without warning.", true),
        (12, "Poisoned TLP Received", "A TLP arrived with its poisoned (EP) bit set.", false),
        (13, "Flow Control Protocol Error", "The link partner broke the flow control rules.", true),
        (14, "Completion Timeout", "A request this function issued got no completion in time.", false),
        (15, "Completer Abort", "This function aborted a request it could not complete.", true),
        (16, "Unexpected Completion", "A completion arrived that matches no outstanding request.", false),
        (17, "Receiver Overflow", "The link partner sent more than the advertised credits.", true),
        (18, "Malformed TLP", "A TLP broke the format rules (length, fields).", false),
        (19, "ECRC Error", "The end-to-end CRC of a TLP did not match.", true),
        (20, "Unsupported Request Error", "The function received a request it does not support.", false),
        (21, "ACS Violation", "A request broke an enabled ACS rule.", true),
        (22, "Uncorrectable Internal Error", "An internal error the function could not correct.", true),
        (23, "MC Blocked TLP", "A multicast TLP was blocked.", true),
        (24, "AtomicOp Egress Blocked", "An AtomicOp was blocked at an egress port.", true),
        (25, "TLP Prefix Blocked Error", "A TLP with an unsupported end-end prefix was blocked.", true),
        (26, "Poisoned TLP Egress Blocked", "A poisoned TLP was blocked at an egress port.", true),
    ];

    static readonly (int Bit, string Name, string Meaning, bool Optional)[] Correctable =
    [
        (0, "Receiver Error", "The physical layer received bad symbols.", true),
        (6, "Bad TLP", "A TLP failed its LCRC or sequence check (it will be replayed).", false),
        (7, "Bad DLLP", "A DLLP failed its CRC.", false),
        (8, "REPLAY_NUM Rollover", "A TLP was replayed four times without success.", false),
        (12, "Replay Timer Timeout", "No acknowledgement came in time, so TLPs were replayed.", false),
        (13, "Advisory Non-Fatal Error", "A non-fatal error was handled as correctable because the function's role makes it advisory.", false),
        (14, "Corrected Internal Error", "An internal error that the function corrected.", true),
        (15, "Header Log Overflow", "An error's header could not be logged because the log was full.", true),
    ];

    static RegisterTable Bits((int Bit, string Name, string Meaning, bool Optional)[] bits, string name, string shortName, int offset,
        string section, FieldAccess access, string how) =>
        R(name, shortName, offset, 4, section,
            [.. bits.Select(b => B(b.Bit, b.Name, access, $"{b.Meaning} {how}", b.Optional ? Opt : FieldFlags.None))]);

    static bool IsRootPort(PciFunction f) => f.FindCapability<PciExpressCapability>()?.PortType == PciePortType.RootPort;

    /// <summary>The table.</summary>
    public static readonly CapabilityTable Table = new(CapabilityIds.AdvancedErrorReporting, true, "Advanced Error Reporting", "§7.8.4", ["aer", "ecap_aer"],
    [
        Bits(Uncorrectable, "Uncorrectable Error Status", "UESTA", 0x04, "§7.8.4.2", RW1CS, "Set when detected; write 1 to clear."),
        Bits(Uncorrectable, "Uncorrectable Error Mask", "UEMSK", 0x08, "§7.8.4.3", RWS, "Mask: when set, the error is not logged or reported."),
        Bits(Uncorrectable, "Uncorrectable Error Severity", "UESVRT", 0x0C, "§7.8.4.4", RWS, "Severity: set = fatal (ERR_FATAL), clear = non-fatal."),
        Bits(Correctable, "Correctable Error Status", "CESTA", 0x10, "§7.8.4.5", RW1CS, "Set when detected; write 1 to clear."),
        Bits(Correctable, "Correctable Error Mask", "CEMSK", 0x14, "§7.8.4.6", RWS, "Mask: when set, the error is not reported."),
        R("Advanced Error Capabilities and Control", "AERCAP", 0x18, 4, "§7.8.4.7",
            F(0, 4, "First Error Pointer", ROS, "Bit number of the first unmasked uncorrectable error whose status is still set; its header is in the Header Log."),
            B(5, "ECRC Generation Capable", RO, "The function can add an end-to-end CRC to TLPs it sends."),
            B(6, "ECRC Generation Enable", RWS, "Add ECRC to transmitted TLPs.", Opt),
            B(7, "ECRC Check Capable", RO, "The function can check ECRC."),
            B(8, "ECRC Check Enable", RWS, "Check ECRC on received TLPs.", Opt),
            B(9, "Multiple Header Recording Capable", RO, "Can log more than one header."),
            B(10, "Multiple Header Recording Enable", RWS, "Log more than one header.", Opt),
            B(11, "TLP Prefix Log Present", ROS, "The TLP Prefix Log holds the prefix of the logged TLP.")),
        R("Header Log DW1", "HDRLOG0", 0x1C, 4, "§7.8.4.8", F(0, 31, "Header Log DW1", ROS, "First DWORD of the header of the TLP that caused the first error.")),
        R("Header Log DW2", "HDRLOG1", 0x20, 4, "§7.8.4.8", F(0, 31, "Header Log DW2", ROS, "Second header DWORD.")),
        R("Header Log DW3", "HDRLOG2", 0x24, 4, "§7.8.4.8", F(0, 31, "Header Log DW3", ROS, "Third header DWORD.")),
        R("Header Log DW4", "HDRLOG3", 0x28, 4, "§7.8.4.8", F(0, 31, "Header Log DW4", ROS, "Fourth header DWORD.")),
        R("Root Error Command", "ROOTCMD", 0x2C, 4, "§7.8.4.9",
            B(0, "Correctable Error Reporting Enable", RW, "Interrupt when the Root Port logs an ERR_COR."),
            B(1, "Non-Fatal Error Reporting Enable", RW, "Interrupt on ERR_NONFATAL."),
            B(2, "Fatal Error Reporting Enable", RW, "Interrupt on ERR_FATAL.")) with { When = (f, _) => IsRootPort(f) },
        R("Root Error Status", "ROOTSTA", 0x30, 4, "§7.8.4.10",
            B(0, "ERR_COR Received", RW1CS, "A correctable error message arrived or was detected."),
            B(1, "Multiple ERR_COR Received", RW1CS, "Another arrived while ERR_COR Received was set."),
            B(2, "ERR_FATAL/NONFATAL Received", RW1CS, "An uncorrectable error message arrived or was detected."),
            B(3, "Multiple ERR_FATAL/NONFATAL Received", RW1CS, "Another arrived while the bit above was set."),
            B(4, "First Uncorrectable Fatal", RW1CS, "The first uncorrectable message logged was fatal."),
            B(5, "Non-Fatal Error Messages Received", RW1CS, "At least one ERR_NONFATAL arrived."),
            B(6, "Fatal Error Messages Received", RW1CS, "At least one ERR_FATAL arrived."),
            F(27, 31, "Advanced Error Interrupt Message Number", RO, "MSI/MSI-X vector used for these interrupts.")) with { When = (f, _) => IsRootPort(f) },
        R("Error Source Identification", "ERRSRC", 0x34, 4, "§7.8.4.11",
            F(0, 15, "ERR_COR Source Identification", ROS, "Requester ID of the first ERR_COR logged."),
            F(16, 31, "ERR_FATAL/NONFATAL Source Identification", ROS, "Requester ID of the first uncorrectable error logged.")) with { When = (f, _) => IsRootPort(f) },
    ]);
}
