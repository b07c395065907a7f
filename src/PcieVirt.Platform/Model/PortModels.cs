using PcieVirt.Pci.Functions;

namespace PcieVirt.Platform.Model;

/// <summary>A link's capability: generation (1 = 2.5 GT/s … 6 = 64 GT/s) and width in lanes.</summary>
public sealed record LinkModel(int Generation, int Width)
{
    /// <summary>Valid link widths (lanes).</summary>
    public static IReadOnlyList<int> Widths { get; } = [1, 2, 4, 8, 16, 32];

    /// <summary>Transfer rate in GT/s per lane for <see cref="Generation"/>.</summary>
    public double GigaTransfersPerSecond => Generation switch
    {
        1 => 2.5, 2 => 5, 3 => 8, 4 => 16, 5 => 32, 6 => 64, _ => 0,
    };

    public override string ToString() => $"Gen{Generation} x{Width}";
}

/// <summary>
/// Native PCIe hot-plug elements of a slot (Slot Capabilities, §7.5.3.9). A port with a
/// <see cref="HotPlugModel"/> is Hot-Plug Capable.
/// </summary>
public sealed record HotPlugModel
{
    public bool AttentionButton { get; init; } = true;
    public bool PowerController { get; init; } = true;
    public bool MrlSensor { get; init; }
    public bool AttentionIndicator { get; init; } = true;
    public bool PowerIndicator { get; init; } = true;
    /// <summary>The adapter may be removed without prior notification (Hot-Plug Surprise).</summary>
    public bool Surprise { get; init; }
}

/// <summary>
/// A downstream-facing port with a Type 1 header: a root port or a switch downstream port. Its link
/// capability is what the device below trains against.
/// </summary>
public abstract record PortModel
{
    public required string Name { get; init; }
    /// <summary>Device number on the port's primary bus (0..31).</summary>
    public required int Device { get; init; }
    /// <summary>Function number (0..7); always 0 for a switch downstream port.</summary>
    public int Function { get; init; }
    /// <summary>Header identity; Class Code is 0x0604xx (PCI-to-PCI bridge).</summary>
    public required FunctionIdentity Identity { get; init; }
    public required LinkModel Link { get; init; }
    /// <summary>Physical Slot Number (0..8191); null when the port has no slot (Slot Implemented clear).</summary>
    public int? Slot { get; init; }
    /// <summary>Hot-plug capabilities; null when the slot is not hot-plug capable.</summary>
    public HotPlugModel? HotPlug { get; init; }
    /// <summary>Extra bus numbers to reserve below this port beyond what is connected (for hot-plug or VFs).</summary>
    public int BusReserve { get; init; }
    /// <summary>ARI Forwarding Supported (Device Capabilities 2): function numbers above 7 reach the device below.</summary>
    public bool AriForwarding { get; init; } = true;
    /// <summary>Access Control Services of the port; null when not implemented.</summary>
    public AcsModel? Acs { get; init; }
    /// <summary>What the link leads to: a switch, an endpoint, or null for an empty slot.</summary>
    public AttachmentModel? Downstream { get; init; }
    /// <summary>JSON path of this port in the model, for messages.</summary>
    public string Path { get; init; } = "";

    /// <summary>This port and every switch port below it, depth first.</summary>
    public IEnumerable<PortModel> SelfAndPortsBelow()
    {
        yield return this;
        if (Downstream is SwitchModel s)
            foreach (var dp in s.DownstreamPorts)
                foreach (var p in dp.SelfAndPortsBelow()) yield return p;
    }

    /// <summary>
    /// Bus numbers this port needs, counting its secondary bus, everything below, and the reserve:
    /// what a depth-first enumeration assigns to [secondary, subordinate].
    /// </summary>
    public int BusNumbersNeeded()
    {
        int n = 1 + BusReserve;
        if (Downstream is SwitchModel s)
        {
            n += 1; // the switch's internal bus, below its upstream port
            foreach (var dp in s.DownstreamPorts) n += dp.BusNumbersNeeded();
        }
        return n;
    }
}

/// <summary>A root port on the host's root bus.</summary>
public sealed record RootPortModel : PortModel;

/// <summary>A switch downstream port on the switch's internal bus (function 0 of its device).</summary>
public sealed record DownstreamPortModel : PortModel;

/// <summary>What sits below a port: a <see cref="SwitchModel"/> or an <see cref="EndpointModel"/>.</summary>
public abstract record AttachmentModel
{
    /// <summary>JSON path of this node in the model, for messages.</summary>
    public string Path { get; init; } = "";
}

/// <summary>
/// A PCIe switch: an upstream port (a Type 1 function on the bus below the port above) and an
/// internal bus holding the downstream ports.
/// </summary>
public sealed record SwitchModel : AttachmentModel
{
    /// <summary>Name of the switch; also the name of its upstream port.</summary>
    public required string Name { get; init; }
    /// <summary>Identity of the upstream port (downstream ports default to it too).</summary>
    public required FunctionIdentity Identity { get; init; }
    /// <summary>Link capability of the upstream port.</summary>
    public required LinkModel Link { get; init; }
    public required IReadOnlyList<DownstreamPortModel> DownstreamPorts { get; init; }
}

/// <summary>
/// An endpoint device: one or more functions sharing a device number. Below a port it is device 0
/// of the port's secondary bus; as a root-complex integrated endpoint it has its own device number.
/// </summary>
public sealed record EndpointModel : AttachmentModel
{
    /// <summary>Optional name of the device (functions carry their own names).</summary>
    public string? Name { get; init; }
    /// <summary>Device number on its bus: 0 below a port; 0..31 for an integrated endpoint.</summary>
    public int Device { get; init; }
    /// <summary>True for a root-complex integrated endpoint (on the root bus, no port above).</summary>
    public bool IsIntegrated { get; init; }
    /// <summary>Functions sorted by function number; function 0 is always present.</summary>
    public required IReadOnlyList<FunctionModel> Functions { get; init; }

    /// <summary>More than one physical function: the Header Type Multi-Function bit (VFs do not count).</summary>
    public bool IsMultiFunction => Functions.Count > 1;

    /// <summary>True when the device uses ARI function numbers (any function implements ARI, §6.13).</summary>
    public bool IsAriDevice => Functions.Any(f => f.Capabilities.Ari);

    /// <summary>
    /// Routing ID of every VF relative to routing ID (bus 0, this device, function 0), as
    /// (PF, VF index 0-based, relative routing ID), at NumVFs = TotalVFs.
    /// </summary>
    public IEnumerable<(FunctionModel Pf, int VfIndex, int RelativeRoutingId)> VirtualFunctions()
    {
        foreach (var f in Functions)
        {
            if (f.Capabilities.Sriov is not { } iov) continue;
            int pf = Device << 3 | f.Number;
            for (int i = 0; i < iov.TotalVfs; i++)
                yield return (f, i, pf + iov.FirstVfOffset + i * iov.VfStride);
        }
    }

    /// <summary>How many bus numbers past its own the VFs reach (0 when all VFs sit on the device's bus).</summary>
    public int VfBusesBeyondOwn()
    {
        int max = 0;
        foreach (var vf in VirtualFunctions()) max = Math.Max(max, vf.RelativeRoutingId >> 8);
        return max;
    }
}
