using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Fabric.MultiRoot;

/// <summary>Settings of an <see cref="MraSwitch"/>.</summary>
public sealed record MraSwitchOptions
{
    /// <summary>Switch name (prefix of its virtual ports' names).</summary>
    public string Name { get; init; } = "mra0";
    /// <summary>Vendor ID of the virtual switch ports.</summary>
    public ushort VendorId { get; init; } = 0x1B36;
    /// <summary>Device ID of the virtual upstream ports (one not named in pci.ids, so tools show it as ours).</summary>
    public ushort UpstreamDeviceId { get; init; } = 0x00C0;
    /// <summary>Device ID of the virtual downstream ports.</summary>
    public ushort DownstreamDeviceId { get; init; } = 0x00C1;
    /// <summary>Virtual downstream ports (hot-plug slots) in each host VH.</summary>
    public int VirtualDownstreamPorts { get; init; } = 4;
    /// <summary>Bus numbers firmware keeps free below each virtual downstream port for hot-added PFs and their VFs.</summary>
    public int BusReserve { get; init; } = 4;
    /// <summary>
    /// Non-prefetchable memory window firmware reserves below each host VH's virtual downstream port, so a
    /// PF hot-added later gets its BARs (and VF BARs) there with a slot rescan, nothing else moving.
    /// </summary>
    public ulong MemoryReserve { get; init; } = 4UL << 20;
    /// <summary>Prefetchable memory window reserved below each host VH's virtual downstream port (0 = none).</summary>
    public ulong PrefetchableReserve { get; init; }
    /// <summary>Width of every link.</summary>
    public int LinkWidth { get; init; } = 8;
}

/// <summary>Where a PF of an MRA device is bound: its VH and the virtual downstream port there.</summary>
public readonly record struct MrBinding(VirtualHierarchy Vh, int VirtualPort, MraDevicePort DevicePort, int PfIndex)
{
    /// <summary>The bound PF.</summary>
    public PciFunction Function => DevicePort.Device.PhysicalFunctions[PfIndex];
}

/// <summary>A physical downstream port of an MRA switch with the MRA device on its (tagged) link.</summary>
public sealed class MraDevicePort
{
    internal MraDevicePort(int index, MraDevice device, MrLink link)
    {
        Index = index;
        Device = device;
        Link = link;
    }

    /// <summary>Physical port number.</summary>
    public int Index { get; }
    /// <summary>The device on the link.</summary>
    public MraDevice Device { get; }
    /// <summary>The MR link to the device.</summary>
    public MrLink Link { get; }
}

/// <summary>
/// A multi-root aware switch. It holds one virtual switch per virtual hierarchy: each host connected to
/// an upstream port enumerates an ordinary PCIe switch (<see cref="PcieSwitch"/> in its own root
/// complex) whose virtual downstream ports the switch fills with PFs of the MRA devices on its
/// physical downstream ports. VH0 belongs to the manager and holds each device's Base Function.
/// TLPs are tagged hop by hop: untagged on host links, the switch's internal VH number inside, the
/// device link's own VH tag (MR-IOV local prefix) towards the device. Not thread-safe.
/// </summary>
public sealed class MraSwitch
{
    readonly List<VirtualHierarchy> _vhs = [];
    readonly List<MraDevicePort> _devicePorts = [];
    readonly Dictionary<(VirtualHierarchy, int), VhLinkTap> _portTaps = [];
    readonly Dictionary<(MraDevicePort, int), MrBinding> _bindings = [];
    readonly ILoggerFactory _loggerFactory;
    readonly ILogger _log;
    readonly ILogger _tlpLog;

    /// <summary>Creates a switch with no ports connected yet.</summary>
    public MraSwitch(MraSwitchOptions? options = null, ILoggerFactory? loggerFactory = null)
    {
        Options = options ?? new MraSwitchOptions();
        if (Options.VirtualDownstreamPorts is < 1 or > 32) throw new ArgumentException("1..32 virtual downstream ports per VH");
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _log = _loggerFactory.CreateLogger("PcieVirt.Fabric.MultiRoot");
        _tlpLog = _loggerFactory.CreateLogger(RootComplex.TlpLogCategory);
    }

    /// <summary>The switch's settings.</summary>
    public MraSwitchOptions Options { get; }
    /// <summary>Switch name.</summary>
    public string Name => Options.Name;
    /// <summary>Every VH, management VH first once connected.</summary>
    public IReadOnlyList<VirtualHierarchy> Hierarchies => _vhs;
    /// <summary>The physical downstream ports with their MRA devices.</summary>
    public IReadOnlyList<MraDevicePort> DevicePorts => _devicePorts;
    /// <summary>VH0, or null before <see cref="ConnectManagement"/>.</summary>
    public VirtualHierarchy? ManagementVh => _vhs.Count > 0 && _vhs[0].IsManagement ? _vhs[0] : null;
    /// <summary>Every current PF binding.</summary>
    public IEnumerable<MrBinding> Bindings => _bindings.Values.OrderBy(b => b.Vh.Id).ThenBy(b => b.VirtualPort);

