using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Pci.Capabilities;

/// <summary>ACS features: bits of the ACS Capability register and, as enables, of ACS Control (§6.12).</summary>
[Flags]
public enum AcsFeatures : ushort
{
    None = 0,
    SourceValidation = 1 << 0,
    TranslationBlocking = 1 << 1,
    P2PRequestRedirect = 1 << 2,
    P2PCompletionRedirect = 1 << 3,
    UpstreamForwarding = 1 << 4,
    P2PEgressControl = 1 << 5,
    DirectTranslatedP2P = 1 << 6,
}

/// <summary>Options of an <see cref="AcsCapability"/>.</summary>
public sealed record AcsOptions
{
    public AcsFeatures Supported { get; init; }
    /// <summary>Bits in the Egress Control Vector (1..256); required with <see cref="AcsFeatures.P2PEgressControl"/>.</summary>
    public int EgressControlVectorSize { get; init; }
}

/// <summary>
/// Access Control Services extended capability (PCIe Base Spec §6.12, register layout in the "ACS Extended
/// Capability" section of chapter 7). ACS Control bits are RW only for supported features; the Egress Control
/// Vector, present with P2P Egress Control, is RW for its implemented bits. Source Validation, Translation
/// Blocking and Upstream Forwarding apply to downstream ports only, so a Type 0 function may not claim them.
/// </summary>
public sealed class AcsCapability : PciExtendedCapability
{
    const int AcsCap = 0x04, AcsCtl = 0x06, EgressVector = 0x08;
    const AcsFeatures PortOnly = AcsFeatures.SourceValidation | AcsFeatures.TranslationBlocking | AcsFeatures.UpstreamForwarding;

    public AcsCapability(AcsOptions options)
    {
        Options = options;
        if (((ushort)options.Supported & ~0x7F) != 0) throw new ArgumentException("unknown ACS feature bits");
        bool egress = (options.Supported & AcsFeatures.P2PEgressControl) != 0;
        if (egress && options.EgressControlVectorSize is < 1 or > 256)
            throw new ArgumentException("P2P Egress Control needs an Egress Control Vector Size of 1..256");
        if (!egress && options.EgressControlVectorSize != 0)
            throw new ArgumentException("Egress Control Vector Size is given without P2P Egress Control");
        EgressVectorDwords = egress ? (options.EgressControlVectorSize + 31) / 32 : 0;
    }

    public AcsOptions Options { get; }
    public override ushort Id => CapabilityIds.AccessControlServices;
    public override string Name => "Access Control Services";
    public override int Length => 8 + 4 * EgressVectorDwords;
    int EgressVectorDwords { get; }

    /// <summary>Features whose ACS Control enable is set.</summary>
    public AcsFeatures Enabled => (AcsFeatures)Reg(AcsCtl, 2);
    public bool IsEnabled(AcsFeatures feature) => (Enabled & feature) == feature;

    /// <summary>Egress Control Vector bit for a function/port number: set means P2P to it is blocked/redirected.</summary>
    public bool IsEgressBlocked(int index) =>
        (uint)index < (uint)Options.EgressControlVectorSize && (Reg(EgressVector + 4 * (index >> 5), 4) & (1u << (index & 31))) != 0;

    protected override void Layout(ConfigSpace config, int offset)
    {
        // Egress Control Vector Size: 00h encodes 256 bits.
        uint size = (uint)Options.EgressControlVectorSize & 0xFF;
        Def(AcsCap, 2, (uint)Options.Supported | size << 8);
        Def(AcsCtl, 2, 0, (uint)Options.Supported, kind: RegisterKind.ReadWrite);
        for (int i = 0; i < EgressVectorDwords; i++)
        {
            int bits = Math.Min(32, Options.EgressControlVectorSize - 32 * i);
            Def(EgressVector + 4 * i, 4, 0, bits == 32 ? 0xFFFF_FFFF : (1u << bits) - 1, kind: RegisterKind.ReadWrite);
        }
    }

    public override void OnFunctionSealed()
    {
        if (Function is BridgeFunction { PortKind: BridgePortKind.SwitchUpstreamPort or BridgePortKind.PciBridge })
            throw new InvalidOperationException($"{Function.Name}: ACS applies to Root Ports, Switch Downstream Ports and functions of multi-function devices");
        if (!Function.IsBridge && (Options.Supported & PortOnly) != 0)
            throw new InvalidOperationException($"{Function.Name}: Source Validation, Translation Blocking and Upstream Forwarding apply to downstream ports only");
    }
}
