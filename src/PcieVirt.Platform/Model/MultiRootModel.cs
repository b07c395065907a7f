using PcieVirt.Pci.Functions;

namespace PcieVirt.Platform.Model;

/// <summary>
/// The <c>multiRoot</c> section: one multi-root aware switch whose upstream ports are linked to root
/// ports of the model's hosts, and the MRA devices on its physical downstream ports.
/// </summary>
public sealed record MultiRootModel
{
    /// <summary>The MRA switch.</summary>
    public required MraSwitchModel Switch { get; init; }
    /// <summary>MRA devices, one per physical downstream port, in port order.</summary>
    public required IReadOnlyList<MraDeviceModel> Devices { get; init; }
    /// <summary>JSON path of the section.</summary>
    public string Path { get; init; } = "";
}

/// <summary>The MRA switch: name, virtual downstream ports per host VH and the host links.</summary>
public sealed record MraSwitchModel
{
    /// <summary>Switch name.</summary>
    public required string Name { get; init; }
    /// <summary>Virtual downstream ports (hot-plug slots) in each host's virtual switch.</summary>
    public int VirtualPorts { get; init; } = 4;
    /// <summary>Bus numbers firmware keeps below each virtual downstream port for hot-added PFs and VFs.</summary>
    public int BusReserve { get; init; } = 4;
    /// <summary>Host links in upstream-port order: VH n is the n-th (VH0 is the manager's).</summary>
    public required IReadOnlyList<MrHostLinkModel> Hosts { get; init; }
}

/// <summary>A host link: which host's root port is connected to the next MRA switch upstream port.</summary>
public sealed record MrHostLinkModel(string Host, string RootPort, string Path);

/// <summary>An MRA device: its Base Function, its PFs and where each PF starts.</summary>
public sealed record MraDeviceModel
{
    /// <summary>Device name.</summary>
    public required string Name { get; init; }
    /// <summary>Device kind of the PFs (<c>raid-controller</c> or <c>generic</c>).</summary>
    public string DeviceKind { get; init; } = FunctionModel.GenericDeviceKind;
    /// <summary>Identity of the Base Function.</summary>
    public required FunctionIdentity BaseFunction { get; init; }
    /// <summary>Device settings shared by every PF (for a raid-controller: drives and volumes).</summary>
    public System.Text.Json.JsonElement? Settings { get; init; }
    /// <summary>The PFs (function number 0 each: a PF is alone on its virtual downstream port's link).</summary>
    public required IReadOnlyList<FunctionModel> PhysicalFunctions { get; init; }
    /// <summary>Initial PF assignments.</summary>
    public IReadOnlyList<MrAssignModel> Assign { get; init; } = [];
    /// <summary>Extra namespace attachments to controllers of any PF (raid-controller).</summary>
    public IReadOnlyList<MrAttachModel> Attach { get; init; } = [];
    /// <summary>JSON path.</summary>
    public string Path { get; init; } = "";
}

/// <summary>PF <paramref name="Pf"/> starts in <paramref name="Host"/>'s VH at virtual port <paramref name="Port"/> (null: first free).</summary>
public sealed record MrAssignModel(int Pf, string Host, int? Port, string Path);

/// <summary>Volume <paramref name="Volume"/>'s namespace is attached to PF <paramref name="Pf"/>'s controller (0 = primary, n = VF n).</summary>
public sealed record MrAttachModel(string Volume, int Pf, int Controller, string Path);
