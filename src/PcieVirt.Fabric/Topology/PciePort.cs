using PcieVirt.Pci.Functions;

namespace PcieVirt.Fabric;

/// <summary>
/// A downstream-facing PCI Express port (root port or switch downstream port): a Type 1 function
/// on its primary bus with a link below it, to which one switch or one device may be connected.
/// </summary>
public abstract class PciePort
{
    int _busReserve;

    private protected PciePort(FunctionSlot slot)
    {
        Slot = slot;
        slot.Port = this;
    }

    internal FunctionSlot Slot { get; }

    /// <summary>The port's Type 1 function.</summary>
    public BridgeFunction Function => Slot.Bridge!;
    public RootComplex RootComplex => Slot.Bus.RootComplex;
    /// <summary>The bus the port sits on (its primary side).</summary>
    public PciBus PrimaryBus => Slot.Bus;
    /// <summary>The link below the port (its secondary bus).</summary>
    public PciBus SecondaryBus => Slot.ChildBus!;

    /// <summary>
    /// Extra bus numbers firmware leaves below this port beyond what it finds (hot-plug): the
    /// Subordinate Bus Number becomes at least Secondary + BusReserve.
    /// </summary>
    public int BusReserve
    {
        get => _busReserve;
        set => _busReserve = (uint)value <= 255 ? value : throw new ArgumentOutOfRangeException(nameof(value), "0..255");
    }

    /// <summary>
    /// Bytes of non-prefetchable memory window firmware reserves below this port beyond what it finds
    /// (hot-plug: a device added later gets its BARs from here without moving anything else). 0 = none.
    /// </summary>
    public ulong MemoryReserve { get; set; }

    /// <summary>Bytes of prefetchable memory window firmware reserves below this port (hot-plug). 0 = none.</summary>
    public ulong PrefetchableReserve { get; set; }

    /// <summary>The switch connected below, if any.</summary>
    public PcieSwitch? Switch { get; private set; }
    /// <summary>The device connected below, if any.</summary>
    public PcieDevice? Device { get; private set; }
    public bool IsOccupied => Switch != null || Device != null;

    /// <summary>Connects a switch whose upstream port is <paramref name="upstreamPort"/> (placed at 00.0 of the link).</summary>
    public PcieSwitch ConnectSwitch(BridgeFunction upstreamPort)
    {
        EnsureFree();
        if (upstreamPort.PortKind != BridgePortKind.SwitchUpstreamPort)
            throw new ArgumentException($"{upstreamPort.Name}: a switch's upstream port must be a SwitchUpstreamPort bridge, not {upstreamPort.PortKind}");
        var slot = SecondaryBus.AttachBridge(new BusPlacement(0, 0), upstreamPort, PciBusKind.SwitchInternal);
        Switch = new PcieSwitch(this, slot);
        return Switch;
    }

    /// <summary>
    /// Connects an endpoint device: function i at function number i of device 0. Up to 8 functions
    /// use the traditional device/function numbering; 9 to 256 functions use ARI numbering (the
    /// 8-bit function number, §6.13), which software reaches once the port's ARI Forwarding is enabled.
    /// </summary>
    public PcieDevice ConnectDevice(params PciFunction[] functions)
    {
        EnsureFree();
        if (functions.Length is 0 or > 256)
            throw new ArgumentException("a device has 1 to 256 functions (more than 8 need ARI)");
        for (int i = 0; i < functions.Length; i++)
        {
            if (functions[i].IsBridge)
                throw new ArgumentException($"{functions[i].Name}: connect a switch with ConnectSwitch; ConnectDevice takes Type 0 functions");
            if (!functions[i].IsSealed)
                throw new ArgumentException($"{functions[i].Name}: call Seal() before attaching the function to the fabric");
            if (RootComplex.IsRegistered(functions[i]) || Array.IndexOf(functions, functions[i], 0, i) >= 0)
                throw new ArgumentException($"{functions[i].Name} is already part of a fabric");
        }
        for (int i = 0; i < functions.Length; i++)
            SecondaryBus.Attach(new BusPlacement(0, i), functions[i]);
        Device = new PcieDevice(this, functions);
        return Device;
    }

    /// <summary>Removes whatever is connected below (surprise removal: everything below leaves the fabric).</summary>
    public void Disconnect()
    {
        foreach (var s in SecondaryBus.Members) SecondaryBus.Detach(s);
        Switch = null;
        Device = null;
    }

    void EnsureFree()
    {
        if (IsOccupied) throw new InvalidOperationException($"{Function.Name}: the link already has a {(Switch != null ? "switch" : "device")} connected");
    }

    public override string ToString() => $"{GetType().Name} {Function}";
}

/// <summary>A root port: a downstream port of the root complex, on the root bus.</summary>
public sealed class RootPort : PciePort
{
    internal RootPort(FunctionSlot slot) : base(slot) { }
}

/// <summary>A switch downstream port, on the switch's internal bus.</summary>
public sealed class DownstreamPort : PciePort
{
    internal DownstreamPort(PcieSwitch parent, FunctionSlot slot) : base(slot) => ParentSwitch = parent;

    /// <summary>The switch this port belongs to.</summary>
    public PcieSwitch ParentSwitch { get; }
}

/// <summary>
/// A PCI Express switch: one upstream port on the link above, an internal bus, and downstream ports
/// on that bus (each a <see cref="DownstreamPort"/> with its own link).
/// </summary>
public sealed class PcieSwitch
{
    readonly List<DownstreamPort> _downstream = [];

    internal PcieSwitch(PciePort parent, FunctionSlot upstream)
    {
        ParentPort = parent;
        UpstreamSlot = upstream;
    }

    internal FunctionSlot UpstreamSlot { get; }

    /// <summary>The port whose link the switch is connected to.</summary>
    public PciePort ParentPort { get; }
    /// <summary>The switch's upstream port function.</summary>
    public BridgeFunction UpstreamPort => UpstreamSlot.Bridge!;
    /// <summary>The bus behind the upstream port, holding the downstream ports.</summary>
    public PciBus InternalBus => UpstreamSlot.ChildBus!;
    public IReadOnlyList<DownstreamPort> DownstreamPorts => _downstream;

    /// <summary>Adds a downstream port at <paramref name="device"/>.<paramref name="function"/> of the internal bus.</summary>
    public DownstreamPort AddDownstreamPort(int device, int function, BridgeFunction bridge)
    {
        if (bridge.PortKind != BridgePortKind.SwitchDownstreamPort)
            throw new ArgumentException($"{bridge.Name}: a switch downstream port must be a SwitchDownstreamPort bridge, not {bridge.PortKind}");
        var slot = InternalBus.AttachBridge(BusPlacement.At(device, function), bridge, PciBusKind.Link);
        var port = new DownstreamPort(this, slot);
        _downstream.Add(port);
        return port;
    }

    public override string ToString() => $"switch {UpstreamPort}";
}

/// <summary>An endpoint device connected to a port's link: its functions at device 0.</summary>
public sealed class PcieDevice
{
    internal PcieDevice(PciePort port, PciFunction[] functions)
    {
        Port = port;
        Functions = functions;
    }

    public PciePort Port { get; }
    /// <summary>The functions in function-number order.</summary>
    public IReadOnlyList<PciFunction> Functions { get; }
    /// <summary>True when the device has more than 8 functions and so relies on ARI numbering.</summary>
    public bool UsesAriNumbering => Functions.Count > 8;
}
