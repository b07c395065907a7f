using PcieVirt.Pci.Config;

namespace PcieVirt.Pci.Capabilities;

/// <summary>Device power states of the PowerState field (PCIe Base Spec §5.3.1, §7.5.2.2).</summary>
public enum DevicePowerState : byte { D0 = 0, D1 = 1, D2 = 2, D3Hot = 3 }

/// <summary>States from which a function can generate PME (PME_Support, PMC bits 15:11).</summary>
[Flags]
public enum PmeSupport : byte
{
    None = 0,
    D0 = 1 << 0,
    D1 = 1 << 1,
    D2 = 1 << 2,
    D3Hot = 1 << 3,
    D3Cold = 1 << 4,
}

/// <summary>Options of a <see cref="PowerManagementCapability"/> (what the PMC register advertises).</summary>
public sealed record PowerManagementOptions
{
    public bool D1Support { get; init; }
    public bool D2Support { get; init; }
    public PmeSupport PmeSupport { get; init; }
    /// <summary>
    /// 3.3Vaux current in mA: 0 (self-powered / none), 55, 100, 160, 220, 270, 320 or 375. Only meaningful
    /// when PME is supported from D3cold (§7.5.2.1).
    /// </summary>
    public int AuxCurrentMilliamps { get; init; }
    /// <summary>
    /// No_Soft_Reset: when true a D3hot→D0 transition keeps the function's configuration; when false it
    /// performs an internal reset (§5.3.1.4).
    /// </summary>
    public bool NoSoftReset { get; init; } = true;
    /// <summary>Device Specific Initialization (DSI) bit.</summary>
    public bool DeviceSpecificInitialization { get; init; }
    /// <summary>Immediate_Readiness_on_Return_to_D0 bit.</summary>
    public bool ImmediateReadinessOnReturnToD0 { get; init; }
}

/// <summary>
/// PCI Power Management capability, version 3 (PCI PM 1.2; PCIe Base Spec §7.5.2). PowerState is RW
/// but a write of an unsupported state is discarded (§7.5.2.2); PME_En is RWS and PME_Status RW1CS when
/// PME can be generated from D3cold, plain RW / RW1C otherwise, and both read 0 when no PME is supported.
/// The Data register is not implemented (Data_Select / Data_Scale / Data read 0).
/// </summary>
public sealed class PowerManagementCapability(PowerManagementOptions? options = null) : PciStandardCapability
{
    const int Pmc = 0x02, Pmcsr = 0x04, PmcsrBse = 0x06, Data = 0x07;
    const uint PowerStateMask = 0x3, NoSoftResetBit = 1 << 3, PmeEnBit = 1 << 8, PmeStatusBit = 1 << 15;
    static readonly int[] AuxCurrentTable = [0, 55, 100, 160, 220, 270, 320, 375];

    public PowerManagementOptions Options { get; } = Validate(options ?? new PowerManagementOptions());

    public override ushort Id => CapabilityIds.PowerManagement;
    public override int Length => 8;
    public override string Name => "Power Management";

    /// <summary>The PowerState field.</summary>
    public DevicePowerState PowerState => (DevicePowerState)(Reg(Pmcsr, 2) & PowerStateMask);
    public bool PmeEnabled => (Reg(Pmcsr, 2) & PmeEnBit) != 0;
    public bool PmeStatus => (Reg(Pmcsr, 2) & PmeStatusBit) != 0;

    static PowerManagementOptions Validate(PowerManagementOptions o)
    {
        if (Array.IndexOf(AuxCurrentTable, o.AuxCurrentMilliamps) < 0)
            throw new ArgumentException($"Aux current {o.AuxCurrentMilliamps} mA is not one of {string.Join(", ", AuxCurrentTable)}");
        if ((o.PmeSupport & PmeSupport.D1) != 0 && !o.D1Support) throw new ArgumentException("PME from D1 needs D1 support");
        if ((o.PmeSupport & PmeSupport.D2) != 0 && !o.D2Support) throw new ArgumentException("PME from D2 needs D2 support");
        if (o.AuxCurrentMilliamps != 0 && (o.PmeSupport & PmeSupport.D3Cold) == 0)
            throw new ArgumentException("Aux current is reported only by functions that generate PME from D3cold (§7.5.2.1)");
        return o;
    }

    protected override void Layout(ConfigSpace config, int offset)
    {
        var o = Options;
        uint pmc = 3u // Version: PCI PM 1.2
            | (o.DeviceSpecificInitialization ? 1u << 5 : 0)
            | (o.ImmediateReadinessOnReturnToD0 ? 1u << 4 : 0)
            | (uint)Array.IndexOf(AuxCurrentTable, o.AuxCurrentMilliamps) << 6
            | (o.D1Support ? 1u << 9 : 0)
            | (o.D2Support ? 1u << 10 : 0)
            | (uint)o.PmeSupport << 11;
        Def(Pmc, 2, pmc, kind: RegisterKind.ReadOnly);

        // PME context is sticky only when the function can signal PME from D3cold, i.e. keeps aux power (§7.5.2.2).
        bool pme = o.PmeSupport != PmeSupport.None;
        bool stickyPme = (o.PmeSupport & PmeSupport.D3Cold) != 0;
        uint rw = PowerStateMask | (pme ? PmeEnBit : 0);
        uint w1c = pme ? PmeStatusBit : 0;
        uint sticky = stickyPme ? PmeEnBit | PmeStatusBit : 0;
        Def(Pmcsr, 2, o.NoSoftReset ? NoSoftResetBit : 0, rw, w1c, sticky, RegisterKind.Mixed);
        Def(PmcsrBse, 1, 0); // bridge support extensions: not used by PCIe
        Def(Data, 1, 0);
    }

    bool Supports(DevicePowerState s) => s switch
    {
        DevicePowerState.D1 => Options.D1Support,
        DevicePowerState.D2 => Options.D2Support,
        _ => true,
    };

    protected override void OnWrite(int rel, int width, uint oldValue, uint written)
    {
        if (!RegisterBits.Touches(rel, width, Pmcsr, 1)) return;
        uint now = Reg(Pmcsr, 2);
        var before = (DevicePowerState)(RegisterBits.Before(rel, width, oldValue, Pmcsr, 2, now) & PowerStateMask);
        var requested = (DevicePowerState)(now & PowerStateMask);
        if (requested == before) return;
        if (!Supports(requested))
        {
            // §7.5.2.2: the write completes normally, the data is discarded and no state change occurs.
            SetReg(Pmcsr, 2, (now & ~PowerStateMask) | (uint)before);
            Log.UnsupportedPowerState(Function.Logger, Function.Name, requested.ToString(), before.ToString());
            return;
        }
        if (before == DevicePowerState.D3Hot && requested == DevicePowerState.D0 && !Options.NoSoftReset)
        {
            // §5.3.1.4: without No_Soft_Reset the function returns to D0uninitialized; sticky PME context survives.
            Log.PowerStateSoftReset(Function.Logger, Function.Name);
            Function.Reset(ResetKind.FunctionLevel);
        }
    }

    /// <summary>
    /// The device model detected a wake event: sets PME_Status when PME is supported from the current
    /// state (§7.5.2.2). Returns true when a PM_PME message is to be sent (PME_En set).
    /// </summary>
    public bool SignalPme()
    {
        var support = (PmeSupport)(1 << (int)PowerState);
        if ((Options.PmeSupport & support) == 0) return false;
        Config.SetBits(Offset + Pmcsr, 2, PmeStatusBit, true);
        return PmeEnabled;
    }
}
