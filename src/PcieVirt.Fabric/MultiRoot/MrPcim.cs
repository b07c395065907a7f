using PcieVirt.Pci;

namespace PcieVirt.Fabric.MultiRoot;

/// <summary>Outcome of a manager operation: success, or why it was refused (nothing changed then).</summary>
public readonly record struct MrResult(bool IsSuccess, string? Error)
{
    /// <summary>Success.</summary>
    public static MrResult Ok => new(true, null);
    /// <summary>Refusal with a reason.</summary>
    public static MrResult Fail(string error) => new(false, error);
    public override string ToString() => IsSuccess ? "ok" : Error!;
}

/// <summary>An MRA device's BF as the manager found it by configuration reads in VH0.</summary>
public sealed record MrComponent(MraDevicePort Port, Bdf BaseFunctionBdf, int PfCount, IReadOnlyList<int?> PfToVh);

/// <summary>
/// The Multi-Root PCI Manager (MR-PCIM): discovers MRA devices through VH0, and assigns PFs to VHs.
/// Every assignment is recorded in the device's Base Function (configuration writes from VH0) and then
/// made visible in the VHs through the switch (hot-remove in the old, hot-add in the new).
/// The same operations are offered in CXL fabric-manager vocabulary: a VCS is a VH, a vPPB is a
/// virtual downstream port, an LD-ID is a PF index (<see cref="BindVppb"/>, <see cref="UnbindVppb"/>).
/// </summary>
public sealed class MrPcim(MraSwitch mraSwitch)
{
    /// <summary>The switch managed.</summary>
    public MraSwitch Switch { get; } = mraSwitch;

    VirtualHierarchy Mgmt => Switch.ManagementVh ?? throw new InvalidOperationException($"{Switch.Name}: no management VH");

    /// <summary>
    /// Finds the MRA devices: on each virtual downstream port of VH0, reads the function's MR-IOV
    /// capability (ID 0011h) and its PF-to-VH table with configuration reads through the manager's root complex.
    /// </summary>
    public IReadOnlyList<MrComponent> Discover()
    {
        var list = new List<MrComponent>();
        var rc = Mgmt.RootComplex;
        foreach (var port in Switch.DevicePorts)
        {
            var bdf = port.Device.BaseFunction.Bdf;
            var at = new PciAddress(rc.Segment, bdf);
            if (rc.Read(at, 0, 4, out uint id) != CompletionStatus.SuccessfulCompletion || id == 0xFFFF_FFFF) continue;
            int cap = FindMrIov(rc, at);
            if (cap == 0) continue;
            rc.Read(at, cap + MrIovCapability.CapabilitiesRegister, 4, out uint caps);
            int pfs = (int)(caps & 0xFF);
            var table = new int?[pfs];
            for (int i = 0; i < pfs; i++)
            {
                rc.Read(at, cap + MrIovCapability.MappingTable + 4 * i, 4, out uint e);
                table[i] = (e & MrIovCapability.MappedBit) != 0 ? (int)(e & 0xFF) : null;
            }
            list.Add(new MrComponent(port, bdf, pfs, table));
        }
        return list;
    }

    /// <summary>
    /// Assigns PF <paramref name="pfIndex"/> of the device on <paramref name="port"/> to host VH <paramref name="vhId"/>,
    /// at <paramref name="virtualPort"/> or the first free virtual downstream port. A PF already assigned elsewhere is moved.
    /// </summary>
    public MrResult Assign(MraDevicePort port, int pfIndex, int vhId, int? virtualPort = null)
    {
        if ((uint)pfIndex >= (uint)port.Device.PhysicalFunctions.Count)
            return Refuse("assign", $"{port.Device.Name} has no PF {pfIndex} (0..{port.Device.PhysicalFunctions.Count - 1})");
        var vh = Switch.FindVh(vhId);
        if (vh == null) return Refuse("assign", $"no VH {vhId} (1..{Switch.Hierarchies.Count - 1})");
        if (vh.IsManagement) return Refuse("assign", "VH0 is the management VH: PFs are assigned to host VHs only");
        var current = Switch.BindingOf(port, pfIndex);
        if (current is { } c && c.Vh == vh && (virtualPort == null || virtualPort == c.VirtualPort)) return MrResult.Ok;
        int vp = virtualPort ?? vh.FirstFreePort();
        if (vp < 0) return Refuse("assign", $"VH {vhId} has no free virtual downstream port");
        if ((uint)vp >= (uint)vh.VirtualDownstreamPorts.Count)
            return Refuse("assign", $"VH {vhId} has no virtual downstream port {vp} (0..{vh.VirtualDownstreamPorts.Count - 1})");
        if (Switch.BindingAt(vh, vp) is { } other)
            return Refuse("assign", $"virtual downstream port {vp} of VH {vhId} already holds {other.Function.Name}");
        if (WriteTable(port, pfIndex, vhId) is { IsSuccess: false } w) return w;
        if (current is { } old) Switch.Unbind(old);
        Switch.Bind(vh, vp, port, pfIndex);
        return MrResult.Ok;
    }

