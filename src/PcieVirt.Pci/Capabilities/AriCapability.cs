using PcieVirt.Pci.Config;

namespace PcieVirt.Pci.Capabilities;

/// <summary>Options of an <see cref="AriCapability"/>.</summary>
public sealed record AriOptions
{
    /// <summary>MFVC Function Groups Capability (function 0 only).</summary>
    public bool MfvcFunctionGroups { get; init; }
    /// <summary>ACS Function Groups Capability (function 0 only).</summary>
    public bool AcsFunctionGroups { get; init; }
    /// <summary>Next Function Number: the next function of the device in the ARI chain; 0 ends it.</summary>
    public byte NextFunctionNumber { get; init; }
}

/// <summary>
/// Alternative Routing-ID Interpretation extended capability (PCIe Base Spec §6.13, register layout in the
/// "ARI Extended Capability" section of chapter 7). ARI Capability is read-only; the device model sets the
/// Next Function Number that links the functions of an ARI device. ARI Control's function-group enables are
/// RW when the matching capability is set, and the Function Group field when either is.
/// </summary>
public sealed class AriCapability(AriOptions? options = null) : PciExtendedCapability
{
    const int AriCap = 0x04, AriCtl = 0x06;

    public AriOptions Options { get; } = options ?? new AriOptions();
    public override ushort Id => CapabilityIds.AlternativeRoutingId;
    public override string Name => "Alternative Routing-ID Interpretation";
    public override int Length => 8;

    public byte NextFunctionNumber => (byte)(Reg(AriCap, 2) >> 8);
    public bool MfvcFunctionGroupsEnabled => (Reg(AriCtl, 2) & 1) != 0;
    public bool AcsFunctionGroupsEnabled => (Reg(AriCtl, 2) & 2) != 0;
    /// <summary>Function Group number (ARI Control 6:4) software assigned to this function.</summary>
    public int FunctionGroup => (int)(Reg(AriCtl, 2) >> 4) & 7;

    protected override void Layout(ConfigSpace config, int offset)
    {
        var o = Options;
        Def(AriCap, 2, (o.MfvcFunctionGroups ? 1u : 0) | (o.AcsFunctionGroups ? 2u : 0) | (uint)o.NextFunctionNumber << 8);
        uint rw = (o.MfvcFunctionGroups ? 1u : 0) | (o.AcsFunctionGroups ? 2u : 0)
            | (o.MfvcFunctionGroups || o.AcsFunctionGroups ? 7u << 4 : 0);
        Def(AriCtl, 2, 0, rw, kind: RegisterKind.ReadWrite);
    }

    /// <summary>Device-model update of Next Function Number (read-only to software; kept across resets).</summary>
    public void SetNextFunctionNumber(byte next)
    {
        uint v = (Reg(AriCap, 2) & 0xFF) | (uint)next << 8;
        SetReg(AriCap, 2, v);
        Config.SetResetValue(Offset + AriCap, 2, v);
    }
}