    internal ILogger Logger => _log;

    /// <summary>
    /// Connects the manager's root port: VH0, whose virtual switch has one virtual downstream port per
    /// physical device port, each showing that device's Base Function. Must come first.
    /// </summary>
    public VirtualHierarchy ConnectManagement(RootPort managerPort)
    {
        if (_vhs.Count != 0) throw new InvalidOperationException($"{Name}: connect the management VH before any host");
        return AddVh(managerPort, 0, ports: 0);
    }

    /// <summary>Connects a host's root port to the next upstream port: a new VH with empty virtual downstream ports.</summary>
    public VirtualHierarchy ConnectHost(RootPort hostPort)
    {
        if (ManagementVh == null) throw new InvalidOperationException($"{Name}: connect the management VH first");
        if (_vhs.Count > 255) throw new InvalidOperationException($"{Name}: no VH number left");
        return AddVh(hostPort, _vhs.Count, Options.VirtualDownstreamPorts);
    }

    /// <summary>Connects an MRA device to the next physical downstream port; its BF appears in VH0.</summary>
    public MraDevicePort ConnectDevice(MraDevice device)
    {
        var mgmt = ManagementVh ?? throw new InvalidOperationException($"{Name}: connect the management VH first");
        int index = _devicePorts.Count;
        var port = new MraDevicePort(index, device, new MrLink($"{Name}.p{index}-link", tagged: true));
        _devicePorts.Add(port);
        var vdsp = AddVirtualDownstreamPort(mgmt, index);
        PlugIn(mgmt, index, vdsp, port, device.BaseFunction);
        return port;
    }

    /// <summary>The VH with number <paramref name="id"/>, or null.</summary>
    public VirtualHierarchy? FindVh(int id) => (uint)id < (uint)_vhs.Count ? _vhs[id] : null;

    /// <summary>Where PF <paramref name="pfIndex"/> of the device on <paramref name="port"/> is bound, or null.</summary>
    public MrBinding? BindingOf(MraDevicePort port, int pfIndex) =>
        _bindings.TryGetValue((port, pfIndex), out var b) ? b : null;

    /// <summary>What is bound to virtual downstream port <paramref name="virtualPort"/> of <paramref name="vh"/>, or null.</summary>
    public MrBinding? BindingAt(VirtualHierarchy vh, int virtualPort)
    {
        foreach (var b in _bindings.Values) if (b.Vh == vh && b.VirtualPort == virtualPort) return b;
        return null;
    }

    /// <summary>
    /// Binds a PF to an empty virtual downstream port of a host VH: the PF is reset (it starts fresh in its
    /// new hierarchy), connected below the port, and the port reports a hot-add (Presence Detect State set,
    /// Presence Detect Changed, Data Link Layer State Changed; §6.7.3). Validation is the manager's job.
    /// </summary>
    internal MrBinding Bind(VirtualHierarchy vh, int virtualPort, MraDevicePort port, int pfIndex)
    {
        var pf = port.Device.PhysicalFunctions[pfIndex];
        pf.Reset(ResetKind.Fundamental);
        var dsp = vh.VirtualDownstreamPorts[virtualPort];
        port.Link.AssignTag(vh.Id);
        PlugIn(vh, virtualPort, dsp, port, pf);
        var b = new MrBinding(vh, virtualPort, port, pfIndex);
        _bindings[(port, pfIndex)] = b;
        Log.HotAdded(_log, pf.Name, port.Device.Name, vh.Id, virtualPort);
        return b;
    }

    /// <summary>
    /// Unbinds a PF: everything below its virtual downstream port leaves that host's hierarchy (its VFs
    /// too) and the port reports a hot-remove (presence clear, Presence Detect Changed, DLL State Changed).
    /// </summary>
    internal void Unbind(MrBinding binding)
    {
        var dsp = binding.Vh.VirtualDownstreamPorts[binding.VirtualPort];
        dsp.Disconnect();
        _portTaps[(binding.Vh, binding.VirtualPort)].DeviceLink = null;
        if (Express(dsp) is { } pcie)
        {
            pcie.SetDataLinkLayerActive(false);
            pcie.SetPresence(false);
        }
        _bindings.Remove((binding.DevicePort, binding.PfIndex));
        Log.HotRemoved(_log, binding.Function.Name, binding.DevicePort.Device.Name, binding.Vh.Id, binding.VirtualPort);
    }

    VirtualHierarchy AddVh(RootPort hostPort, int id, int ports)
    {
        var link = new MrLink($"{Name}.vh{id}-link ({hostPort.RootComplex.Name})", tagged: false);
        var usp = NewPort($"{Name}.vh{id}.usp", BridgePortKind.SwitchUpstreamPort, 0);
        var sw = hostPort.ConnectSwitch(usp);
        var vh = new VirtualHierarchy(id, hostPort, sw, link);
        _vhs.Add(vh);
        // Requests for the virtual switch's own functions cross the host link but no device link.
        hostPort.SecondaryBus.Tap = new VhLinkTap(vh, link, _tlpLog);
        sw.InternalBus.Tap = new VhLinkTap(vh, link, _tlpLog);
        for (int i = 0; i < ports; i++) AddVirtualDownstreamPort(vh, i);
        return vh;
    }