    /// <summary>Moves a PF to another host VH (hot-remove from its current VH, hot-add in the new one).</summary>
    public MrResult Move(MraDevicePort port, int pfIndex, int toVhId, int? virtualPort = null) => Assign(port, pfIndex, toVhId, virtualPort);

    /// <summary>Takes a PF out of its VH (hot-remove); it is then mapped nowhere.</summary>
    public MrResult Unassign(MraDevicePort port, int pfIndex)
    {
        if ((uint)pfIndex >= (uint)port.Device.PhysicalFunctions.Count)
            return Refuse("unassign", $"{port.Device.Name} has no PF {pfIndex}");
        if (Switch.BindingOf(port, pfIndex) is not { } b) return Refuse("unassign", $"PF {pfIndex} of {port.Device.Name} is not assigned");
        if (WriteTable(port, pfIndex, null) is { IsSuccess: false } w) return w;
        Switch.Unbind(b);
        return MrResult.Ok;
    }

    /// <summary>CXL FM "Bind vPPB": binds vPPB <paramref name="vppbId"/> of VCS <paramref name="vcsId"/> to physical port and LD (= PF index).</summary>
    public MrResult BindVppb(int vcsId, int vppbId, int physicalPortId, int ldId)
    {
        if ((uint)physicalPortId >= (uint)Switch.DevicePorts.Count) return Refuse("bind", $"no physical port {physicalPortId}");
        return Assign(Switch.DevicePorts[physicalPortId], ldId, vcsId, vppbId);
    }

    /// <summary>CXL FM "Unbind vPPB": empties vPPB <paramref name="vppbId"/> of VCS <paramref name="vcsId"/>.</summary>
    public MrResult UnbindVppb(int vcsId, int vppbId)
    {
        if (Switch.FindVh(vcsId) is not { IsManagement: false } vh) return Refuse("unbind", $"no host VCS {vcsId}");
        if (Switch.BindingAt(vh, vppbId) is not { } b) return Refuse("unbind", $"vPPB {vppbId} of VCS {vcsId} is not bound");
        return Unassign(b.DevicePort, b.PfIndex);
    }

    MrResult WriteTable(MraDevicePort port, int pfIndex, int? vhId)
    {
        var rc = Mgmt.RootComplex;
        var at = new PciAddress(rc.Segment, port.Device.BaseFunction.Bdf);
        int cap = FindMrIov(rc, at);
        if (cap == 0) return Refuse("map", $"{port.Device.Name}: Base Function not reachable from VH0 (management hierarchy not enumerated?)");
        uint entry = vhId is { } v ? MrIovCapability.MappedBit | (uint)v : 0;
        var status = rc.Write(at, cap + MrIovCapability.MappingTable + 4 * pfIndex, 4, entry);
        return status == CompletionStatus.SuccessfulCompletion ? MrResult.Ok : Refuse("map", $"{port.Device.Name}: BF table write completed {status}");
    }

    static int FindMrIov(RootComplex rc, PciAddress at)
    {
        // Walk the extended capability list (§7.6.3) with configuration reads, as software would.
        int offset = 0x100;
        for (int guard = 0; offset >= 0x100 && guard < 0x3C0; guard++)
        {
            if (rc.Read(at, offset, 4, out uint header) != CompletionStatus.SuccessfulCompletion || header == 0 || header == 0xFFFF_FFFF) return 0;
            if ((header & 0xFFFF) == 0x0011) return offset;
            offset = (int)(header >> 20) & 0xFFC;
        }
        return 0;
    }

    MrResult Refuse(string operation, string reason)
    {
        Log.Refused(Switch.Logger, operation, reason);
        return MrResult.Fail(reason);
    }
}
