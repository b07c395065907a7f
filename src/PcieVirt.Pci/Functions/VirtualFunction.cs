using Microsoft.Extensions.Logging;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;

namespace PcieVirt.Pci.Functions;

/// <summary>
/// An SR-IOV Virtual Function: a Type 0 function created by its PF's <see cref="SriovCapability"/> when
/// VF Enable is set, and destroyed with all its state when VF Enable is cleared or the PF resets.
/// <para>Its configuration header follows the VF columns of the PCIe Base Spec (§7.5.1, formerly the
/// SR-IOV chapter's VF header table): Vendor ID and Device ID read FFFFh; in Command only Bus Master
/// Enable is writable (I/O Space, Memory Space and Interrupt Disable are hardwired 0; Parity Error
/// Response and SERR# Enable are RsvdP, the PF's apply); Cache Line Size, Header Type, BIST, the BARs,
/// the Expansion ROM BAR, Interrupt Line and Interrupt Pin read 0; Class Code and Subsystem Vendor ID
/// are the PF's, Revision ID and Subsystem ID the PF's unless the options say otherwise.</para>
/// <para>Its BARs are defined by the PF's VF BARs: BAR n of VF index i decodes [VF BARn + i × size,
/// + size) while the PF's VF MSE is set. <see cref="PciFunction.TryDecodeMemory"/>,
/// <see cref="PciFunction.BarAddress"/> and <see cref="PciFunction.Bars"/> work on that space, so
/// regions (an MSI-X table, device registers) are mapped as on any function. Its requester ID is its
/// routing ID (<see cref="PciFunction.Bdf"/>).</para>
/// </summary>
public class VirtualFunction : EndpointFunction
{
    // PCI Express capability register offsets (§7.5.3) that take VF-specific attributes.
    const int PcieDevCtl = 0x08, PcieDevSta = 0x0A, PcieLinkCtl = 0x10, PcieLinkSta = 0x12, PcieDevCtl2 = 0x28, PcieLinkCtl2 = 0x30, PcieLinkSta2 = 0x32;

    /// <summary>
    /// Creates VF index <paramref name="vfIndex"/> (0-based; the spec's VF number is index + 1) of the PF
    /// that owns <paramref name="sriov"/>. With <paramref name="standardCapabilities"/> it gets a PCI Express
    /// capability (same type and link capabilities as the PF's, FLR capable), an MSI-X capability when
    /// <see cref="SriovOptions.VfMsix"/> is set, and an ARI capability when the PF has one. A device model
    /// may add more capabilities and map BAR regions before the VF is sealed.
    /// </summary>
    public VirtualFunction(SriovCapability sriov, int vfIndex, bool standardCapabilities = true, ILogger? logger = null)
        : base($"{sriov.Function.Name} VF{vfIndex + 1}", IdentityOf(sriov), logger ?? sriov.Function.Logger)
    {
        if (vfIndex < 0 || vfIndex >= sriov.TotalVfs) throw new ArgumentOutOfRangeException(nameof(vfIndex));
        Sriov = sriov;
        VfIndex = vfIndex;
        for (int i = 0; i < 6; i++)
            if (sriov.VfBarDefinition(i) is { } b)
                DefineBar(b with { Size = sriov.VfBarSize(i) });
        if (!standardCapabilities) return;
        AddCapability(new PciExpressCapability(PcieOptionsOf(sriov)));
        if (sriov.Options.VfMsix is { } msix) AddCapability(new MsixCapability(msix));
        if (sriov.Function.FindCapability<AriCapability>() != null) AddCapability(new AriCapability());
    }

    /// <summary>The SR-IOV capability of the PF this VF belongs to.</summary>
    public SriovCapability Sriov { get; }
    /// <summary>The PF.</summary>
    public PciFunction PhysicalFunction => Sriov.Function;
    /// <summary>0-based index among the PF's VFs.</summary>
    public int VfIndex { get; }
    /// <summary>The spec's VF number n (1-based).</summary>
    public int VfNumber => VfIndex + 1;
    /// <summary>Routing-ID offset from the PF: First VF Offset + (n−1) × VF Stride.</summary>
    public ushort RoutingIdOffset => Sriov.VfRoutingOffset(VfNumber);
    /// <summary>The Vendor ID software presents for the VF: the PF's (its own register reads FFFFh).</summary>
    public ushort PresentedVendorId => PhysicalFunction.Identity.VendorId;
    /// <summary>The Device ID software presents for the VF: the PF's VF Device ID (its own register reads FFFFh).</summary>
    public ushort PresentedDeviceId => Sriov.VfDeviceId;

