using PcieVirt.Pci.Functions;

namespace PcieVirt.Pci.Capabilities;

/// <summary>Options of an <see cref="SriovCapability"/> (what a device model or JSON model gives).</summary>
public sealed record SriovOptions
{
    /// <summary>PF page sizes every SR-IOV PF must support: 4 KB, 8 KB, 64 KB, 256 KB, 1 MB, 4 MB (§9.3.3.12).</summary>
    public const uint RequiredPageSizes = 0x553;

    /// <summary>TotalVFs (HwInit): the most VFs this PF can have.</summary>
    public ushort TotalVfs { get; init; }
    /// <summary>InitialVFs (HwInit); default TotalVFs, as the spec asks of new designs (§9.3.3.5).</summary>
    public ushort? InitialVfs { get; init; }
    /// <summary>VF Device ID (RO); default the PF's Device ID.</summary>
    public ushort? VfDeviceId { get; init; }
    /// <summary>
    /// The VF BARs (memory only, §9.3.3.14) with the size one VF needs. The size a VF BAR decodes is
    /// the larger of this and System Page Size.
    /// </summary>
    public IReadOnlyList<BarDefinition> VfBars { get; init; } = [];
    /// <summary>Supported Page Sizes (RO): bit n = 2^(n+12) bytes; must include <see cref="RequiredPageSizes"/>.</summary>
    public uint SupportedPageSizes { get; init; } = RequiredPageSizes;

    /// <summary>VF Migration Capable (deprecated with MR-IOV; new designs leave it clear).</summary>
    public bool VfMigrationCapable { get; init; }
    /// <summary>VF Migration Interrupt Message Number, 0..2047 (only with migration).</summary>
    public ushort VfMigrationInterruptMessageNumber { get; init; }
    /// <summary>VF Migration State Array Offset register: offset (31:3) and BIR (2:0) (only with migration).</summary>
    public uint VfMigrationStateArrayOffset { get; init; }

    /// <summary>ARI Capable Hierarchy Preserved (lowest-numbered PF only; recommended, §9.3.3.2).</summary>
    public bool AriCapableHierarchyPreserved { get; init; } = true;
    /// <summary>VF 10-Bit Tag Requester Supported; needs the PF's own 10-Bit Tag Requester Supported.</summary>
    public bool Vf10BitTagRequesterSupported { get; init; }

    /// <summary>Number of PFs of the device; the default routing rule assumes PF k sits at function k.</summary>
    public int PfCount { get; init; } = 1;
    /// <summary>This PF's position among them. PF 0 is the lowest-numbered PF, the one whose ARI Capable Hierarchy counts.</summary>
    public int PfIndex { get; init; }
    /// <summary>Function Dependency Link (RO); default this PF's own function number (independent PF, §9.3.3.8).</summary>
    public byte? FunctionDependencyLink { get; init; }

    /// <summary>Fixed First VF Offset; with <see cref="VfStride"/> it replaces the default rule.</summary>
    public ushort? FirstVfOffset { get; init; }
    /// <summary>Fixed VF Stride; with <see cref="FirstVfOffset"/> it replaces the default rule.</summary>
    public ushort? VfStride { get; init; }
    /// <summary>Device-model rule for First VF Offset and VF Stride (overrides the fixed values and the default).</summary>
    public Func<VfRoutingContext, VfRouting>? RoutingRule { get; init; }

    /// <summary>
    /// Virtual time from setting VF Enable until the VFs answer configuration requests successfully;
    /// before that they complete them with Request Retry Status. Default 100 ms, the least software must
    /// wait (§9.3.3.3.1); at most 1 s, the longest a VF may answer RRS.
    /// </summary>
    public ulong VfEnableSettleTimeNs { get; init; } = 100_000_000;

    /// <summary>Each VF's MSI-X capability (table and PBA in VF BAR space); null = VFs have no MSI-X.</summary>
    public MsixOptions? VfMsix { get; init; }
    /// <summary>VF Revision ID; default the PF's (the spec allows a different one).</summary>
    public byte? VfRevisionId { get; init; }
    /// <summary>VF Subsystem ID; default the PF's (the spec allows a different one; Subsystem Vendor ID must match).</summary>
    public ushort? VfSubsystemId { get; init; }
}

/// <summary>What a First VF Offset / VF Stride rule sees (§9.3.3.9-10: both may change with NumVFs and ARI Capable Hierarchy).</summary>
/// <param name="PfRoutingId">The PF's routing ID now (its device/function part is where it sits).</param>
/// <param name="PfIndex">The PF's position among the device's PFs.</param>
/// <param name="PfCount">Number of PFs of the device.</param>
/// <param name="NumVfs">NumVFs after the write.</param>
/// <param name="TotalVfs">TotalVFs.</param>
/// <param name="AriCapableHierarchy">The lowest-numbered PF's ARI Capable Hierarchy.</param>
public readonly record struct VfRoutingContext(Bdf PfRoutingId, int PfIndex, int PfCount, ushort NumVfs, ushort TotalVfs,
    bool AriCapableHierarchy);

/// <summary>First VF Offset and VF Stride, as the PF reports them.</summary>
public readonly record struct VfRouting(ushort FirstVfOffset, ushort VfStride);

/// <summary>Ready-made First VF Offset / VF Stride rules.</summary>
public static class VfRoutingRules
{
    /// <summary>Always the same offset and stride, whatever NumVFs and ARI say.</summary>
    public static Func<VfRoutingContext, VfRouting> Fixed(ushort firstVfOffset, ushort vfStride)
    {
        var r = new VfRouting(firstVfOffset, vfStride);
        return _ => r;
    }

    /// <summary>
    /// The default rule. PF k of a device with P PFs sits at function k; its VF j (1-based) goes to
    /// function k + j·P, so the VFs of different PFs interleave and never collide (offset P, stride P;
    /// 1 and 1 for a single PF).
    /// <list type="bullet">
    /// <item>ARI Capable Hierarchy set: that numbering runs through the 8-bit function space of the
    /// captured bus and on into the next buses (16-bit routing-ID arithmetic).</item>
    /// <item>Clear: below a port without ARI forwarding only device 0 (functions 0–7) of the captured bus
    /// is reachable (§6.13), so the VFs stay there only when all of them fit; otherwise they start on the
    /// next bus (offset 100h, same stride), which the device decodes by itself.</item>
    /// </list>
    /// </summary>
    public static VfRouting Default(VfRoutingContext c)
    {
        var stride = (ushort)c.PfCount;
        if (c.AriCapableHierarchy) return new VfRouting(stride, stride);
        int lastFunction = c.PfIndex + c.NumVfs * c.PfCount;
        return lastFunction <= 7 ? new VfRouting(stride, stride) : new VfRouting(0x100, stride);
    }
}
