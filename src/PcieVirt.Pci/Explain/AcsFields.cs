using PcieVirt.Pci.Capabilities;
using static PcieVirt.Pci.Explain.FieldAccess;
using static PcieVirt.Pci.Explain.T;

namespace PcieVirt.Pci.Explain;

/// <summary>Fields of the ACS Extended Capability (§6.12 for the rules; register section by title in our spec notes).</summary>
public static class AcsFields
{
    const string Section = "§6.12, ACS Extended Capability";

    static readonly (string Name, string What)[] Features =
    [
        ("Source Validation", "check that requests from below carry a Requester ID whose bus is in the port's bus range"),
        ("Translation Blocking", "block requests from below that carry an already translated address (AT field set)"),
        ("P2P Request Redirect", "send peer-to-peer requests up to the Root Complex instead of straight to the peer"),
        ("P2P Completion Redirect", "send peer-to-peer completions up as well, so they do not pass redirected requests"),
        ("Upstream Forwarding", "send upstream the requests and completions a component below redirected upstream, rather than turning them back down"),
        ("P2P Egress Control", "block or redirect peer-to-peer traffic per destination, using the Egress Control Vector"),
        ("Direct Translated P2P", "let requests with translated addresses go peer to peer directly when redirect is on"),
    ];

    /// <summary>The table.</summary>
    public static readonly CapabilityTable Table = new(CapabilityIds.AccessControlServices, true, "Access Control Services", "§6.12", ["acs", "ecap_acs"],
    [
        R("ACS Capability", "ACSCAP", 0x04, 2, Section,
            [.. Features.Select((f, i) => B(i, $"ACS {f.Name}", RO, $"The port can {f.What}.")),
            F(8, 15, "Egress Control Vector Size", HwInit, "Number of bits in the Egress Control Vector (00h = 256).")]),
        R("ACS Control", "ACSCTL", 0x06, 2, Section,
            [.. Features.Select((f, i) => B(i, $"ACS {f.Name} Enable", RW, $"When set, {f.What}. Hardwired 0 when not supported.", Opt))]),
        R("Egress Control Vector", "ACSEGRESS", 0x08, 4, Section,
            F(0, 31, "Egress Control Vector", RW, "One bit per destination function or port: set = P2P to it is blocked or redirected. Bits beyond the vector size are RO 0.", Partial))
            with { When = (f, at) => (f.Config.Read16(at - 4) & 1u << 5) != 0 },
    ]);
}