    public override bool IsVirtualFunction => true;

    static FunctionIdentity IdentityOf(SriovCapability sriov)
    {
        var pf = sriov.Function.Identity;
        return new FunctionIdentity
        {
            VendorId = 0xFFFF,
            DeviceId = 0xFFFF,
            ClassCode = pf.ClassCode, // must equal the PF's (§7.5.1.1.6)
            RevisionId = sriov.Options.VfRevisionId ?? pf.RevisionId,
            SubsystemVendorId = pf.SubsystemVendorId, // must equal the PF's (§7.5.1.2.3)
            SubsystemId = sriov.Options.VfSubsystemId ?? pf.SubsystemId,
            InterruptPin = 0, // VFs must not implement INTx (§6.1)
        };
    }

    static PciExpressOptions PcieOptionsOf(SriovCapability sriov)
    {
        var pf = sriov.Function.FindCapability<PciExpressCapability>()?.Options ?? new PciExpressOptions();
        // Link Capabilities are the PF's; PFs and VFs must support FLR (§7.5.3.4); a VF's 10-Bit Tag Requester
        // Supported equals the PF's VF 10-Bit Tag Requester Supported (§7.5.3.15); no AUX power (§7.5.3.5).
        return pf with
        {
            FlrCapable = true,
            TenBitTagRequesterSupported = sriov.Options.Vf10BitTagRequesterSupported,
            AuxPowerDetected = false,
            InterruptMessageNumber = 0,
        };
    }

    /// <summary>Only Bus Master Enable is a VF's own; the rest is hardwired 0 or RsvdP (§7.5.1.1.3).</summary>
    protected override ushort CommandWritableBits(bool hasIo, bool hasMem) => (ushort)PciCommand.BusMaster;

    /// <summary>VF memory decoding follows the PF's VF MSE, not the VF's own Command register (§9.3.3.3.4).</summary>
    protected override bool MemoryDecodeEnabled => Sriov.VfEnable && Sriov.VfMemorySpaceEnable;

    /// <summary>BAR n of this VF: the PF's VF BARn + index × per-VF size; 0 while the VF BAR is unassigned.</summary>
    public override ulong BarAddress(int index)
    {
        if ((uint)index >= 6 || Bars[index] == null) return 0;
        ulong b = Sriov.VfBarBase(index);
        return b == 0 ? 0 : b + (ulong)VfIndex * Sriov.VfBarSize(index);
    }

    protected override void OnSealed()
    {
        if (ExpansionRomSize != 0) throw new InvalidOperationException($"{Name}: VFs do not support an Expansion ROM (§7.5.1.2.4)");
        var c = Config;
        // Header fields that do not apply to VFs are hardwired to zero (§7.5.1.1.7, §7.5.1.1.12, §7.5.1.2.1).
        c.Define(PciRegs.CacheLineSize, 1, 0);
        c.Define(PciRegs.InterruptLine, 1, 0);
        for (int i = 0; i < 6; i++) c.Define(PciRegs.Bar0 + 4 * i, 4, 0);

        if (FindCapability<PciExpressCapability>() is { } pcie)
        {
            int at = pcie.Offset;
            // Device Control: every field but Initiate FLR is RsvdP in a VF, the PF's setting applies (§7.5.3.4);
            // Initiate FLR is detected from the written value, so it still works.
            c.Define(at + PcieDevCtl, 2, 0, kind: RegisterKind.RsvdP);
            // Device Status: the error bits are the VF's own (§6.2.9); AUX Power Detected is hardwired 0 (§7.5.3.5).
            c.Define(at + PcieDevSta, 2, 0, w1cMask: 0xF, kind: RegisterKind.Mixed);
            // Link Control is RsvdP and Link Status RsvdZ in VFs: the PF's link state applies (§7.5.3.7-8).
            c.Define(at + PcieLinkCtl, 2, 0, kind: RegisterKind.RsvdP);
            c.Define(at + PcieLinkSta, 2, 0, kind: RegisterKind.RsvdZ);
            // Device Control 2: Completion Timeout, AtomicOp, IDO, 10-Bit Tag… are the PF's (§7.5.3.16).
            c.Define(at + PcieDevCtl2, 2, 0, kind: RegisterKind.RsvdP);
            // Link Control 2 is RsvdP in VFs as well: target speed and compliance settings are the PF's (§7.5.3.19).
            c.Define(at + PcieLinkCtl2, 2, 0, kind: RegisterKind.RsvdP);
            c.Define(at + PcieLinkSta2, 2, 0, kind: RegisterKind.RsvdZ);
        }
    }
}