    DownstreamPort AddVirtualDownstreamPort(VirtualHierarchy vh, int index)
    {
        var dsp = vh.VirtualSwitch.AddDownstreamPort(index, 0, NewPort($"{Name}.vh{vh.Id}.vdsp{index}", BridgePortKind.SwitchDownstreamPort, index));
        dsp.BusReserve = Options.BusReserve;
        if (!vh.IsManagement)
        {
            dsp.MemoryReserve = Options.MemoryReserve;
            dsp.PrefetchableReserve = Options.PrefetchableReserve;
        }
        var tap = new VhLinkTap(vh, vh.HostLink, _tlpLog);
        dsp.SecondaryBus.Tap = tap;
        _portTaps[(vh, index)] = tap;
        return dsp;
    }

    void PlugIn(VirtualHierarchy vh, int index, DownstreamPort dsp, MraDevicePort port, PciFunction function)
    {
        dsp.ConnectDevice(function);
        var tap = _portTaps[(vh, index)];
        tap.DeviceLink = port.Link;
        tap.Tag = (byte)(port.Link.TagOf(vh.Id) ?? 0);
        if (Express(dsp) is { } pcie)
        {
            pcie.SetPresence(true);
            pcie.SetDataLinkLayerActive(true);
        }
    }

    static PciExpressCapability? Express(PciePort port) => port.Function.FindCapability<PciExpressCapability>();

    BridgeFunction NewPort(string name, BridgePortKind kind, int index)
    {
        bool downstream = kind == BridgePortKind.SwitchDownstreamPort;
        var f = new BridgeFunction(name, new FunctionIdentity
        {
            VendorId = Options.VendorId,
            DeviceId = downstream ? Options.DownstreamDeviceId : Options.UpstreamDeviceId,
            ClassCode = 0x060400,
        }, kind, _loggerFactory.CreateLogger($"PcieVirt.Port.{name}"));
        f.AddCapability(new PciExpressCapability(new PciExpressOptions
        {
            PortType = downstream ? PciePortType.SwitchDownstreamPort : PciePortType.SwitchUpstreamPort,
            MaxLinkWidth = Options.LinkWidth,
            LinkWidth = downstream ? 0 : Options.LinkWidth,
            PortNumber = (byte)index,
            DataLinkLayerActiveReporting = downstream ? true : null,
            // A virtual downstream port is a hot-plug slot the manager fills and empties (§6.7).
            SlotImplemented = downstream,
            PhysicalSlotNumber = downstream ? index + 1 : 0,
            HotPlugCapable = downstream,
            HotPlugSurprise = downstream,
            CardPresent = false,
            // A PF with many VFs needs ARI routing below its port (§6.13).
            AriForwardingSupported = downstream,
        }));
        f.Seal();
        return f;
    }

    public override string ToString() => $"MRA switch {Name} ({_vhs.Count} VHs, {_devicePorts.Count} device ports)";
}

/// <summary>
/// Counts and traces the TLPs crossing one virtual downstream port's link (or the virtual switch's own
/// buses) in one VH: each crosses the host link untagged, is carried inside the switch under the VH's
/// internal number, and — when the port is bound to a device — crosses the device link with that
/// link's tag in an MR-IOV prefix.
/// </summary>
internal sealed class VhLinkTap(VirtualHierarchy vh, MrLink hostLink, ILogger tlpLog) : ILinkTap
{
    public MrLink? DeviceLink { get; set; }
    public byte Tag { get; set; }

    public void Config(bool write, Bdf target, CompletionStatus status) => Count(write ? MrTlpKind.CfgWr : MrTlpKind.CfgRd, "down", default, target);

    public void Upstream(bool write, Bdf requester, ulong address, int length) =>
        Count(!write ? MrTlpKind.MRd : InterruptController.IsMsiAddress(address) ? MrTlpKind.Msi : MrTlpKind.MWr, "up", requester, default);

    void Count(MrTlpKind kind, string direction, Bdf requester, Bdf target)
    {
        hostLink.Add(0, kind);
        DeviceLink?.Add(Tag, kind);
        if (!tlpLog.IsEnabled(LogLevel.Trace)) return;
        if (DeviceLink is { } link)
            Log.TaggedTlp(tlpLog, kind, direction, direction == "up" ? requester.ToString() : vh.RootComplex.Name,
                direction == "up" ? vh.RootComplex.Name : target.ToString(), hostLink.Name, vh.Id, link.Name, new MrIovPrefix(Tag));
        else
            Log.SwitchTlp(tlpLog, kind, direction, target, hostLink.Name, vh.Id);
    }
}
